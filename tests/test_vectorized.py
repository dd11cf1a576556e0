"""The batched meta-batch path (`metalearn_edu.meta.vectorized`) equals the per-episode loop.

Every case runs the same call twice, ``vectorize=False`` (the loop) and ``vectorize=True``, and
compares meta-losses and meta-gradients (or Reptile's update, or evaluation curves) to float
tolerance: second and first order, Reptile, a subset of parameters adapting, learned inner
learning rates, tied weights, the text encoder with a prototype head (explicit attention for
second order, episodes of different lengths), and the fallback and error cases. The inner
gradient an MLP gets by hand-written backpropagation is checked against autograd's, task by task.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metalearn_edu.config import ModelConfig
from metalearn_edu.episodes import Episode, MetaBatch, SinusoidTasks
from metalearn_edu.meta import (
    InnerLoopDivergedError,
    TextClassifierLoss,
    evaluate_adaptation,
    functional_loss,
    learnable_inner_lrs,
    maml_step,
    meta_train,
    reptile_step,
    select_params,
    sinusoid_mlp,
)
from metalearn_edu.meta.text import evaluate_text_adaptation
from metalearn_edu.meta.vectorized import stack_episodes, stack_for
from metalearn_edu.model import BertEncoder

TINY = ModelConfig(vocab_size=60, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=16, dropout=0.0,
                   attn_dropout=0.0)


def _sine(seed=0, n=6, k=5):
    net = sinusoid_mlp(seed=seed)
    return net, functional_loss(net, "mse"), dict(net.named_parameters()), SinusoidTasks(seed=seed).batch(0, n, k)


def _assert_same(a, b, atol=1e-5):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    assert abs(float(loss_a) - float(loss_b)) < atol
    assert sorted(grads_a) == sorted(grads_b)
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=atol, rtol=1e-4, msg=name)


def _both(fn, *args, **kwargs):
    return fn(*args, vectorize=False, **kwargs), fn(*args, vectorize=True, **kwargs)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_maml_step_batched_equals_the_loop_on_sinusoids(first_order, inner_steps):
    _, loss_fn, params, episodes = _sine()
    _assert_same(*_both(maml_step, loss_fn, params, episodes, 0.01, inner_steps, first_order))


def test_a_subset_of_parameters_adapting():
    net, loss_fn, params, episodes = _sine()
    head = select_params(net, "head")
    _assert_same(*_both(maml_step, loss_fn, params, episodes, 0.05, 2, adapt_names=head))


@pytest.mark.parametrize("per_element", [False, True])
def test_learned_inner_learning_rates(per_element):
    _, loss_fn, params, episodes = _sine()
    rates = learnable_inner_lrs(params, init=0.02, per_element=per_element)
    loop, batched = _both(maml_step, loss_fn, params, episodes, rates, 2)
    _assert_same(loop, batched)
    assert any(name.startswith("inner_lr.") for name in batched[1])


def test_tied_weights_move_as_one():
    """Two layers sharing one weight: named_parameters lists it once, both paths adapt it once."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(),
                        nn.Linear(8, 1))
    net[4].weight = net[2].weight
    params = dict(net.named_parameters())
    assert "4.weight" not in params
    episodes = SinusoidTasks(seed=1).batch(0, 4, 5)
    _assert_same(*_both(maml_step, functional_loss(net, "mse"), params, episodes, 0.05, 2))


def _classifier(activation, seed=0, n_way=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), activation(), nn.Linear(16, 16), activation(), nn.Linear(16, n_way))


