"""Tests of `metalearn_edu.meta`: the inner loop, MAML/FOMAML, Reptile, baselines, evaluation.

The meta-gradients are checked three ways: against `higher` (second order, on
an MLP and on our transformer), against closed forms on linear regression
(first and second order, and Reptile's update), and by a small learning check.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from metalearn_edu.config import ModelConfig
from metalearn_edu.episodes import Episode, SinusoidTasks
from metalearn_edu.meta import (
    EPISODE_HEAD_NAMES,
    InnerLoopDivergedError,
    ProtoNet,
    TextClassifierLoss,
    adapt,
    evaluate_adaptation,
    finetune,
    functional_loss,
    learnable_inner_lrs,
    maml_step,
    meta_train,
    multitask_pretrain,
    prototypes,
    reptile_step,
    reptile_train,
    select_params,
    sinusoid_mlp,
)
from metalearn_edu.model import BertEncoder

higher = pytest.importorskip("higher")

TINY = ModelConfig(vocab_size=60, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=16, dropout=0.0,
                   attn_dropout=0.0, n_labels=3)
MASK_ID = 4


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


def _unchanged(model: nn.Module, snapshot: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p, snapshot[n]) for n, p in model.state_dict().items())


def _text_episode(seed: int = 0, n_way: int = 3, k: int = 2, q: int = 2, T: int = 10) -> Episode:
    """Random token sequences with some padding, labels grouped by class."""
    g = torch.Generator().manual_seed(seed)

    def side(m):
        x = torch.randint(5, TINY.vocab_size, (n_way * m, T), generator=g)
        x[:, 0] = 2
        mask = torch.ones_like(x)
        lengths = torch.randint(4, T + 1, (n_way * m,), generator=g)
        for i, n in enumerate(lengths.tolist()):
            mask[i, n:] = 0
            x[i, n:] = 0
        return x, torch.arange(n_way).repeat_interleave(m), mask

    sx, sy, sm = side(k)
    qx, qy, qm = side(q)
    return Episode(sx, sy, qx, qy, sm, qm, classes=[f"c{i}" for i in range(n_way)])


def _tiny_encoder(seed: int = 0) -> BertEncoder:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertEncoder(TINY, attention_impl="explicit")


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
    before = _snapshot(net)
    _, ours = maml_step(functional_loss(net, "mse"), dict(net.named_parameters()), [episode], 0.01, 2)
    assert _unchanged(net, before) and all(p.grad is None for p in net.parameters())
    ref = _higher_meta_grads(net, episode, 0.01, 2, lambda m, d: m(d.x), F.mse_loss)
    assert sorted(ours) == sorted(ref)
    for name in ref:
        assert torch.allclose(ours[name], ref[name], atol=1e-5, rtol=0), name


def test_second_order_matches_higher_on_transformer():
    model = _tiny_encoder()
    episode = _text_episode()
    loss_fn = functional_loss(model, "cross_entropy", head="cls", attention_impl="explicit")
    before = _snapshot(model)
    _, ours = maml_step(loss_fn, dict(model.named_parameters()), [episode], 0.1, 2)
    assert _unchanged(model, before)

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
def _linreg_episode(seed: int, n: int = 6, d: int = 3) -> Episode:
    g = torch.Generator().manual_seed(seed)
    xs, xq = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(d, 1, generator=g, dtype=torch.float64)
    return Episode(xs, xs @ w + 0.5, xq, xq @ w + 0.5)


def _linear(d: int = 3) -> nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Linear(d, 1).double()


def _augment(x):
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)  # (n, d+1): weights then bias


def _grad_and_hessian(theta, x, y):
    """MSE L = mean((Xa θ − y)²): ∇L = 2 Xaᵀ(Xa θ − y)/n, ∇²L = 2 XaᵀXa/n."""
    xa = _augment(x)
    return 2 * xa.T @ (xa @ theta - y) / len(x), 2 * xa.T @ xa / len(x)


def _flat(params):
    return torch.cat([params["weight"].reshape(-1, 1), params["bias"].reshape(-1, 1)])


@pytest.mark.parametrize("inner_steps", [0, 1, 3])
def test_meta_gradients_closed_form_linear_regression(inner_steps):
    net, ep, alpha = _linear(), _linreg_episode(0), 0.05
    theta = _flat(dict(net.named_parameters())).detach()
    phi, jac = theta.clone(), torch.eye(len(theta), dtype=torch.float64)
    for _ in range(inner_steps):
        g, h = _grad_and_hessian(phi, ep.support_x, ep.support_y)
        phi = phi - alpha * g
        jac = (torch.eye(len(theta), dtype=torch.float64) - alpha * h) @ jac  # dφ_{k+1}/dθ
    gq, _ = _grad_and_hessian(phi, ep.query_x, ep.query_y)
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    _, second = maml_step(loss_fn, params, [ep], alpha, inner_steps)
    _, first = maml_step(loss_fn, params, [ep], alpha, inner_steps, first_order=True)
    assert torch.allclose(_flat(first), gq, atol=1e-10)  # FOMAML: the query gradient at φ_K
    assert torch.allclose(_flat(second), jac.T @ gq, atol=1e-10)  # MAML: Π (I − αH)ᵀ times it
    if inner_steps > 0:
        assert (_flat(second) - _flat(first)).abs().max() > 1e-4  # the Hessian term is really there


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


def test_reptile_closed_form_linear_regression():
    net = _linear()
    episodes = [_linreg_episode(1), _linreg_episode(2)]
    alpha, epsilon = 0.05, 0.3
    theta = _flat(dict(net.named_parameters())).detach().clone()
    phis = []
    for ep in episodes:
        phi = theta.clone()
        for _ in range(2):
            phi = phi - alpha * _grad_and_hessian(phi, ep.support_x, ep.support_y)[0]
        phis.append(phi)
    expected = theta + epsilon * ((phis[0] + phis[1]) / 2 - theta)
    _, delta = reptile_step(functional_loss(net, "mse"), dict(net.named_parameters()), episodes, alpha, 2, epsilon)
    assert torch.allclose(_flat(dict(net.named_parameters())).detach(), expected, atol=1e-12)
    assert torch.allclose(_flat(delta), (phis[0] + phis[1]) / 2 - theta, atol=1e-12)


# ---------------------------------------------------------------------------------------
# The model is never mutated; tied weights stay tied
# ---------------------------------------------------------------------------------------
def test_model_untouched_by_adapt_maml_step_and_evaluation():
    model = _tiny_encoder()
    loss_fn = TextClassifierLoss(model)
    before = _snapshot(model)
    episode = _text_episode()
    params = dict(model.named_parameters())
    traj = adapt(loss_fn, loss_fn.episode_params(params, episode), episode.support, 0.1, 2)
    assert not torch.equal(traj.adapted["blocks.1.ffn.up.weight"], params["blocks.1.ffn.up.weight"])
    maml_step(loss_fn, params, [episode], 0.1, 2)
    maml_step(loss_fn, params, [episode], 0.1, 2, first_order=True)
    finetune(loss_fn, params, episode, 0.1, 2)
    evaluate_adaptation(loss_fn, params, [episode, _text_episode(1)], 0.1, 2)
    assert _unchanged(model, before)
    assert all(p.grad is None for p in model.parameters())


def _mlm_loss(model):
    """MLM cross-entropy at [MASK] positions: data = (input_ids, target ids, attention_mask)."""
    def loss_fn(params, data):
        x, y, mask = data
        where = x == MASK_ID
        out = functional_call(model, params, (x,), dict(attention_mask=mask, head="mlm", mlm_mask=where))
        return F.cross_entropy(out.logits, y[where])
    return loss_fn


def test_reptile_keeps_tied_embedding_tied():
    model = _tiny_encoder()
    n_params = len(list(model.named_parameters()))
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(5, TINY.vocab_size, (6, 8), generator=g)
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


# ---------------------------------------------------------------------------------------
# Inner-loop options and errors
# ---------------------------------------------------------------------------------------
def test_divergence_names_inner_lr_and_step():
    net = sinusoid_mlp(seed=0)
    episode = SinusoidTasks(seed=0).episode(0, k_shot=10)
    with pytest.raises(InnerLoopDivergedError, match=r"after \d+ of 10 inner steps.*inner_lr=50"):
        adapt(functional_loss(net, "mse"), dict(net.named_parameters()), episode.support, 50.0, 10)
    with pytest.raises(InnerLoopDivergedError, match="after 0 of 3 inner steps.*nan.*inner_lr=0.1"):
        adapt(lambda p, d: p["0.bias"].sum() * float("nan"), dict(net.named_parameters()), episode.support, 0.1, 3)
    assert issubclass(InnerLoopDivergedError, ValueError)


def test_bad_arguments_raise_clear_errors():
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
        select_params(_tiny_encoder(), "top9")
    with pytest.raises(ValueError, match="which='middle'"):
        select_params(net, "middle")


def test_second_order_through_fused_attention_says_what_to_do():
    model = _tiny_encoder()
    loss_fn = TextClassifierLoss(model, attention_impl="fused")
    params = dict(model.named_parameters())
    with pytest.raises(ValueError, match="attention_impl='explicit'"):
        maml_step(loss_fn, params, [_text_episode()], 0.1, 1)
    maml_step(loss_fn, params, [_text_episode()], 0.1, 1, first_order=True)  # first order is fine


def test_adapt_names_freeze_the_rest():
    net = sinusoid_mlp(seed=0)
    params = dict(net.named_parameters())
    head = select_params(net, "head")
    assert head == ["4.weight", "4.bias"] and select_params(net, "top2") == ["2.weight", "2.bias"] + head
    traj = adapt(functional_loss(net, "mse"), params, SinusoidTasks().episode(0, 10).support, 0.01, 3, adapt_names=head)
    assert len(traj.params) == 4 and len(traj.support_losses) == 4
    assert all(traj.adapted[n] is params[n] for n in params if n not in head)
    assert all(not torch.equal(traj.adapted[n], params[n]) for n in head)


def test_select_params_on_encoder():
    model = _tiny_encoder()
    all_names = select_params(model, "all")
    assert all_names[-2:] == list(EPISODE_HEAD_NAMES) and "embeddings.tok_emb.weight" in all_names
    assert not any(n.startswith(("mlm_head.", "cls_head.")) for n in all_names)
    top1 = select_params(model, "top1")
    assert top1[:-2] and all(n.startswith("blocks.1.") for n in top1[:-2])
    assert select_params(model, "head") == list(EPISODE_HEAD_NAMES)
    cls_names = [n for n, _ in model.named_parameters() if n.startswith("cls_head.")]
    assert select_params(model, "head", head_names=cls_names) == cls_names


def test_learned_inner_lrs_get_meta_gradients():
    net, ep = _linear(), _linreg_episode(0)
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
# Text heads and baselines
# ---------------------------------------------------------------------------------------
def test_text_heads_zero_and_proto_init():
    model = _tiny_encoder()
    episode = _text_episode()
    params = dict(model.named_parameters())
    zero = TextClassifierLoss(model, head_init="zero")
    theta = zero.episode_params(params, episode)
    assert float(theta["head.weight"].abs().sum()) == 0.0
    assert torch.allclose(zero(theta, episode.query), torch.log(torch.tensor(3.0)))  # uniform prediction
    proto = TextClassifierLoss(model, head_init="proto", pooling="mean")
    logits = proto.outputs(proto.episode_params(params, episode), episode.query)
    protonet = ProtoNet(model, pooling="mean", attention_impl="explicit")
    # W = 2c, b = −‖c‖² gives −‖f − c‖² + ‖f‖²: the same softmax as the prototypical network
    assert torch.allclose(logits.softmax(-1), protonet.logits(params, episode).softmax(-1), atol=1e-5)
    # MAML through the encoder and the fresh head: the meta-gradient reaches the adapted layers
    names = select_params(model, "top1")
    _, grads = maml_step(zero, params, [episode], 0.5, 1, adapt_names=names)
    assert "blocks.1.ffn.up.weight" in grads and "head.weight" not in grads
    assert float(grads["blocks.1.ffn.up.weight"].abs().sum()) > 0


def test_prototypes_and_protonet_on_blobs():
    feats = torch.tensor([[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]])
    assert torch.equal(prototypes(feats, torch.tensor([0, 0, 1]), 2), torch.tensor([[1.0, 0.0], [10.0, 10.0]]))
    with pytest.raises(ValueError, match="no example of class"):
        prototypes(feats, torch.tensor([0, 0, 0]), 2)
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 4, generator=g) * 5
    support = centres.repeat_interleave(2, 0) + 0.1 * torch.randn(6, 4, generator=g)
    query = centres.repeat_interleave(3, 0) + 0.1 * torch.randn(9, 4, generator=g)
    ep = Episode(support, torch.arange(3).repeat_interleave(2), query, torch.arange(3).repeat_interleave(3),
                 classes=["a", "b", "c"])
    assert ProtoNet(nn.Identity()).accuracy({}, ep) == 1.0


def test_evaluation_curve_matches_trajectory():
    net = sinusoid_mlp(seed=0)
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    episodes = [SinusoidTasks(seed=1).episode(i, 5) for i in range(10)]
    curve = evaluate_adaptation(loss_fn, params, episodes, 0.01, 3)
    assert curve.steps == [0, 1, 2, 3] and curve.n_episodes == 10 and curve.metric == "mse"
    traj = finetune(loss_fn, params, episodes[4], 0.01, 3)
    expected = [float(loss_fn(p, episodes[4].query)) for p in traj.params]
    assert curve.per_episode[4] == pytest.approx(expected, rel=1e-6)
    assert curve.at(0)[0] == pytest.approx(sum(r[0] for r in curve.per_episode) / 10)
    assert all(h > 0 for h in curve.ci) and curve.format(1).count("±") == 1
    assert net.training  # the mode is restored
    text_model = _tiny_encoder()
    text = evaluate_adaptation(TextClassifierLoss(text_model), dict(text_model.named_parameters()),
                               [_text_episode(i) for i in range(3)], 0.5, 2)
    assert text.metric == "accuracy" and all(0.0 <= m <= 1.0 for m in text.mean)


# ---------------------------------------------------------------------------------------
# Training loops
# ---------------------------------------------------------------------------------------
def test_trainers_run_and_are_seeded():
    tasks = SinusoidTasks(seed=0)

    def run(train, **kwargs):
        net = sinusoid_mlp(seed=0)
        history = train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 10), steps=5, **kwargs)
        return history, _snapshot(net)

    for train, kwargs in ((meta_train, dict(meta_batch_size=2)), (reptile_train, dict(meta_batch_size=2)),
                          (multitask_pretrain, dict(tasks_per_step=2))):
        (h1, s1), (h2, s2) = run(train, **kwargs), run(train, **kwargs)
        assert h1.steps == [1, 2, 3, 4, 5] and h1.meta_loss == h2.meta_loss
        assert all(torch.equal(s1[n], s2[n]) for n in s1)
        assert not all(torch.equal(s1[n], v) for n, v in _snapshot(sinusoid_mlp(seed=0)).items())
    net = sinusoid_mlp(seed=0)
    history = meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 10), steps=None,
                         time_budget=0.2, meta_batch_size=2)
    assert 1 <= len(history.steps) and history.seconds[-1] >= 0.2
    with pytest.raises(ValueError, match="steps, time_budget or both"):
        meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 10), steps=None)


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
