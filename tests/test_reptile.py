"""Tests of `metalearn_edu.meta.reptile`: the closed form, tied weights, divergence, `reptile_train`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from metalearn_edu.episodes import Episode
from metalearn_edu.meta import InnerLoopDivergedError, functional_loss, reptile_step, reptile_train

from helpers import TINY_CONFIG, augment, flat, grad_and_hessian, linear, linreg_episode, sine_setup

MASK_ID = 4


def test_reptile_closed_form_linear_regression():
    net = linear()
    episodes = [linreg_episode(1), linreg_episode(2)]
    alpha, epsilon = 0.05, 0.3
    theta = flat(dict(net.named_parameters())).detach().clone()
    phis = []
    for ep in episodes:
        phi = theta.clone()
        for _ in range(2):
            phi = phi - alpha * grad_and_hessian(phi, ep.support_x, ep.support_y)[0]
        phis.append(phi)
    expected = theta + epsilon * ((phis[0] + phis[1]) / 2 - theta)
    _, delta = reptile_step(functional_loss(net, "mse"), dict(net.named_parameters()), episodes, alpha, 2, epsilon)
    assert torch.allclose(flat(dict(net.named_parameters())).detach(), expected, atol=1e-12)
    assert torch.allclose(flat(delta), (phis[0] + phis[1]) / 2 - theta, atol=1e-12)


def _mlm_loss(model):
    """MLM cross-entropy at [MASK] positions: data = (input_ids, target ids, attention_mask)."""
    def loss_fn(params, data):
        x, y, mask = data
        where = x == MASK_ID
        out = functional_call(model, params, (x,), dict(attention_mask=mask, head="mlm", mlm_mask=where))
        return F.cross_entropy(out.logits, y[where])
    return loss_fn


def test_reptile_keeps_tied_embedding_tied(tiny_encoder):
    model = tiny_encoder()
    n_params = len(list(model.named_parameters()))
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(5, TINY_CONFIG.vocab_size, (6, 8), generator=g)
    inputs = targets.clone()
    inputs[:, 3] = MASK_ID
    data = (inputs, targets, torch.ones_like(inputs))
    episode = Episode(*data[:2], *data[:2], data[2], data[2])
    old_emb = model.embeddings.tok_emb.weight.detach().clone()
    reptile_step(_mlm_loss(model), dict(model.named_parameters()), [episode], 0.5, 3, outer_lr=1.0)
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == n_params and names.count("embeddings.tok_emb.weight") == 1
    new_emb = model.embeddings.tok_emb.weight
    assert not torch.equal(new_emb, old_emb)
    with torch.no_grad():
        out = model(inputs, head="mlm")
        head = model.mlm_head
        transformed = head.norm(head.act(head.dense(out.hidden_states)))
        assert torch.allclose(out.logits, F.linear(transformed, new_emb, head.bias))  # the decoder uses it
        assert not torch.allclose(out.logits, F.linear(transformed, old_emb, head.bias))


def test_reptile_step_detects_divergence():
    net, loss_fn, params, tasks = sine_setup()
    with pytest.raises(InnerLoopDivergedError):
        reptile_step(loss_fn, params, tasks.batch(0, 2, k_shot=5), inner_lr=1e3, inner_steps=1, outer_lr=0.1)


@pytest.mark.parametrize("vectorize", [False, True])
def test_reptile_moves_towards_the_mean_of_unequal_adapted_weights(vectorize):
    # the per-episode loop (vectorize=False) and the batched path, on three different episodes
    net, alpha, epsilon, steps = linear(), 0.05, 0.4, 3
    episodes = [linreg_episode(s) for s in (6, 7, 8)]
    theta = flat(dict(net.named_parameters())).detach().clone()
    phis, losses = [], []
    for ep in episodes:
        phi = theta.clone()
        for _ in range(steps):
            phi = phi - alpha * grad_and_hessian(phi, ep.support_x, ep.support_y)[0]
        phis.append(phi)
        xa = torch.cat([ep.query_x, torch.ones(len(ep.query_x), 1, dtype=phi.dtype)], 1)
        losses.append(float(((xa @ phi - ep.query_y) ** 2).mean()))
    assert min(float((phis[i] - phis[j]).abs().max()) for i in range(3) for j in range(i)) > 1e-3
    mean_phi = sum(phis) / 3
    query_loss, delta = reptile_step(functional_loss(net, "mse"), dict(net.named_parameters()), episodes, alpha,
                                     steps, epsilon, vectorize=vectorize)
    assert torch.allclose(flat(delta), mean_phi - theta, atol=1e-12)
    assert torch.allclose(flat(dict(net.named_parameters())).detach(), theta + epsilon * (mean_phi - theta),
                          atol=1e-12)
    assert float(query_loss) == pytest.approx(sum(losses) / 3, rel=1e-10)


# ---------------------------------------------------------------------------------------
# reptile_step: what adapts, per-episode parameters, the query's divergence check, arguments
# ---------------------------------------------------------------------------------------
def _closed_form_reptile(theta, episodes, alpha, steps, adapt=None):
    """(mean_i φ̃_i − θ, mean query loss) of SGD on linear regression; `adapt` masks the flat (weight, bias)."""
    adapt = torch.ones_like(theta) if adapt is None else adapt
    phis, losses = [], []
    for ep in episodes:
        phi = theta.clone()
        for _ in range(steps):
            phi = phi - alpha * adapt * grad_and_hessian(phi, ep.support_x, ep.support_y)[0]
        phis.append(phi)
        losses.append(float(((augment(ep.query_x) @ phi - ep.query_y) ** 2).mean()))
    return sum(phis) / len(phis) - theta, sum(losses) / len(losses)


@pytest.mark.parametrize("vectorize", [False, True])
def test_reptile_adapts_only_adapt_names_and_leaves_the_rest_in_place(vectorize):
    net, alpha, epsilon, steps = linear(), 0.05, 0.5, 3
    episodes = [linreg_episode(s) for s in (10, 11)]
    theta = flat(dict(net.named_parameters())).detach().clone()
    expected, loss = _closed_form_reptile(theta, episodes, alpha, steps,
                                          adapt=torch.tensor([[0.0], [0.0], [0.0], [1.0]], dtype=theta.dtype))
    assert abs(float(expected[-1])) > 1e-3  # the bias moves
    query_loss, delta = reptile_step(functional_loss(net, "mse"), dict(net.named_parameters()), episodes, alpha, steps,
                                     epsilon, adapt_names=["bias"], vectorize=vectorize)
    assert torch.equal(delta["weight"], torch.zeros_like(delta["weight"]))
    assert torch.allclose(flat(delta), expected, atol=1e-12)
    assert torch.allclose(flat(dict(net.named_parameters())).detach(), theta + epsilon * expected, atol=1e-12)
    assert float(query_loss) == pytest.approx(loss, rel=1e-10)


def _offset_loss(params, data):
    """MSE of a linear model plus a per-episode offset (an entry that `episode_params` adds)."""
    x, y = data[0], data[1]
    return ((x @ params["weight"].T + params["bias"] + params["offset"] - y) ** 2).mean()


def _offset_start(params, episode):
    return {**params, "offset": episode.support_y.mean()}


@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("given", ["as an argument", "by the loss"])
def test_reptile_starts_each_episode_from_episode_params_and_drops_what_they_add(given, vectorize):
    # the offset starts at each episode's mean support target, adapts with θ, and is then dropped;
    # episode_params defaults to the loss function's own
    net, alpha, epsilon, steps = linear(), 0.05, 0.5, 2
    episodes = [linreg_episode(s) for s in (12, 13)]
    theta = flat(dict(net.named_parameters())).detach().clone()
    phis, losses = [], []
    for ep in episodes:
        phi, offset, xa = theta.clone(), ep.support_y.mean(), augment(ep.support_x)
        for _ in range(steps):
            residual = xa @ phi + offset - ep.support_y
            phi, offset = phi - alpha * 2 * xa.T @ residual / len(xa), offset - alpha * 2 * residual.mean()
        phis.append(phi)
        losses.append(float(((augment(ep.query_x) @ phi + offset - ep.query_y) ** 2).mean()))
    params = dict(net.named_parameters())
    if given == "as an argument":
        loss_fn, kwargs = _offset_loss, dict(episode_params=_offset_start)
    else:
        def loss_fn(params, data):
            return _offset_loss(params, data)

        loss_fn.episode_params, kwargs = _offset_start, {}
    query_loss, delta = reptile_step(loss_fn, params, episodes, alpha, steps, epsilon, vectorize=vectorize, **kwargs)
    assert set(delta) == {"weight", "bias"} and set(params) == {"weight", "bias"}
    assert torch.allclose(flat(delta), sum(phis) / 2 - theta, atol=1e-12)
    assert torch.allclose(flat(params).detach(), theta + epsilon * (sum(phis) / 2 - theta), atol=1e-12)
    assert float(query_loss) == pytest.approx(sum(losses) / 2, rel=1e-10)


@pytest.mark.parametrize("vectorize", [False, True])
def test_reptile_step_checks_the_query_loss_for_divergence_and_leaves_theta(vectorize):
    # a sound support set, a query set whose loss is far above the support loss at θ (finite, not NaN)
    net = linear()
    episodes = [linreg_episode(s) for s in (14, 15)]
    episodes[1] = Episode(episodes[1].support_x, episodes[1].support_y, episodes[1].query_x,
                          episodes[1].query_y * 1e3)
    before = flat(dict(net.named_parameters())).detach().clone()
    with pytest.raises(InnerLoopDivergedError):
        reptile_step(functional_loss(net, "mse"), dict(net.named_parameters()), episodes, 0.05, 2, 0.5,
                     vectorize=vectorize)
    assert torch.equal(flat(dict(net.named_parameters())).detach(), before)


def test_reptile_step_checks_its_arguments_by_name():
    net = linear()
    loss_fn, episodes = functional_loss(net, "mse"), [linreg_episode(1), linreg_episode(2)]
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match=r"^outer_lr="):
            reptile_step(loss_fn, dict(net.named_parameters()), episodes, 0.05, 2, bad)
    with pytest.raises(ValueError, match="episodes"):
        reptile_step(loss_fn, dict(net.named_parameters()), [], 0.05, 2, 0.1, vectorize=False)
    with pytest.raises(ValueError, match=r"^vectorize=True"):  # a 6-example and a 5-example support set
        reptile_step(loss_fn, dict(net.named_parameters()), [linreg_episode(1), linreg_episode(2, n=5)], 0.05, 2, 0.1,
                     vectorize=True)
    before = flat(dict(net.named_parameters())).detach().clone()
    _, delta = reptile_step(loss_fn, dict(net.named_parameters()), episodes, 0.05, 2, 0.0)  # ε = 0 is allowed
    assert torch.equal(flat(dict(net.named_parameters())).detach(), before) and float(flat(delta).abs().max()) > 1e-3


# ---------------------------------------------------------------------------------------
# reptile_train: the defaults (Nichol et al.'s sine settings), the annealed ε, the arguments
# ---------------------------------------------------------------------------------------
def _replay(theta, episodes, alpha, steps, epsilons, adapt=None):
    """θ after Reptile's outer steps with the given ε's (closed form), and the mean query loss of each step."""
    losses = []
    for batch, epsilon in zip(episodes, epsilons):
        delta, loss = _closed_form_reptile(theta, batch, alpha, steps, adapt)
        theta, losses = theta + epsilon * delta, losses + [loss]
    return theta, losses


def test_reptile_train_defaults_are_the_papers_and_reach_the_run(capsys):
    net, seen = linear(), []

    def episodes(i):
        seen.append(i)
        return linreg_episode(20 + i)

    theta = flat(dict(net.named_parameters())).detach().clone()
    history = reptile_train(net, functional_loss(net, "mse"), episodes, steps=2)
    assert history.algorithm == "reptile" and history.steps == [1, 2]  # every step logged
    assert history.settings == dict(meta_batch_size=1, inner_lr=0.02, inner_steps=5, outer_lr=0.1, anneal=True,
                                    seed=0, first_index=0, on_divergence="raise")
    assert seen == [0, 1]  # one task per step, from episode 0
    # ε = 0.1 · (1 − s/2) at step s: 0.1, then 0.05
    expected, losses = _replay(theta, [[linreg_episode(20)], [linreg_episode(21)]], 0.02, 5, [0.1, 0.05])
    assert torch.allclose(flat(dict(net.named_parameters())).detach(), expected, atol=1e-12)
    assert history.meta_loss == pytest.approx(losses, rel=1e-10)
    assert capsys.readouterr().err == ""  # no progress bar unless asked for


def test_reptile_train_passes_every_setting_to_its_steps():
    # two unequal tasks a step from episode 3, bias only, a constant ε, logged every second step
    net, seen = linear(), []

    def episodes(i):
        seen.append(i)
        return linreg_episode(30 + i)

    theta = flat(dict(net.named_parameters())).detach().clone()
    history = reptile_train(net, functional_loss(net, "mse"), episodes, steps=2, meta_batch_size=2, inner_lr=0.05,
                            inner_steps=3, outer_lr=0.4, anneal=False, adapt_names=["bias"], first_index=3,
                            log_every=2, vectorize=False)
    assert seen == [3, 4, 5, 6] and history.steps == [2]
    bias_only = torch.tensor([[0.0], [0.0], [0.0], [1.0]], dtype=theta.dtype)
    batches = [[linreg_episode(33), linreg_episode(34)], [linreg_episode(35), linreg_episode(36)]]
    expected, losses = _replay(theta, batches, 0.05, 3, [0.4, 0.4], adapt=bias_only)
    assert torch.allclose(flat(dict(net.named_parameters())).detach(), expected, atol=1e-12)
    assert torch.equal(net.weight.detach(), theta[:3].T)  # the weight never adapted, so never moved
    assert history.meta_loss == pytest.approx(losses[1:], rel=1e-10)


def test_reptile_train_anneals_epsilon_by_elapsed_time_with_a_budget_alone(monkeypatch):
    # a clock that reads 1.5 s per episode drawn: step s starts at 1.5·s s, so a budget of 4 s gives
    # 3 steps with ε = 0.1 · (1 − 1.5·s/4)
    drawn = []

    def episodes(i):
        drawn.append(i)
        return linreg_episode(40 + i)

    monkeypatch.setattr("metalearn_edu.meta.outer_loop.clock", lambda: 1.5 * len(drawn))
    net = linear()
    theta = flat(dict(net.named_parameters())).detach().clone()
    history = reptile_train(net, functional_loss(net, "mse"), episodes, steps=None, time_budget=4.0)
    assert history.steps == [1, 2, 3]
    expected, _ = _replay(theta, [[linreg_episode(40 + s)] for s in range(3)], 0.02, 5,
                          [0.1 * (1 - 1.5 * s / 4) for s in range(3)])
    assert torch.allclose(flat(dict(net.named_parameters())).detach(), expected, atol=1e-12)


def test_reptile_train_skips_a_diverging_step_when_asked():
    # episode 1's inputs are 100× larger: its inner loop blows up at inner_lr 0.02
    def episodes(i):
        ep = linreg_episode(50 + i)
        return Episode(ep.support_x * 100, ep.support_y, ep.query_x, ep.query_y) if i == 1 else ep

    net = linear()
    with pytest.raises(InnerLoopDivergedError):
        reptile_train(net, functional_loss(net, "mse"), episodes, steps=3)
    net = linear()
    theta = flat(dict(net.named_parameters())).detach().clone()
    history = reptile_train(net, functional_loss(net, "mse"), episodes, steps=3, on_divergence="skip")
    assert history.skipped == [2] and history.steps == [1, 3]
    expected, _ = _replay(theta, [[linreg_episode(50)], [linreg_episode(52)]], 0.02, 5, [0.1, 0.1 / 3])
    assert torch.allclose(flat(dict(net.named_parameters())).detach(), expected, atol=1e-12)


def test_reptile_train_checks_its_arguments_by_name():
    net = linear()
    loss_fn, episodes = functional_loss(net, "mse"), lambda i: linreg_episode(i)
    for bad in (0, -1):
        with pytest.raises(ValueError, match=rf"^meta_batch_size={bad} "):
            reptile_train(net, loss_fn, episodes, steps=1, meta_batch_size=bad)
    with pytest.raises(ValueError, match="^time_budget="):
        reptile_train(net, loss_fn, episodes, steps=None, time_budget=-1.0)
    with pytest.raises(ValueError, match="on_divergence"):
        reptile_train(net, loss_fn, episodes, steps=1, on_divergence="ignore")
    with pytest.raises(ValueError, match=r"^vectorize=True"):  # episodes of 6 and 5 examples cannot stack
        reptile_train(net, loss_fn, lambda i: linreg_episode(i, n=6 - i), steps=1, meta_batch_size=2, vectorize=True)


@pytest.mark.parametrize("vectorize", [False, True])
def test_an_entry_that_episode_params_replaces_starts_each_episode_on_both_paths(vectorize):
    # episode_params sets θ's bias to each episode's mean support target: both paths start from it
    net, alpha, epsilon, steps = linear(), 0.05, 0.5, 2
    episodes = [linreg_episode(s) for s in (21, 22)]
    theta = flat(dict(net.named_parameters())).detach().clone()
    phis = []
    for ep in episodes:
        phi = theta.clone()
        phi[-1] = ep.support_y.mean()  # flat() puts the bias last
        for _ in range(steps):
            phi = phi - alpha * grad_and_hessian(phi, ep.support_x, ep.support_y)[0]
        phis.append(phi)
    params = dict(net.named_parameters())
    _, delta = reptile_step(functional_loss(net, "mse"), params, episodes, alpha, steps, epsilon, vectorize=vectorize,
                            episode_params=lambda p, ep: {**p, "bias": ep.support_y.mean().reshape(1)})
    assert torch.allclose(flat(delta), sum(phis) / 2 - theta, atol=1e-12)