def _class_episodes(n=5, n_way=3, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [Episode(torch.randn(n_way * k, 4, generator=g), torch.arange(n_way).repeat(k),
                    torch.randn(n_way * k, 4, generator=g), torch.arange(n_way).repeat(k)) for _ in range(n)]


@pytest.mark.parametrize("kind", ["mse", "cross_entropy"])
@pytest.mark.parametrize("activation", [nn.ReLU, nn.Tanh, nn.Sigmoid, nn.Identity])
@pytest.mark.parametrize("stacked", [False, True])
def test_the_hand_written_inner_gradient_is_autograds(kind, activation, stacked):
    """`_mlp_task_gradients` gives every task's own gradient (times `scale`), for weights shared by the
    tasks or stacked per task, as `torch.autograd.grad` of that task's loss does."""
    from metalearn_edu.meta.vectorized import _backprop_plan, _mlp_task_gradients

    net = _classifier(activation)
    if kind == "mse":
        net[-1] = nn.Linear(16, 2)
    loss_fn = functional_loss(net, kind)
    episodes = _class_episodes()
    if kind == "mse":
        episodes = [Episode(e.support_x, torch.randn(len(e.support_x), 2), e.query_x, e.query_x[:, :2])
                    for e in episodes]
    batch = stack_episodes(episodes)
    B = len(episodes)
    g = torch.Generator().manual_seed(1)
    per_task = [{n: p.detach() + 0.1 * torch.randn(p.shape, generator=g) for n, p in net.named_parameters()}
                for _ in range(B)]
    params = ({n: torch.stack([t[n] for t in per_task]) for n in per_task[0]} if stacked
              else {n: p.detach() for n, p in net.named_parameters()})
    names = ["0.bias", "2.weight", "4.weight", "4.bias"]  # a subset: the layers in between still pass δ down
    plan = _backprop_plan(loss_fn, (batch.support_x, batch.support_y), names)
    assert plan is not None
    losses, grads = _mlp_task_gradients(loss_fn, plan, params, (batch.support_x, batch.support_y), names, scale=0.3)
    assert sorted(grads) == sorted(names)
    for b, episode in enumerate(episodes):
        theta = {n: (v[b] if stacked else v).clone().requires_grad_() for n, v in params.items()}
        loss = loss_fn(theta, episode.support)
        expected = torch.autograd.grad(loss, [theta[n] for n in names])
        assert float(losses[b]) == pytest.approx(loss.item(), rel=1e-5, abs=1e-6)
        for n, e in zip(names, expected):
            torch.testing.assert_close(grads[n][b], 0.3 * e, atol=1e-6, rtol=1e-4, msg=n)


@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize("activation", [nn.Tanh, nn.Sigmoid, nn.GELU])
def test_a_classifier_mlp_equals_the_loop(first_order, activation):
    """Cross-entropy MLPs: by hand-written backward (Tanh, Sigmoid) and by autograd (GELU, whose
    derivative the hand-written backward does not know), second and first order, and Reptile."""
    from metalearn_edu.meta.vectorized import _backprop_plan

    net = _classifier(activation)
    loss_fn = functional_loss(net, "cross_entropy")
    episodes = _class_episodes()
    assert (_backprop_plan(loss_fn, (episodes[0].support_x, episodes[0].support_y), list(dict(net.named_parameters())))
            is None) == (activation is nn.GELU)
    params = dict(net.named_parameters())
    _assert_same(*_both(maml_step, loss_fn, params, episodes, 0.3, 2, first_order))
    _assert_same(*_both(maml_step, loss_fn, params, episodes, 0.3, 2, first_order, adapt_names=["2.weight"]))
    _, delta_loop = reptile_step(loss_fn, {n: p.detach().clone() for n, p in params.items()}, episodes, 0.3, 2, 1.0,
                                 vectorize=False)
    _, delta_batched = reptile_step(loss_fn, {n: p.detach().clone() for n, p in params.items()}, episodes, 0.3, 2,
                                    1.0, vectorize=True)
    for name in delta_loop:
        torch.testing.assert_close(delta_loop[name], delta_batched[name], atol=1e-6, rtol=1e-4)


def test_a_zero_inner_learning_rate_is_no_step():
    """α = 0 (the rate folded into the hand-written backward): φ = θ, and both paths agree."""
    _, loss_fn, params, episodes = _sine()
    loop, batched = _both(maml_step, loss_fn, params, episodes, 0.0, 2)
    _assert_same(loop, batched)
    no_steps = maml_step(loss_fn, params, episodes, 0.01, 0, vectorize=True)
    _assert_same(batched, no_steps)


def test_reptile_step_batched_equals_the_loop():
    net_a, loss_a, params_a, episodes = _sine()
    net_b, loss_b, params_b, _ = _sine()
    query_a, delta_a = reptile_step(loss_a, params_a, episodes, 0.02, 3, 0.5, vectorize=False)
    query_b, delta_b = reptile_step(loss_b, params_b, episodes, 0.02, 3, 0.5, vectorize=True)
    assert query_a == pytest.approx(query_b, abs=1e-5)
    for name in delta_a:
        torch.testing.assert_close(delta_a[name], delta_b[name], atol=1e-6, rtol=1e-4)
        torch.testing.assert_close(params_a[name], params_b[name], atol=1e-6, rtol=1e-4)


def _text_episode(seed, n_way=3, k=2, q=2, length=10):
    """Random token sequences with some padding; each episode has its own longest length."""
    g = torch.Generator().manual_seed(seed)

    def side(m):
        x = torch.randint(5, TINY.vocab_size, (n_way * m, length), generator=g)
        x[:, 0] = 2
        mask = torch.ones_like(x)
        for i, n in enumerate(torch.randint(4, length + 1, (n_way * m,), generator=g).tolist()):
            mask[i, n:] = 0
            x[i, n:] = 0
        return x, torch.arange(n_way).repeat_interleave(m), mask

    (sx, sy, sm), (qx, qy, qm) = side(k), side(q)
    return Episode(sx, sy, qx, qy, sm, qm, classes=[f"c{i}" for i in range(n_way)])


def _encoder(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertEncoder(TINY, attention_impl="explicit")


@pytest.mark.parametrize("first_order,impl", [(False, "explicit"), (True, "fused")])
def test_text_encoder_with_prototype_head(first_order, impl):
    model = _encoder()
    episodes = [_text_episode(s, length=8 + s) for s in range(4)]  # different lengths: padded when stacked
    assert stack_episodes(episodes) is not None
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl=impl)
    params = dict(model.named_parameters())
    names = select_params(model, "top1")
    _assert_same(*_both(maml_step, loss_fn, params, episodes, 0.1, 2, first_order, names), atol=2e-5)


def test_evaluation_curves_are_the_same():
    net, loss_fn, params, _ = _sine()
    episodes = SinusoidTasks(seed=7).batch(0, 20, 5)
    loop, batched = _both(evaluate_adaptation, loss_fn, params, episodes, 0.02, 4, chunk_size=8)
    for a, b in zip(loop.per_episode, batched.per_episode):
        assert a == pytest.approx(b, abs=1e-5)
    assert loop.support_loss == pytest.approx(batched.support_loss, abs=1e-5)


def test_text_protocol_is_the_same():
    model = _encoder().eval()
    episodes = [_text_episode(s, length=8 + s % 3) for s in range(6)]
    loop = evaluate_text_adaptation(model, episodes, 0.1, 3, vectorize=False)
    batched = evaluate_text_adaptation(model, episodes, 0.1, 3, vectorize=True)
    for a, b in zip(loop.per_episode, batched.per_episode):
        assert a == pytest.approx(b, abs=1e-6)


def test_automatic_choice_and_fallbacks():
    net, loss_fn, params, episodes = _sine()
    assert stack_for(loss_fn, episodes, None) is not None  # same shapes: batched
    mixed = episodes[:2] + [SinusoidTasks(seed=3).episode(0, k_shot=7)]
    assert stack_for(loss_fn, mixed, None) is None  # different K: the loop
    maml_step(loss_fn, params, mixed, 0.01, 1)  # ... and it still works
    with pytest.raises(ValueError, match="cannot be stacked"):
        maml_step(loss_fn, params, mixed, 0.01, 1, vectorize=True)
    assert stack_for(lambda p, d: loss_fn(p, d), episodes, None) is None  # unknown loss functions: the loop
    e = episodes[2]
    doubled = episodes[:2] + [Episode(e.support_x.double(), e.support_y.double(), e.query_x.double(), e.query_y.double())]
    assert stack_episodes(doubled) is None  # same shapes, another dtype: not stackable
    model = BertEncoder(TINY.replace(dropout=0.1)).train()
    text = [_text_episode(s) for s in range(3)]
    assert stack_for(TextClassifierLoss(model), text, None) is None  # active dropout: the loop


def test_divergence_is_caught_on_the_batched_path():
    _, loss_fn, params, episodes = _sine()
    with pytest.raises(InnerLoopDivergedError, match="task"):
        maml_step(loss_fn, params, episodes, 1e3, 1, vectorize=True)
    with pytest.raises(InnerLoopDivergedError):
        reptile_step(loss_fn, params, episodes, 1e3, 2, 0.1, vectorize=True)


def test_meta_training_is_the_same_either_way():
    nets = []
    for vectorize in (False, True):
        net = sinusoid_mlp(seed=2)
        tasks = SinusoidTasks(seed=4)
        history = meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 5), steps=5,
                             meta_batch_size=4, vectorize=vectorize)
        nets.append((net, history))
    (a, ha), (b, hb) = nets
    assert ha.meta_loss == pytest.approx(hb.meta_loss, abs=1e-5)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)


