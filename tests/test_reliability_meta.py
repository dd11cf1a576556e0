"""Issue 17: meta-learning divergence is detected (written before the fix; later moved to test_meta)."""

import math

import pytest
import torch

from metalearn_edu.config import ModelConfig
from metalearn_edu.episodes import Episode, SinusoidTasks
from metalearn_edu.meta import (InnerLoopDivergedError, TextClassifierLoss, adapt, functional_loss,
                                learnable_inner_lrs, maml_step, meta_train, reptile_step, select_params,
                                sinusoid_mlp)
from metalearn_edu.model import BertEncoder


def _sine():
    net = sinusoid_mlp(seed=0)
    return net, functional_loss(net, "mse"), dict(net.named_parameters()), SinusoidTasks(seed=0)


def test_maml_step_detects_divergence_with_one_inner_step():
    net, loss_fn, params, tasks = _sine()
    with pytest.raises(InnerLoopDivergedError, match="query loss"):
        maml_step(loss_fn, params, tasks.batch(0, 4, k_shot=1), inner_lr=1e3, inner_steps=1)


def test_meta_train_stops_on_divergence():
    net, loss_fn, _, tasks = _sine()
    with pytest.raises(InnerLoopDivergedError, match="inner_lr=10000"):
        meta_train(net, loss_fn, lambda i: tasks.episode(i, 10), steps=5, meta_batch_size=2, inner_lr=1e4)


def test_reptile_step_detects_divergence():
    net, loss_fn, params, tasks = _sine()
    with pytest.raises(InnerLoopDivergedError):
        reptile_step(loss_fn, params, tasks.batch(0, 2, k_shot=5), inner_lr=1e3, inner_steps=1, outer_lr=0.1)


def test_cross_entropy_divergence_is_detected():
    """A bounded-below loss never reaches 1e6 × its start; a large inner lr must still be caught."""
    cfg = ModelConfig(vocab_size=60, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=16, dropout=0.0,
                      attn_dropout=0.0)
    torch.manual_seed(0)
    model = BertEncoder(cfg)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(5, 60, (6, 8), generator=g)
    y = torch.arange(3).repeat_interleave(2)
    episode = Episode(x, y, x.clone(), y.clone(), torch.ones_like(x), torch.ones_like(x), classes=["a", "b", "c"])
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
    with pytest.raises(InnerLoopDivergedError):
        maml_step(loss_fn, dict(model.named_parameters()), [episode], 1e5, 1, first_order=True,
                  adapt_names=select_params(model, "top1"))


@pytest.mark.parametrize("bad", [float("nan"), -0.5, float("inf")])
def test_dict_inner_lrs_are_validated_like_floats(bad):
    net, loss_fn, params, tasks = _sine()
    rates = {n: 0.01 for n in params}
    rates["0.bias"] = torch.tensor(bad)
    with pytest.raises(ValueError, match=r"inner_lr\['0.bias'\]"):
        adapt(loss_fn, params, tasks.episode(0, 5).support, rates, 1)


def test_learnable_inner_lrs_refuse_a_negative_start():
    _, _, params, _ = _sine()
    with pytest.raises(ValueError, match="init=-0.5"):
        learnable_inner_lrs(params, init=-0.5)
    with pytest.raises(ValueError, match="init=nan"):
        learnable_inner_lrs(params, init=math.nan)
