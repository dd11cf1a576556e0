"""Tests of `metalearn_edu.data.loaders`: local files and folders, Hugging Face `datasets` (local files only).

Nothing here touches the network: hub access is switched off (conftest.py).
"""

from __future__ import annotations

import json
import sys
import warnings

import pytest

from metalearn_edu.data import load_hf_dataset, load_local


# ---------------------------------------------------------------------------------------
# Local files
# ---------------------------------------------------------------------------------------


def test_load_local_txt(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("First document,\nstill the first.\n\n\n  Second   document.  \n", encoding="utf-8")
    docs = load_local(path)
    assert [d.text for d in docs] == ["First document,\nstill the first.", "Second document."]
    assert [d.doc_id for d in docs] == ["notes/0", "notes/1"] and docs[0].label is None


def test_load_local_csv(tmp_path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('body,stars\n"Great, really great.",5\n"Awful ""film"".",1\n', encoding="utf-8")
    docs = load_local(path, text_column="body", label_column="stars")
    assert [(d.text, d.label) for d in docs] == [("Great, really great.", "5"), ('Awful "film".', "1")]
    unlabelled = load_local(path, text_column="body")  # the default "label" column is optional
    assert [d.label for d in unlabelled] == [None, None]
    with pytest.raises(ValueError, match=r"text_column='text'.*available columns: \['body', 'stars'\]"):
        load_local(path)
    with pytest.raises(ValueError, match=r"label_column='topic'.*\['body', 'stars'\]"):
        load_local(path, text_column="body", label_column="topic")


def test_load_local_jsonl(tmp_path) -> None:
    path = tmp_path / "news.jsonl"
    rows = [{"text": "Shares rose.", "label": "business"}, {"text": "A goal!", "label": "sport"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    docs = load_local(path)
    assert [(d.doc_id, d.text, d.label) for d in docs] == [
        ("news/0", "Shares rose.", "business"), ("news/1", "A goal!", "sport")]
    path.write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        load_local(path)
    path.write_text('{"body": "ok"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"text_column='text'.*available columns: \['body'\]"):
        load_local(path)


def test_load_local_folder_uses_subfolders_as_labels(tmp_path) -> None:
    for label, name, text in [("sport", "b", "Match report."), ("sport", "a", "Goal!"), ("tech", "a", "New phone.")]:
        (tmp_path / label).mkdir(exist_ok=True)
        (tmp_path / label / f"{name}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "tech" / "latin.txt").write_bytes("Costs \xa3600.".encode("latin-1"))
    docs = load_local(tmp_path)
    assert [(d.doc_id, d.label) for d in docs] == [
        ("sport/a", "sport"), ("sport/b", "sport"), ("tech/a", "tech"), ("tech/latin", "tech")]
    assert docs[-1].text == "Costs £600."


def test_load_local_errors_and_empty_documents(tmp_path) -> None:
    bad = tmp_path / "data.xlsx"
    bad.write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unsupported extension '\.xlsx'.*\.txt.*\.csv.*\.jsonl"):
        load_local(bad)
    with pytest.raises(FileNotFoundError):
        load_local(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        load_local(empty)
    (tmp_path / "blank.txt").write_text(" \n\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        load_local(tmp_path / "blank.txt")
    gaps = tmp_path / "gaps.csv"
    gaps.write_text("text,label\nfine,a\n   ,b\n,c\nalso fine,d\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="skipped 2 empty"):
        docs = load_local(gaps)
    assert [d.text for d in docs] == ["fine", "also fine"]
    only_gaps = tmp_path / "only_gaps.csv"
    only_gaps.write_text("text\n  \n", encoding="utf-8")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no documents"):
        load_local(only_gaps)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ValueError, match="without .txt files"):
        load_local(tmp_path / "empty_dir")


def test_text_files_in_other_encodings(tmp_path):
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Café society.\n\nSecond text.".encode("utf-16"))
    with pytest.warns(UserWarning, match="read it as utf-16, recognised by its byte-order mark"):
        assert [d.text for d in load_local(utf16)] == ["Café society.", "Second text."]
    no_bom = tmp_path / "utf16le.txt"
    no_bom.write_bytes("Plain ASCII words, twice over.".encode("utf-16-le"))
    with pytest.warns(UserWarning, match="utf-16-le, recognised by its zero bytes"):
        assert load_local(no_bom)[0].text == "Plain ASCII words, twice over."
    utf8 = tmp_path / "plain.txt"
    utf8.write_bytes("Café, in UTF-8.".encode("utf-8-sig"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # UTF-8, with or without a BOM: nothing to say
        assert load_local(utf8)[0].text == "Café, in UTF-8."
    cp1252 = tmp_path / "quotes.txt"
    cp1252.write_bytes("He said \u201cno\u201d \u2013 twice.".encode("cp1252"))
    with pytest.warns(UserWarning, match="cp1252"):
        assert load_local(cp1252)[0].text == "He said \u201cno\u201d \u2013 twice."
    binary = tmp_path / "model.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ValueError, match="model.txt"):
        load_local(binary)


# ---------------------------------------------------------------------------------------
# Hugging Face datasets (local files only)
# ---------------------------------------------------------------------------------------


def test_load_hf_dataset_from_local_jsonl_and_csv(tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps({"text": t, "label": l}) for t, l in [("Shares rose.", "business"), ("A goal!", "sport")]),
        encoding="utf-8",
    )
    docs = load_hf_dataset("json", data_files=str(jsonl), cache_dir=str(tmp_path / "cache"))
    assert [(d.doc_id, d.text, d.label) for d in docs] == [
        ("train/0", "Shares rose.", "business"), ("train/1", "A goal!", "sport")]

    csv_path = tmp_path / "x.csv"
    csv_path.write_text("sentence,label\nGreat film.,1\nDull film.,0\n", encoding="utf-8")
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    docs = load_hf_dataset("csv", data_files=str(csv_path), text_column="sentence", features=features,
                           cache_dir=str(tmp_path / "cache"))
    assert [(d.text, d.label) for d in docs] == [("Great film.", "positive"), ("Dull film.", "negative")]
    with pytest.raises(ValueError, match=r"text_column='text'.*\['sentence', 'label'\]"):
        load_hf_dataset("csv", data_files=str(csv_path), cache_dir=str(tmp_path / "cache"))


def test_load_hf_dataset_without_datasets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e \.\[datasets\]"):
        load_hf_dataset("ag_news")
