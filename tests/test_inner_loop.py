"""Tests of `metalearn_edu.meta.inner_loop`: `adapt`, the divergence rule, inner learning rates, `select_params`."""

from __future__ import annotations

import dataclasses
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
    has_diverged,
    learnable_inner_lrs,
    select_params,
    sinusoid_mlp,
)
from metalearn_edu.model import BertEncoder

from helpers import TINY_CONFIG, augment, flat, grad_and_hessian, linear, linreg_episode, sine_setup


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


def test_divergence_needs_both_the_ratio_and_the_margin_strictly():
    assert not has_diverged(200.0, 2.0)  # exactly 100× the start (and 198 above it)
    assert has_diverged(200.5, 2.0)
    assert not has_diverged(101.0, 1.0)  # 101× the start, but exactly 100 above it
    assert has_diverged(101.5, 1.0)
    assert not has_diverged(150.0, 2.0)  # 148 above the start, but only 75×
    assert not has_diverged(12.0, 0.001)  # 12,000×, but only 12 above
    assert has_diverged(80.0, -50.0)  # a negative start (a log-density) leaves the margin alone
    assert not has_diverged(40.0, -50.0)
    assert has_diverged(float("inf"), 1.0) and has_diverged(float("nan"), None)
    assert not has_diverged(1e30, None)  # without a start, only a non-finite loss counts


def test_divergence_with_per_parameter_rates_raises_the_divergence_error():
    net, loss_fn, params, tasks = sine_setup()
    rates = {n: 50.0 for n in params}
    rates["0.weight"] = torch.full_like(params["0.weight"], 50.0)  # a rate per weight
    with pytest.raises(InnerLoopDivergedError):
        adapt(loss_fn, params, tasks.episode(0, 10).support, rates, 10)


def test_a_loss_that_is_not_a_scalar_tensor_is_refused():
    net, loss_fn, params, tasks = sine_setup()
    support = tasks.episode(0, 5).support
    for bad in (lambda p, d: loss_fn(p, d).reshape(1).repeat(2), lambda p, d: loss_fn(p, d).item()):
        with pytest.raises(ValueError, match="^loss_fn"):
            adapt(bad, params, support, 0.01, 1)
    trajectory = adapt(lambda p, d: loss_fn(p, d).reshape(1, 1), params, support, 0.01, 1)  # one element is fine
    assert trajectory.support_losses[1] < trajectory.support_losses[0]


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


@pytest.mark.parametrize("bad", [float("nan"), -0.5, float("inf")])
def test_a_rate_per_weight_is_validated_element_by_element(bad):
    net, loss_fn, params, tasks = sine_setup()
    rates = {n: 0.01 for n in params}
    rates["0.bias"] = torch.full_like(params["0.bias"], 0.01)
    rates["0.bias"][3] = bad  # one bad element among 40
    with pytest.raises(ValueError, match=r"^inner_lr\['0.bias'\]"):
        adapt(loss_fn, params, tasks.episode(0, 5).support, rates, 1)


def test_rates_per_weight_scale_each_weights_step():
    # two weights (one frozen by a zero rate) and a bias: φ = θ − α ⊙ ∇L, element by element
    net, ep = linear(d=2), linreg_episode(4, d=2)
    params = dict(net.named_parameters())
    rates = {"weight": torch.tensor([[0.1, 0.0]], dtype=torch.float64), "bias": 0.05}
    theta = flat(params).detach()
    expected = theta - torch.tensor([[0.1], [0.0], [0.05]], dtype=theta.dtype) * grad_and_hessian(
        theta, ep.support_x, ep.support_y)[0]
    adapted = adapt(functional_loss(net, "mse"), params, ep.support, rates, 1).adapted
    assert torch.allclose(flat(adapted).detach(), expected, atol=1e-12)
    assert adapted["weight"][0, 1].item() == params["weight"][0, 1].item()  # the zero rate froze it


def test_learnable_inner_lrs_are_leaves_of_the_parameters_dtype_one_per_tensor_or_weight():
    params = dict(linear().named_parameters())  # float64
    rates = learnable_inner_lrs(params)
    assert list(rates) == ["weight", "bias"]
    for rate in rates.values():
        assert rate.shape == () and rate.item() == 0.01 and rate.dtype == torch.float64
        assert rate.requires_grad and rate.is_leaf
    per_weight = learnable_inner_lrs(params, init=0.3, per_element=True)
    assert all(per_weight[n].shape == params[n].shape and bool((per_weight[n] == 0.3).all()) for n in params)
    assert list(learnable_inner_lrs(params, adapt_names=["bias"])) == ["bias"]


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


def test_select_params_on_an_mlp_counts_its_layers_and_adds_head_names_once():
    net = sinusoid_mlp(seed=0)
    names = [n for n, _ in net.named_parameters()]
    assert select_params(net) == names and select_params(net, "top3") == names  # "all" is the default
    assert select_params(net, "top1", head_names=["0.bias", "4.bias"]) == ["4.weight", "4.bias", "0.bias"]
    assert select_params(nn.Linear(2, 1), "head") == ["weight", "bias"]  # the module itself owns them
    for bad in ("top4", "top0", "tail", 3):
        with pytest.raises(ValueError, match="^which="):
            select_params(net, bad)


def test_select_params_top_k_of_a_pre_ln_encoder_takes_its_final_norm():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertEncoder(dataclasses.replace(TINY_CONFIG, pre_ln=True), attention_impl="explicit")
    names = [n for n, _ in model.named_parameters()]
    final_norm = [n for n in names if n.startswith("final_norm.")]
    assert final_norm and TINY_CONFIG.n_layers == 2
    top2 = select_params(model, "top2")
    assert top2 == [n for n in names if n.startswith(("blocks.", "final_norm."))] + list(EPISODE_HEAD_NAMES)
    assert select_params(model, "top1")[-4:] == final_norm + list(EPISODE_HEAD_NAMES)
    with pytest.raises(ValueError, match="^which="):
        select_params(model, "top3")


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


