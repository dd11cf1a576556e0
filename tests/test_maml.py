"""Tests of `metalearn_edu.meta.maml`: MAML and first-order MAML.

The meta-gradients are checked three ways: against `higher` (second order, on an MLP and on
our transformer), against closed forms on linear regression (first and second order), and by
a small learning check. Reptile's closed form is in test_reptile.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from metalearn_edu.episodes import Episode, SinusoidTasks
from metalearn_edu.meta import (
    InnerLoopDivergedError,
    TextClassifierLoss,
    adapt,
    evaluate_adaptation,
    finetune,
    functional_loss,
    learnable_inner_lrs,
    maml_step,
    meta_train,
    select_params,
    sinusoid_mlp,
)

from helpers import (
    flat,
    grad_and_hessian,
    linear,
    linreg_episode,
    sine_setup,
    snapshot,
    text_episode,
    unchanged,
)

higher = pytest.importorskip("higher")


def _higher_meta_grads(model, episode, inner_lr, inner_steps, forward, loss):
    """Reference: higher's differentiable SGD, then backward of the query loss."""
    model.zero_grad(set_to_none=True)
    opt = torch.optim.SGD(model.parameters(), lr=inner_lr)
    with higher.innerloop_ctx(model, opt, copy_initial_weights=False) as (fmodel, diffopt):
        for _ in range(inner_steps):
            diffopt.step(loss(forward(fmodel, episode.support), episode.support_y))
        loss(forward(fmodel, episode.query), episode.query_y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


# ---------------------------------------------------------------------------------------
# Second-order MAML equals higher's
# ---------------------------------------------------------------------------------------
def test_second_order_matches_higher_on_mlp():
    net = sinusoid_mlp(seed=0)
    episode = SinusoidTasks(seed=0).episode(0, k_shot=10)
    before = snapshot(net)
    _, ours = maml_step(functional_loss(net, "mse"), dict(net.named_parameters()), [episode], 0.01, 2)
    assert unchanged(net, before) and all(p.grad is None for p in net.parameters())
    ref = _higher_meta_grads(net, episode, 0.01, 2, lambda m, d: m(d.x), F.mse_loss)
    assert sorted(ours) == sorted(ref)
    for name in ref:
        assert torch.allclose(ours[name], ref[name], atol=1e-5, rtol=0), name


def test_second_order_matches_higher_on_transformer(tiny_encoder):
    model = tiny_encoder()
    episode = text_episode()
    loss_fn = functional_loss(model, "cross_entropy", head="cls", attention_impl="explicit")
    before = snapshot(model)
    _, ours = maml_step(loss_fn, dict(model.named_parameters()), [episode], 0.1, 2)
    assert unchanged(model, before)

    def forward(m, data):
        return m(data.x, attention_mask=data.mask, head="cls", attention_impl="explicit").logits

    ref = _higher_meta_grads(model, episode, 0.1, 2, forward, F.cross_entropy)
    assert set(ref) == set(ours)  # the unused MLM head gets no gradient from either
    assert "embeddings.tok_emb.weight" in ours and not any(n.startswith("mlm_head.") for n in ours)
    for name in ref:
        assert torch.allclose(ours[name], ref[name], atol=1e-5, rtol=0), name


# ---------------------------------------------------------------------------------------
# Closed forms on linear regression
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("inner_steps", [0, 1, 3])
def test_meta_gradients_closed_form_linear_regression(inner_steps):
    net, ep, alpha = linear(), linreg_episode(0), 0.05
    theta = flat(dict(net.named_parameters())).detach()
    phi, jac = theta.clone(), torch.eye(len(theta), dtype=torch.float64)
    for _ in range(inner_steps):
        g, h = grad_and_hessian(phi, ep.support_x, ep.support_y)
        phi = phi - alpha * g
        jac = (torch.eye(len(theta), dtype=torch.float64) - alpha * h) @ jac  # dφ_{k+1}/dθ
    gq, _ = grad_and_hessian(phi, ep.query_x, ep.query_y)
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    _, second = maml_step(loss_fn, params, [ep], alpha, inner_steps)
    _, first = maml_step(loss_fn, params, [ep], alpha, inner_steps, first_order=True)
    assert torch.allclose(flat(first), gq, atol=1e-10)  # FOMAML: the query gradient at φ_K
    assert torch.allclose(flat(second), jac.T @ gq, atol=1e-10)  # MAML: Π (I − αH)ᵀ times it
    if inner_steps > 0:
        assert (flat(second) - flat(first)).abs().max() > 1e-4  # the Hessian term is really there


def test_first_order_differs_on_mlp_but_not_without_inner_steps():
    net = sinusoid_mlp(seed=0)
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    episodes = SinusoidTasks(seed=0).batch(0, 3, k_shot=10)
    _, so0 = maml_step(loss_fn, params, episodes, 0.01, 0)
    _, fo0 = maml_step(loss_fn, params, episodes, 0.01, 0, first_order=True)
    assert all(torch.equal(so0[n], fo0[n]) for n in so0)
    _, so = maml_step(loss_fn, params, episodes, 0.01, 2)
    _, fo = maml_step(loss_fn, params, episodes, 0.01, 2, first_order=True)
    diff = max(float((so[n] - fo[n]).abs().max()) for n in so)
    assert diff > 1e-4


def test_learned_inner_lrs_get_meta_gradients():
    net, ep = linear(), linreg_episode(0)
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    lrs = {n: lr.double().detach().requires_grad_() for n, lr in learnable_inner_lrs(params, init=0.05).items()}
    loss, grads = maml_step(loss_fn, params, [ep], lrs, 2)
    _, plain = maml_step(loss_fn, params, [ep], 0.05, 2)
    assert all(torch.allclose(grads[n], plain[n]) for n in plain)  # same rates ⇒ same θ gradients
    # d(meta-loss)/dα for the bias rate, against a central finite difference
    h = 1e-6

    def meta_loss(alpha_bias):
        rates = {"weight": 0.05, "bias": alpha_bias}
        return float(maml_step(loss_fn, params, [ep], rates, 2)[0])

    numeric = (meta_loss(0.05 + h) - meta_loss(0.05 - h)) / (2 * h)
    assert abs(float(grads["inner_lr.bias"]) - numeric) < 1e-5


# ---------------------------------------------------------------------------------------
# The model is never mutated
# ---------------------------------------------------------------------------------------
def test_model_untouched_by_adapt_maml_step_and_evaluation(tiny_encoder):
    model = tiny_encoder()
    loss_fn = TextClassifierLoss(model)
    before = snapshot(model)
    episode = text_episode()
    params = dict(model.named_parameters())
    traj = adapt(loss_fn, loss_fn.episode_params(params, episode), episode.support, 0.1, 2)
    assert not torch.equal(traj.adapted["blocks.1.ffn.up.weight"], params["blocks.1.ffn.up.weight"])
    maml_step(loss_fn, params, [episode], 0.1, 2)
    maml_step(loss_fn, params, [episode], 0.1, 2, first_order=True)
    finetune(loss_fn, params, episode, 0.1, 2)
    evaluate_adaptation(loss_fn, params, [episode, text_episode(1)], 0.1, 2)
    assert unchanged(model, before)
    assert all(p.grad is None for p in model.parameters())


# ---------------------------------------------------------------------------------------
# Options and errors
# ---------------------------------------------------------------------------------------
def test_bad_arguments_raise_clear_errors(tiny_encoder):
    net = sinusoid_mlp(seed=0)
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    support = SinusoidTasks().episode(0, 5).support
    with pytest.raises(ValueError, match="inner_lr=-0.1"):
        adapt(loss_fn, params, support, -0.1, 1)
    with pytest.raises(ValueError, match="inner_steps=-1"):
        adapt(loss_fn, params, support, 0.1, -1)
    with pytest.raises(ValueError, match="not in params"):
        adapt(loss_fn, params, support, 0.1, 1, adapt_names=["nope.weight"])
    with pytest.raises(ValueError, match="named_parameters"):
        adapt(loss_fn, net, support, 0.1, 1)
    with pytest.raises(ValueError, match="episodes is empty"):
        maml_step(loss_fn, params, [], 0.1, 1)
    with pytest.raises(ValueError, match="'top9'"):
        select_params(tiny_encoder(), "top9")
    with pytest.raises(ValueError, match="which='middle'"):
        select_params(net, "middle")


def test_second_order_through_fused_attention_says_what_to_do(tiny_encoder):
    model = tiny_encoder()
    loss_fn = TextClassifierLoss(model, attention_impl="fused")
    params = dict(model.named_parameters())
    with pytest.raises(ValueError, match="attention_impl='explicit'"):
        maml_step(loss_fn, params, [text_episode()], 0.1, 1)
    maml_step(loss_fn, params, [text_episode()], 0.1, 1, first_order=True)  # first order is fine


# ---------------------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------------------
def test_maml_step_detects_divergence_with_one_inner_step():
    net, loss_fn, params, tasks = sine_setup()
    with pytest.raises(InnerLoopDivergedError, match="query loss"):
        maml_step(loss_fn, params, tasks.batch(0, 4, k_shot=1), inner_lr=1e3, inner_steps=1)


def test_meta_train_stops_on_divergence():
    net, loss_fn, _, tasks = sine_setup()
    with pytest.raises(InnerLoopDivergedError, match="inner_lr=10000"):
        meta_train(net, loss_fn, lambda i: tasks.episode(i, 10), steps=5, meta_batch_size=2, inner_lr=1e4)


def test_cross_entropy_divergence_is_detected(tiny_encoder):
    """A bounded-below loss never reaches 1e6 × its start; a large inner lr must still be caught."""
    model = tiny_encoder()
    g = torch.Generator().manual_seed(0)
    x = torch.randint(5, 60, (6, 8), generator=g)
    y = torch.arange(3).repeat_interleave(2)
    episode = Episode(x, y, x.clone(), y.clone(), torch.ones_like(x), torch.ones_like(x), classes=["a", "b", "c"])
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
    with pytest.raises(InnerLoopDivergedError):
        maml_step(loss_fn, dict(model.named_parameters()), [episode], 1e5, 1, first_order=True,
                  adapt_names=select_params(model, "top1"))


# ---------------------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------------------
@pytest.mark.slow  # ≈ 1.5 s on idle cores, but thousands of tiny ops: 6 s to 70 s when the CPUs are shared
def test_maml_learns_sinusoids():
    """A few hundred MAML steps: one inner step must help a lot, and more than without meta-training."""
    tasks, test_tasks = SinusoidTasks(seed=0), SinusoidTasks(seed=1)
    episodes = [test_tasks.episode(i, k_shot=10) for i in range(100)]
    net = sinusoid_mlp(seed=0)
    loss_fn = functional_loss(net, "mse")
    untrained = evaluate_adaptation(loss_fn, dict(net.named_parameters()), episodes, 0.01, 1)
    meta_train(net, loss_fn, lambda i: tasks.episode(i, 10), steps=400, meta_batch_size=10, inner_lr=0.01,
               inner_steps=1, outer_lr=3e-3)
    trained = evaluate_adaptation(loss_fn, dict(net.named_parameters()), episodes, 0.01, 1)
    pre, post = trained.at(0), trained.at(1)
    assert post[0] + post[1] < pre[0] - pre[1]  # the 95% intervals do not overlap
    assert post[0] < 0.7 * pre[0]
    assert post[0] < 0.7 * untrained.at(1)[0]


# ---------------------------------------------------------------------------------------
# The meta-batch mean, in the per-episode loop and in the batched path
# ---------------------------------------------------------------------------------------
def _closed_form_maml(theta, ep, alpha, inner_steps):
    """(query loss at φ_K, MAML meta-gradient) on linear regression, from the closed forms above."""
    phi, jac = theta.clone(), torch.eye(len(theta), dtype=torch.float64)
    for _ in range(inner_steps):
        g, h = grad_and_hessian(phi, ep.support_x, ep.support_y)
        phi = phi - alpha * g
        jac = (torch.eye(len(theta), dtype=torch.float64) - alpha * h) @ jac
    residual = torch.cat([ep.query_x, torch.ones(len(ep.query_x), 1, dtype=phi.dtype)], 1) @ phi - ep.query_y
    gq, _ = grad_and_hessian(phi, ep.query_x, ep.query_y)
    return float((residual ** 2).mean()), jac.T @ gq


@pytest.mark.parametrize("vectorize", [False, True])
def test_meta_loss_and_gradient_are_the_mean_over_unequal_episodes(vectorize):
    # three different episodes (a single one cannot tell a mean from a sum, or one task from all)
    net, alpha, steps = linear(), 0.05, 2
    episodes = [linreg_episode(s) for s in (3, 4, 5)]
    theta = flat(dict(net.named_parameters())).detach()
    per_episode = [_closed_form_maml(theta, ep, alpha, steps) for ep in episodes]
    losses, grads = [p[0] for p in per_episode], [p[1] for p in per_episode]
    assert min(abs(losses[i] - losses[j]) for i in range(3) for j in range(i)) > 1e-3
    meta_loss, meta_grads = maml_step(functional_loss(net, "mse"), dict(net.named_parameters()), episodes, alpha,
                                      steps, vectorize=vectorize)
    assert float(meta_loss) == pytest.approx(sum(losses) / 3, rel=1e-10)
    assert torch.allclose(flat(meta_grads), sum(grads) / 3, atol=1e-10)
    _, fo = maml_step(functional_loss(net, "mse"), dict(net.named_parameters()), episodes, alpha, steps,
                      first_order=True, vectorize=vectorize)
    assert not torch.allclose(flat(fo), flat(meta_grads), atol=1e-6)  # the flag reaches this path


# ---------------------------------------------------------------------------------------
# meta_train's defaults (the MAML paper's sine settings) and argument checks
# ---------------------------------------------------------------------------------------
def test_meta_train_defaults_are_the_papers_and_reach_the_run(capsys):
    net, tasks = sinusoid_mlp(seed=0), SinusoidTasks(seed=0)
    seen = []

    def episodes(i):
        seen.append(i)
        return tasks.episode(i, k_shot=5)

    history = meta_train(net, functional_loss(net, "mse"), episodes, steps=2)
    assert history.algorithm == "maml" and history.steps == [1, 2]  # second order, every step logged
    assert history.settings == dict(meta_batch_size=25, inner_lr=0.01, inner_steps=1, outer_lr=1e-3,
                                    first_order=False, seed=0, first_index=0, on_divergence="raise")
    assert seen == list(range(50))  # episodes 0..24, then 25..49
    assert capsys.readouterr().err == ""  # no progress bar unless asked for


def test_meta_train_checks_its_arguments_by_name():
    net, tasks = sinusoid_mlp(seed=0), SinusoidTasks(seed=0)
    loss_fn, episodes = functional_loss(net, "mse"), lambda i: tasks.episode(i, k_shot=5)
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf"^meta_batch_size={bad} is not allowed"):
            meta_train(net, loss_fn, episodes, steps=1, meta_batch_size=bad)
    for bad in (0.0, -1e-3):
        with pytest.raises(ValueError, match=r"^outer_lr=.* \(e\.g\. 1e-3\)"):
            meta_train(net, loss_fn, episodes, steps=1, outer_lr=bad)
    with pytest.raises(ValueError, match="^time_budget="):
        meta_train(net, loss_fn, episodes, steps=None, time_budget=-1.0)
    history = meta_train(net, loss_fn, episodes, steps=None, time_budget=1e-9, meta_batch_size=2)
    assert history.steps == [1]  # the budget alone stops the run, after its first step


def test_meta_train_learns_and_clamps_inner_learning_rates():
    # inner rates of 0.3 on linear regression: one Adam step of size 1 moves each rate by about ±1,
    # so the weight's rate would go negative and is projected back to 0, the bias's grows
    net = linear()
    rates = learnable_inner_lrs(dict(net.named_parameters()), init=0.3)
    history = meta_train(net, functional_loss(net, "mse"), lambda i: linreg_episode(i), steps=1, meta_batch_size=2,
                         inner_lr=rates, outer_lr=1.0)
    assert history.settings["inner_lr"] == "learned"
    assert float(rates["weight"].detach()) == 0.0  # clamped at 0, not about -0.7
    assert float(rates["bias"].detach()) == pytest.approx(1.3, abs=1e-6)  # Adam's first step: ±outer_lr
