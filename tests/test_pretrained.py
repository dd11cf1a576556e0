"""Tests of `metalearn_edu.pretrained`: export, load, fill-mask (the shipped model: test_shipped_checkpoint.py)."""

import pytest
import torch

from metalearn_edu.config import model_config
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrained import export_model, fill_mask, load_pretrained


def test_export_load_and_fill_mask(tmp_path, course_tokenizer):
    tok = course_tokenizer
    torch.manual_seed(0)
    model = BertEncoder(model_config("nano", vocab_size=len(tok), max_len=64)).eval()
    export_model(model, tmp_path / "m", metrics={"loss": 1.0}, history={"step": [1]})
    loaded, tok2, info = load_pretrained(tmp_path / "m")
    assert info["metrics"] == {"loss": 1.0} and tok2.vocab_size == tok.vocab_size
    for (n, p), q in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(p, q), n
    guesses = fill_mask(loaded, tok2, "the [MASK] said on [MASK].", top_k=3)
    assert len(guesses) == 2 and all(len(g) == 3 for g in guesses)
    probs = [p for _, p in guesses[0]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    with pytest.raises(ValueError, match=r"no \[MASK\] token"):
        fill_mask(loaded, tok2, "no mask here")
    with pytest.raises(ValueError, match="top_k=0"):
        fill_mask(loaded, tok2, "the [MASK] said", top_k=0)
    with pytest.raises(FileNotFoundError, match="shipped name"):
        load_pretrained(tmp_path / "missing")
