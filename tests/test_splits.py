"""Tests of `metalearn_edu.data.splits`: document-level splits, duplicate grouping, JSON manifests."""

from __future__ import annotations

import collections

import pytest

from metalearn_edu.data import Document, load_splits, make_splits, save_splits

from helpers import BBC_TOPIC_COUNTS


def test_splits_are_disjoint_complete_and_stratified(bbc: list[Document]) -> None:
    splits = make_splits(bbc, seed=0)
    ids = [set(splits[name]) for name in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set.union(*ids) == {doc.doc_id for doc in bbc}
    assert sum(len(s) for s in splits.values()) == len(bbc)  # no duplicates inside a split
    label_of = {doc.doc_id: doc.label for doc in bbc}
    for name, fraction in zip(("train", "val", "test"), (0.8, 0.1, 0.1)):
        counts = collections.Counter(label_of[i] for i in splits[name])
        for label, total in BBC_TOPIC_COUNTS.items():
            assert abs(counts[label] - fraction * total) <= 1, (name, label, counts[label])


def test_splits_depend_only_on_the_seed(bbc: list[Document]) -> None:
    assert make_splits(bbc, seed=0) == make_splits(list(reversed(bbc)), seed=0)
    assert make_splits(bbc, seed=1) != make_splits(bbc, seed=0)


@pytest.mark.parametrize(
    "fractions", [(0.8, 0.2), (0.5, 0.5, 0.5), (1.2, -0.1, -0.1), (0.8, 0.1, float("nan")), "abc", (True, 0, 0)]
)
def test_make_splits_rejects_bad_fractions(bbc: list[Document], fractions) -> None:
    with pytest.raises(ValueError, match="fractions"):
        make_splits(bbc[:20], fractions=fractions)


def test_make_splits_unlabelled_duplicate_ids_and_empty() -> None:
    docs = [Document(f"d{i}", f"text number {i}") for i in range(10)]
    splits = make_splits(docs, fractions=(0.6, 0.2, 0.2), seed=3)
    assert {k: len(v) for k, v in splits.items()} == {"train": 6, "val": 2, "test": 2}
    assert make_splits(docs, fractions=(1, 0, 0))["train"] == sorted(d.doc_id for d in docs)
    with pytest.raises(ValueError, match="unique"):
        make_splits(docs + [Document("d3", "again")])
    with pytest.raises(ValueError, match="empty"):
        make_splits([])
    with pytest.raises(ValueError, match="seed"):
        make_splits(docs, seed=1.5)


def test_make_splits_keeps_duplicates_together() -> None:
    docs = [Document(f"d{i:02d}", f"story {i}", label="x", title=f"headline {i}") for i in range(40)]
    docs += [Document("copy_of_d05", "  Story 5 ", label="x"),  # same text up to case and spaces
             Document("update_of_d07", "story 7, updated", label="x", title="HEADLINE 7")]  # same title
    for seed in range(10):
        where = {i: name for name, ids in make_splits(docs, seed=seed).items() for i in ids}
        assert where["copy_of_d05"] == where["d05"] and where["update_of_d07"] == where["d07"]
    separated = [
        seed for seed in range(10)
        if len({name for name, ids in make_splits(docs, seed=seed, group_duplicates=False).items()
                for i in ids if i in ("d05", "copy_of_d05")}) > 1
    ]
    assert separated  # without grouping, some seed splits the pair


def test_shipped_splits_have_no_cross_split_duplicates(bbc: list[Document]) -> None:
    # BBC News has 98 byte-identical duplicate articles, 3 more that differ only in case or
    # paragraph breaks, and ~30 re-edited versions of a story under the same headline.
    where = {i: name for name, ids in load_splits().items() for i in ids}
    seen: dict[str, str] = {}
    n_duplicates = 0
    for doc in bbc:
        for key in ("text:" + " ".join(doc.text.split()).casefold(), "title:" + doc.title.casefold()):
            if key in seen:
                n_duplicates += key.startswith("text:")
                assert where[seen[key]] == where[doc.doc_id], (seen[key], doc.doc_id)
            else:
                seen[key] = doc.doc_id
    assert n_duplicates == 101


def test_save_and_load_splits_roundtrip(tmp_path, bbc: list[Document]) -> None:
    splits = make_splits(bbc[:50], seed=0)
    first = save_splits(splits, tmp_path / "a" / "splits.json", corpus="bbc", seed=0)
    second = save_splits(splits, tmp_path / "b.json", corpus="bbc", seed=0)
    assert first.read_bytes() == second.read_bytes()
    assert load_splits(first) == splits
    with pytest.raises(ValueError, match="share"):
        save_splits({"train": ["x"], "val": ["x"], "test": []}, tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError, match="build_data.py"):
        load_splits(tmp_path / "missing.json")
