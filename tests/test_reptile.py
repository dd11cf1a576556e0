"""Tests of `metalearn_edu.meta.reptile`: the closed form, tied weights, divergence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from metalearn_edu.episodes import Episode
from metalearn_edu.meta import InnerLoopDivergedError, functional_loss, reptile_step

from helpers import TINY_CONFIG, flat, grad_and_hessian, linear, linreg_episode, sine_setup

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
