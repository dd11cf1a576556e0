"""Tests of `metalearn_edu.meta.sinusoid`: the sine regressor and the shipped networks' file format."""

from __future__ import annotations

import pytest
import torch

from metalearn_edu.meta.sinusoid import load_sinusoid_models, save_sinusoid_model, sinusoid_mlp


def test_sinusoid_mlp_is_seeded_without_touching_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b, c = sinusoid_mlp(seed=0), sinusoid_mlp(seed=0), sinusoid_mlp(seed=1)
    assert torch.equal(torch.rand(3), expected)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a[0].weight, c[0].weight)
    assert [m.out_features for m in a if isinstance(m, torch.nn.Linear)] == [40, 40, 1]


def test_saved_models_load_back_in_eval_mode_with_their_learning_rate(tmp_path):
    net = sinusoid_mlp((1, 8, 1), seed=3)
    path = save_sinusoid_model(net, tmp_path, "maml", test_lr=0.02, steps=7)
    assert path == tmp_path / "maml.pt"
    models = load_sinusoid_models(tmp_path)
    assert set(models) == {"maml"}
    loaded, lr = models["maml"]
    assert lr == 0.02 and not loaded.training
    assert [m.out_features for m in loaded if isinstance(m, torch.nn.Linear)] == [8, 1]
    for (n, p), q in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(p, q), n


def test_missing_sinusoid_models_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="--save-models"):
        load_sinusoid_models(tmp_path)
