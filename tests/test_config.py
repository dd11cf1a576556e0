"""Tests of `metalearn_edu.config`: model sizes, presets and their validation."""

import pytest

from metalearn_edu.config import PRESETS, ModelConfig, get_preset, model_config


def test_presets():
    assert set(PRESETS) == {"ci", "cpu", "gpu"}
    assert get_preset("ci").name == "ci"
    cfg = model_config(get_preset("ci").model_size, vocab_size=500)
    assert cfg.vocab_size == 500


def test_preset_from_environment(monkeypatch):
    monkeypatch.setenv("METALEARN_PRESET", "ci")
    assert get_preset().name == "ci"
    monkeypatch.setenv("METALEARN_PRESET", "huge")
    with pytest.raises(ValueError, match=r"unknown preset 'huge'.*\$METALEARN_PRESET.*'ci', 'cpu', 'gpu'"):
        get_preset()


# ------------------------------------------------------------------ bad input
def test_unknown_preset_and_size():
    with pytest.raises(ValueError, match="unknown preset 'fast'"):
        get_preset("fast")
    with pytest.raises(ValueError, match="unknown model size 'huge'"):
        model_config("huge")


def test_d_model_not_divisible_by_heads():
    with pytest.raises(ValueError, match=r"d_model=50 is not divisible by n_heads=3.*choose n_heads from \[1, 2, 5, 10, 25, 50\]"):
        ModelConfig(d_model=50, n_heads=3)


@pytest.mark.parametrize("field,value", [("n_layers", 0), ("vocab_size", -1), ("d_ff", 2.5)])
def test_non_positive_sizes(field, value):
    with pytest.raises(ValueError, match=f"{field}="):
        ModelConfig(**{field: value})


def test_dropout_out_of_range():
    with pytest.raises(ValueError, match=r"dropout=1.5.*\[0, 1\)"):
        ModelConfig(dropout=1.5)