# ---------------------------------------------------------------------------------------
# adapt's arguments and its second-order default
# ---------------------------------------------------------------------------------------
def test_adapt_is_second_order_by_default():
    # linear regression: φ_K = θ − α Σ_k ∇L(φ_k) with a constant Hessian H, so dφ_K/dθ = (I − αH)^K and
    # the gradient of the query loss at φ_K through the loop is ((I − αH)^K)ᵀ g_q (g_q alone at first order)
    net, alpha, steps = linear(), 0.1, 2
    ep = linreg_episode(3)
    params = dict(net.named_parameters())
    theta = flat(params).detach()
    loss_fn = functional_loss(net, "mse")
    phi = theta.clone()
    for _ in range(steps):
        phi = phi - alpha * grad_and_hessian(phi, ep.support_x, ep.support_y)[0]
    hessian = grad_and_hessian(theta, ep.support_x, ep.support_y)[1]
    jacobian = torch.linalg.matrix_power(torch.eye(4, dtype=theta.dtype) - alpha * hessian, steps)
    g_query = grad_and_hessian(phi, ep.query_x, ep.query_y)[0]
    for kwargs, expected in (({}, jacobian.T @ g_query), (dict(first_order=True), g_query)):
        adapted = adapt(loss_fn, params, ep.support, alpha, steps, **kwargs).adapted
        grads = torch.autograd.grad(loss_fn(adapted, ep.query), list(params.values()))
        assert torch.allclose(flat(dict(zip(params, grads))), expected, atol=1e-10)
    assert not torch.allclose(jacobian.T @ g_query, g_query, atol=1e-3)


def test_inner_steps_must_be_a_non_negative_integer():
    net, loss_fn, params, tasks = sine_setup()
    support = tasks.episode(0, 5).support
    for bad in (-1, 2.0, True):
        with pytest.raises(ValueError, match="^inner_steps="):
            adapt(loss_fn, params, support, 0.01, bad)
    trajectory = adapt(loss_fn, params, support, 0.01, 0)
    assert len(trajectory.params) == 1 and len(trajectory.support_losses) == 1


def test_params_must_be_a_dict_of_tensors():
    net, loss_fn, params, tasks = sine_setup()
    support = tasks.episode(0, 5).support
    for bad in (list(params.values()), {**params, "extra": 1.0}, net):
        with pytest.raises(ValueError, match="^params"):
            adapt(loss_fn, bad, support, 0.01, 1)


def test_a_dict_of_inner_lrs_needs_a_rate_for_every_adapted_name():
    net, loss_fn, params, tasks = sine_setup()
    support = tasks.episode(0, 5).support
    with pytest.raises(ValueError, match="^inner_lr"):
        adapt(loss_fn, params, support, {"4.weight": 0.01}, 1)
    trajectory = adapt(loss_fn, params, support, {"4.weight": 0.01}, 1, adapt_names=["4.weight"])
    assert trajectory.adapted["4.bias"] is params["4.bias"]


# ---------------------------------------------------------------------------------------
# A finite blow-up, and stopping at the last sound step
# ---------------------------------------------------------------------------------------
def _blow_up(alpha=1.4, steps=8):
    """Linear regression with a step size past 2/λ_max: the support loss grows about 9× a step, finite."""
    net, ep = linear(), linreg_episode(3)
    phi, phis, losses = flat(dict(net.named_parameters())).detach(), [], []
    for _ in range(steps):
        phis.append(phi)
        losses.append(float(((augment(ep.support_x) @ phi - ep.support_y) ** 2).mean()))
        phi = phi - alpha * grad_and_hessian(phi, ep.support_x, ep.support_y)[0]
    # the first step whose loss is both 100× and 100 above the loss at θ
    first = next(k for k, v in enumerate(losses) if v > 100 * losses[0] and v - losses[0] > 100)
    return net, ep, alpha, phis, losses, first


@pytest.mark.parametrize("extra_steps", [0, 2])
def test_a_finite_blow_up_diverges_and_stop_on_divergence_keeps_the_sound_steps(extra_steps):
    # inner_steps = first: the blow-up is found by the final check (track_loss); first + 2: inside the loop
    net, ep, alpha, phis, losses, first = _blow_up()
    assert first >= 2 and math.isfinite(losses[first])
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    with pytest.raises(InnerLoopDivergedError):
        adapt(loss_fn, params, ep.support, alpha, first + extra_steps)
    trajectory = adapt(loss_fn, params, ep.support, alpha, first + extra_steps, stop_on_divergence=True)
    assert trajectory.diverged and trajectory.steps == first - 1  # φ_0 … φ_{first−1}
    assert all(torch.allclose(flat(p).detach(), phi, atol=1e-10) for p, phi in zip(trajectory.params, phis))
    assert trajectory.support_losses == pytest.approx(losses[:first], rel=1e-10)
    sound = adapt(loss_fn, params, ep.support, alpha, first - 1, stop_on_divergence=True)
    assert not sound.diverged and sound.steps == first - 1


@pytest.mark.parametrize("inner_steps", [0, 2])
def test_stop_on_divergence_still_raises_when_the_loss_at_theta_is_not_finite(inner_steps):
    net, loss_fn, params, tasks = sine_setup()
    with pytest.raises(InnerLoopDivergedError):
        adapt(lambda p, d: loss_fn(p, d) * float("nan"), params, tasks.episode(0, 5).support, 0.01, inner_steps,
              stop_on_divergence=True)