def test_a_stacked_meta_batch_gives_the_list_results_on_both_paths():
    """A MetaBatch (the episodes already stacked) is a sequence of the same episodes, and both
    paths give the list's meta-loss and meta-gradients; Reptile takes it too."""
    _, loss_fn, params, episodes = _sine()
    batch = SinusoidTasks(seed=0).batch(0, 6, 5, stacked=True)
    assert isinstance(batch, MetaBatch) and len(batch) == 6 and batch.stacked.support_x.shape == (6, 5, 1)
    for i in (0, 5, -1):
        assert torch.equal(batch[i].query_y, episodes[i].query_y) and batch[i].info == episodes[i].info
    reference = maml_step(loss_fn, params, episodes, 0.01, 2, vectorize=False)
    _assert_same(reference, maml_step(loss_fn, params, batch, 0.01, 2))                   # batched, no stacking
    _assert_same(reference, maml_step(loss_fn, params, batch, 0.01, 2, vectorize=False))  # the loop reads it too
    _, loss_a, params_a, _ = _sine()
    _, loss_b, params_b, _ = _sine()
    reptile_step(loss_a, params_a, episodes, 0.02, 3, 0.5, vectorize=False)
    reptile_step(loss_b, params_b, batch, 0.02, 3, 0.5)
    for name in params_a:
        torch.testing.assert_close(params_b[name], params_a[name], atol=1e-6, rtol=1e-4)
    assert stack_for(loss_fn, batch, None) is batch.stacked
    with pytest.raises(IndexError):
        batch[6]


