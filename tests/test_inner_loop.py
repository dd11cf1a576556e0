"""Tests of `metalearn_edu.meta.inner_loop`: `adapt`, the divergence rule, inner learning rates, `select_params`."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import (
    EPISODE_HEAD_NAMES,
    InnerLoopDivergedError,
    adapt,
    functional_loss,
    learnable_inner_lrs,
    select_params,
    sinusoid_mlp,
)

from helpers import sine_setup


# ---------------------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------------------
def test_divergence_names_inner_lr_and_step():
    net = sinusoid_mlp(seed=0)
    episode = SinusoidTasks(seed=0).episode(0, k_shot=10)
    with pytest.raises(InnerLoopDivergedError, match=r"after \d+ of 10 inner steps.*inner_lr=50"):
        adapt(functional_loss(net, "mse"), dict(net.named_parameters()), episode.support, 50.0, 10)
    with pytest.raises(InnerLoopDivergedError, match="after 0 of 3 inner steps.*nan.*inner_lr=0.1"):
        adapt(lambda p, d: p["0.bias"].sum() * float("nan"), dict(net.named_parameters()), episode.support, 0.1, 3)
    assert issubclass(InnerLoopDivergedError, ValueError)


# ---------------------------------------------------------------------------------------
# Inner learning rates
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), -0.5, float("inf")])
def test_dict_inner_lrs_are_validated_like_floats(bad):
    net, loss_fn, params, tasks = sine_setup()
    rates = {n: 0.01 for n in params}
    rates["0.bias"] = torch.tensor(bad)
    with pytest.raises(ValueError, match=r"inner_lr\['0.bias'\]"):
        adapt(loss_fn, params, tasks.episode(0, 5).support, rates, 1)


def test_learnable_inner_lrs_refuse_a_negative_start():
    _, _, params, _ = sine_setup()
    with pytest.raises(ValueError, match="init=-0.5"):
        learnable_inner_lrs(params, init=-0.5)
    with pytest.raises(ValueError, match="init=nan"):
        learnable_inner_lrs(params, init=math.nan)


# ---------------------------------------------------------------------------------------
# Which parameters adapt
# ---------------------------------------------------------------------------------------
def test_adapt_names_freeze_the_rest():
    net = sinusoid_mlp(seed=0)
    params = dict(net.named_parameters())
    head = select_params(net, "head")
    assert head == ["4.weight", "4.bias"] and select_params(net, "top2") == ["2.weight", "2.bias"] + head
    traj = adapt(functional_loss(net, "mse"), params, SinusoidTasks().episode(0, 10).support, 0.01, 3, adapt_names=head)
    assert len(traj.params) == 4 and len(traj.support_losses) == 4
    assert all(traj.adapted[n] is params[n] for n in params if n not in head)
    assert all(not torch.equal(traj.adapted[n], params[n]) for n in head)


def test_select_params_on_encoder(tiny_encoder):
    model = tiny_encoder()
    all_names = select_params(model, "all")
    assert all_names[-2:] == list(EPISODE_HEAD_NAMES) and "embeddings.tok_emb.weight" in all_names
    assert not any(n.startswith(("mlm_head.", "cls_head.")) for n in all_names)
    top1 = select_params(model, "top1")
    assert top1[:-2] and all(n.startswith("blocks.1.") for n in top1[:-2])
    assert select_params(model, "head") == list(EPISODE_HEAD_NAMES)
    cls_names = [n for n, _ in model.named_parameters() if n.startswith("cls_head.")]
    assert select_params(model, "head", head_names=cls_names) == cls_names


def test_adapt_moves_under_no_grad_with_parameters_that_require_grad():
    """Evaluation code often runs under torch.no_grad() with dict(model.named_parameters()); the inner
    loop must still take its steps (it differentiates the support loss itself)."""
    torch.manual_seed(0)
    net = nn.Linear(2, 1)
    theta = dict(net.named_parameters())
    data = (torch.randn(8, 2), torch.randn(8, 1))
    reference = adapt(functional_loss(net, "mse"), {n: p.detach() for n, p in theta.items()}, data, 0.1, 2)
    with torch.no_grad():
        trajectory = adapt(functional_loss(net, "mse"), theta, data, 0.1, 2)
    assert trajectory.support_losses[-1] < trajectory.support_losses[0]
    for n in theta:
        assert torch.allclose(trajectory.adapted[n], reference.adapted[n])
