"""Tests of `metalearn_edu.meta.outer_loop` through the trainers that share it (MAML, Reptile, multi-task)."""

from __future__ import annotations

import time

import pytest
import torch

from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import functional_loss, meta_train, multitask_pretrain, reptile_train, sinusoid_mlp

from helpers import snapshot


def test_trainers_run_and_are_seeded():
    tasks = SinusoidTasks(seed=0)

    def run(train, **kwargs):
        net = sinusoid_mlp(seed=0)
        history = train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 10), steps=5, **kwargs)
        return history, snapshot(net)

    for train, kwargs in ((meta_train, dict(meta_batch_size=2)), (reptile_train, dict(meta_batch_size=2)),
                          (multitask_pretrain, dict(tasks_per_step=2))):
        (h1, s1), (h2, s2) = run(train, **kwargs), run(train, **kwargs)
        assert h1.steps == [1, 2, 3, 4, 5] and h1.meta_loss == h2.meta_loss
        assert all(torch.equal(s1[n], s2[n]) for n in s1)
        assert not all(torch.equal(s1[n], v) for n, v in snapshot(sinusoid_mlp(seed=0)).items())
    net = sinusoid_mlp(seed=0)
    history = meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 10), steps=None,
                         time_budget=0.2, meta_batch_size=2)
    assert 1 <= len(history.steps) and history.seconds[-1] >= 0.2
    with pytest.raises(ValueError, match="steps, time_budget or both"):
        meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 10), steps=None)


def test_the_last_step_is_recorded_whatever_log_every_says():
    """A run stopped by its budget between two logged steps still reports how many steps it took."""
    tasks = SinusoidTasks(seed=0)
    net = sinusoid_mlp(seed=0)
    calls = []

    def episodes(i):
        calls.append(i)
        return tasks.episode(i, 10)

    history = meta_train(net, functional_loss(net, "mse"), episodes, steps=7, meta_batch_size=1, log_every=5)
    assert history.steps == [5, 7] and len(calls) == 7
    history = meta_train(net, functional_loss(net, "mse"), episodes, steps=10, meta_batch_size=1, log_every=5)
    assert history.steps == [5, 10]  # no double record when the last step is a logged one


def test_the_outer_adam_is_adams_update():
    """`outer_adam` (one fused kernel where torch has one) moves the parameters as torch's default Adam."""
    from metalearn_edu.meta.outer_loop import outer_adam

    g = torch.Generator().manual_seed(0)
    start = [torch.randn(40, 40, generator=g), torch.randn(40, generator=g)]
    grads = [[torch.randn(p.shape, generator=g) for p in start] for _ in range(3)]
    moved = []
    for make in (lambda ps: outer_adam(ps, 1e-2), lambda ps: torch.optim.Adam(ps, lr=1e-2)):
        params = [p.clone().requires_grad_() for p in start]
        optimizer = make(params)
        for step in grads:
            for p, grad in zip(params, step):
                p.grad = grad.clone()
            optimizer.step()
        moved.append(params)
    assert outer_adam([start[0].clone().requires_grad_()], 1e-2).defaults["fused"]  # the fused kernel on a CPU
    for fused, plain, p0 in zip(*moved, start):
        assert not torch.equal(plain, p0)
        torch.testing.assert_close(fused, plain, atol=1e-6, rtol=1e-5)


def test_the_progress_bar_redraws_at_its_own_pace(monkeypatch):
    """A fast loop must not redraw its bar every step: in a notebook each redraw is a message to the
    browser, and hundreds a second flood the kernel's output channel (and slow the loop)."""
    import tqdm.auto
    from tqdm.std import tqdm as plain_tqdm

    redraws = []

    class CountingBar(plain_tqdm):
        def refresh(self, *args, **kwargs):
            redraws.append(1)
            return super().refresh(*args, **kwargs)

    monkeypatch.setattr(tqdm.auto, "tqdm", CountingBar)
    tasks = SinusoidTasks(seed=0)
    net = sinusoid_mlp(seed=0)
    start = time.perf_counter()
    meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 5), steps=300, meta_batch_size=2,
               progress=True)
    elapsed = time.perf_counter() - start
    # tqdm redraws at most every `mininterval` (0.1 s, its default): a bound in time, not in steps, so the
    # test holds on a loaded machine too (where 300 steps may take seconds)
    assert 0 < len(redraws) <= elapsed / 0.1 + 3, \
        f"{len(redraws)} redraws for 300 steps in {elapsed:.2f} s"


def test_a_diverging_inner_loop_stops_training_or_its_step_is_skipped():
    """Step 3's two tasks (episodes 4 and 5) have their targets scaled ×300: five inner steps at α = 0.01
    blow up. "raise" stops; "skip" leaves θ exactly where the first two steps put it and lists step 3."""
    from metalearn_edu.episodes import Episode
    from metalearn_edu.meta import InnerLoopDivergedError

    tasks = SinusoidTasks(seed=0)

    def episodes(i):
        e = tasks.episode(i, 10)
        return Episode(e.support_x, e.support_y * 300, e.query_x, e.query_y * 300) if i in (4, 5) else e

    for train, kwargs in ((reptile_train, dict(inner_steps=5, anneal=False)), (meta_train, dict(inner_steps=5))):
        def run(steps, **more):
            net = sinusoid_mlp(seed=0)
            history = train(net, functional_loss(net, "mse"), episodes, steps=steps, meta_batch_size=2,
                            inner_lr=0.01, **kwargs, **more)
            return history, snapshot(net)

        with pytest.raises(InnerLoopDivergedError, match="task 0 of the meta-batch"):
            run(3)
        skipping, after_skip = run(3, on_divergence="skip")
        _, two_steps = run(2)
        assert skipping.skipped == [3] and skipping.steps == [1, 2]
        assert all(torch.equal(after_skip[n], two_steps[n]) for n in two_steps)  # the skipped step changed nothing
        on, _ = run(4, on_divergence="skip")
        assert on.skipped == [3] and on.steps == [1, 2, 4] and on.settings["on_divergence"] == "skip"
    with pytest.raises(ValueError, match="on_divergence"):
        run(1, on_divergence="ignore")