def test_episodes_that_cannot_stack_are_refused_by_name():
    _, _, _, episodes = _sine()
    other_k = SinusoidTasks(seed=0).batch(10, 1, 3)
    with pytest.raises(ValueError, match="cannot be stacked"):
        MetaBatch.from_episodes(episodes + other_k)


def test_the_batched_divergence_check_is_the_loops_rule():
    """`_check_tasks` flags exactly the tasks `has_diverged` flags, and names the first one."""
    from metalearn_edu.meta.inner_loop import has_diverged
    from metalearn_edu.meta.vectorized import _check_tasks

    initial = [1.1, 0.001, 2.0, 1.0, 5.0]
    cases = [torch.tensor([2.0, 12.0, 150.0, 0.5, 4.0]),      # 12 is 12,000× but only 12 above: fine
             torch.tensor([2.0, 1.0, 250.0, 0.5, 4.0]),       # task 2: 125× and 248 above
             torch.tensor([2.0, 1.0, 3.0, float("nan"), 4.0])]  # task 3: not finite
    for values in cases:
        flagged = [b for b, (v, i) in enumerate(zip(values.tolist(), initial)) if has_diverged(v, i)]
        if not flagged:
            assert _check_tasks(values, initial, 1, 1, 0.1, "query") == values.tolist()
            continue
        with pytest.raises(InnerLoopDivergedError, match=f"on task {flagged[0]} of the meta-batch"):
            _check_tasks(values, initial, 1, 1, 0.1, "query")
    with pytest.raises(InnerLoopDivergedError, match="task 1"):
        _check_tasks(torch.tensor([1.0, float("inf")]), None, 0, 1, 0.1, "support")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("first_order", [False, True])
def test_the_batched_path_on_cuda_gives_the_cpu_results(first_order):
    """On a GPU the batched path (always taken there) gives the CPU loop's meta-loss and gradients, for
    the sinusoid MLP (hand-written inner gradient) and the text encoder (vmap), and trains with Adam."""
    net, loss_fn, params, episodes = _sine()
    cpu = maml_step(loss_fn, params, episodes, 0.01, 2, first_order, vectorize=False)
    net_gpu = sinusoid_mlp(seed=0).cuda()
    gpu_episodes = [e.to("cuda") for e in episodes]
    assert stack_for(functional_loss(net_gpu, "mse"), gpu_episodes, None) is not None
    loss, grads = maml_step(functional_loss(net_gpu, "mse"), dict(net_gpu.named_parameters()), gpu_episodes, 0.01, 2,
                            first_order)
    _assert_same(cpu, (loss, {n: g.cpu() for n, g in grads.items()}), atol=1e-4)
    model = _encoder()
    text = [_text_episode(s, length=8 + s) for s in range(4)]
    names = select_params(model, "top1")
    impl = "fused" if first_order else "explicit"
    cpu = maml_step(TextClassifierLoss(model, head_init="proto", attention_impl=impl), dict(model.named_parameters()),
                    text, 0.1, 2, first_order, names, vectorize=False)
    model_gpu = _encoder().cuda()
    loss, grads = maml_step(TextClassifierLoss(model_gpu, head_init="proto", attention_impl=impl),
                            dict(model_gpu.named_parameters()), [e.to("cuda") for e in text], 0.1, 2, first_order, names)
    _assert_same(cpu, (loss, {n: g.cpu() for n, g in grads.items()}), atol=1e-4)
    tasks = SinusoidTasks(seed=4)
    history = meta_train(net_gpu, functional_loss(net_gpu, "mse"), lambda i: tasks.episode(i, 5).to("cuda"), steps=3,
                         meta_batch_size=4)
    assert len(history.meta_loss) == 3 and all(p.is_cuda for p in net_gpu.parameters())
