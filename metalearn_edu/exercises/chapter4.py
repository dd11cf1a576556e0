"""The exercise checks of Chapter 4 — Reptile.

* 4.1 ★★ `check_reptile_update`: one Reptile outer step, by hand.
* 4.2 ★★★ `check_line_meta_gradient`: the K-step MAML meta-gradient of a 2-D line task, checked
  against the closed form of `metalearn_edu.meta.line_tasks`.
"""

from __future__ import annotations

from typing import Callable

import torch

from .framework import ExerciseFailed, expect, ok, run_student, without


def _random_line_tasks(gen: torch.Generator, n: int):
    """`n` line tasks along the sides of a random polygon, with random steepnesses in [0.1, 2]."""
    from ..meta.line_tasks import line_tasks

    while True:
        corners = (torch.rand(n, 2, generator=gen) * 6 - 3).tolist()
        steepness = (torch.rand(n, generator=gen) * 1.9 + 0.1).tolist()
        try:
            return line_tasks([round(s, 3) for s in steepness], corners)
        except ValueError:  # two corners coincide: draw again
            continue


def check_reptile_update(fn: Callable) -> None:
    """Exercise 4.1: `fn(loss_fn, params, episodes, inner_lr, inner_steps, eps)` → θ after one Reptile step.

    Returns a new dict θ + ε·(mean_i φ̃_i − θ), where φ̃_i is θ after `inner_steps` SGD steps on
    ``episodes[i].support``; `params` itself should be left unchanged. Compared with
    `metalearn_edu.meta.reptile_step` on random 2-D line tasks and on a small network with sine tasks.
    """
    from ..episodes import SinusoidTasks
    from ..meta import functional_loss, reptile_step
    from ..meta.line_tasks import line_task_loss
    from ..meta.vectorized import reptile_step_batched

    gen = torch.Generator().manual_seed(51)
    cases = []
    for inner_steps, eps, inner_lr in ((1, 0.5, 0.3), (3, 0.1, 0.2), (5, 1.0, 0.4)):
        tasks = _random_line_tasks(gen, 3)
        start = {"theta": torch.rand(2, generator=gen) * 4 - 2}
        cases.append((line_task_loss, start, tasks, inner_lr, inner_steps, eps,
                      f"3 random line tasks (steepness {', '.join(f'{t.steepness:g}' for t in tasks)}), θ = "
                      f"{[round(float(x), 3) for x in start['theta']]}"))
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    sine = SinusoidTasks(seed=5151)
    cases.append((functional_loss(net, "mse"), {n: p.detach().clone() for n, p in net.named_parameters()},
                  [sine.episode(i, k_shot=10) for i in range(4)], 0.02, 4, 0.3,
                  "a 1-8-1 network and 4 sine tasks"))
    for loss_fn, start, episodes, inner_lr, inner_steps, eps, what in cases:
        want = {n: p.clone() for n, p in start.items()}
        reptile_step(loss_fn, want, episodes, inner_lr, inner_steps, eps, vectorize=False)
        one_step = {n: p.clone() for n, p in start.items()}
        reptile_step(loss_fn, one_step, episodes, inner_lr, 1, eps, vectorize=False)
        given = {n: p.clone() for n, p in start.items()}
        with without(reptile_step, reptile_step_batched):
            got = run_student(fn, loss_fn, given, episodes, inner_lr, inner_steps, eps)
        where = f"for {what}, inner_lr={inner_lr}, {inner_steps} inner step(s) and ε={eps}"
        if not isinstance(got, dict):
            raise ExerciseFailed(f"{where}: return the new θ as a dict name → tensor; got {type(got).__name__}")
        for name, value in want.items():
            expect(name in got, f"{where}: your θ has no entry {name!r}")
            g = torch.as_tensor(got[name]).detach()
            if not torch.allclose(g, value, atol=1e-5, rtol=1e-5):
                if torch.allclose(g, start[name] + (start[name] - value), atol=1e-5, rtol=1e-5):
                    hint = "you moved θ away from the adapted weights; the step is θ + ε·(φ̃ − θ)"
                elif inner_steps > 1 and torch.allclose(g, one_step[name], atol=1e-5, rtol=1e-5):
                    hint = f"you took one inner step; take {inner_steps} SGD steps on each support set"
                else:
                    hint = "adapt every task from the same θ, average the adapted weights, then move θ a fraction ε"
                raise ExerciseFailed(f"{where}: {name!r} should be {value.flatten()[:4].tolist()}…, got "
                                     f"{g.flatten()[:4].tolist()}…. Hint: {hint}")
        for name, p in start.items():
            expect(torch.equal(given[name], p), f"{where}: your function changed params[{name!r}] in place; return "
                                                "a new dict and leave θ as it was")
    ok("your Reptile step matches reptile_step on random line tasks (1, 3, 5 inner steps) and on a network")


def check_line_meta_gradient(fn: Callable) -> None:
    """Exercise 4.2: `fn(theta, task, inner_lr, inner_steps)` → ∇θ L(φ_K(θ)) for one line task, a (2,) tensor.

    φ_K is θ after K SGD steps of size α on the task's loss ½ (θ − c)ᵀ A (θ − c). Compared with the
    closed form of `metalearn_edu.meta.line_tasks`: with B = (I − αA)^K, φ_K − c = B(θ − c) and the
    meta-gradient is Bᵀ A B (θ − c) — the product of K factors (I − αA) of the chain rule.
    """
    from ..meta import adapt, maml_step
    from ..meta.line_tasks import adaptation_matrix, loss_after_adaptation, maml_fixed_point

    gen = torch.Generator().manual_seed(52)
    for trial in range(6):
        (task,) = _random_line_tasks(gen, 2)[:1]
        inner_lr = float(torch.rand(1, generator=gen)) * 0.8 / task.steepness + 0.05
        inner_steps = int(torch.randint(1, 7, (1,), generator=gen))
        theta = torch.rand(2, generator=gen) * 6 - 3
        A = task.curvature.double()
        d = (theta - task.centre).double()
        B = adaptation_matrix(task, inner_lr, inner_steps)
        want = B.T @ A @ B @ d
        first_order = A @ B @ d
        one_factor = (torch.eye(2, dtype=torch.float64) - inner_lr * A) @ A @ B @ d
        with without(adapt, maml_step, adaptation_matrix, loss_after_adaptation, maml_fixed_point):
            got = run_student(fn, theta.clone(), task, inner_lr, inner_steps)
        where = (f"for the line task c = {[round(float(x), 3) for x in task.centre]}, n = "
                 f"{[round(float(x), 3) for x in task.normal]}, λ = {task.steepness:g}, θ = "
                 f"{[round(float(x), 3) for x in theta]}, α = {inner_lr:.3f}, K = {inner_steps}")
        if not isinstance(got, torch.Tensor) or got.numel() != 2:
            raise ExerciseFailed(f"{where}: return the gradient as a tensor of 2 numbers; got {got!r}")
        g = got.detach().double().reshape(2)
        scale = float(want.abs().max()) + 1e-6

        def near(x: torch.Tensor) -> bool:
            return float((g - x).abs().max()) <= 1e-4 * scale + 1e-6

        if not near(want):
            if near(first_order):
                hint = ("that is the first-order answer ∇L(φ_K): multiply it by (I − αA) once for every inner step, "
                        "from the last step back to the first")
            elif inner_steps > 1 and near(one_factor):
                hint = f"you used one factor (I − αA); the chain rule through {inner_steps} steps gives {inner_steps}"
            else:
                hint = ("take the K steps φ_(k+1) = φ_k − αA(φ_k − c), start from ∇L(φ_K) = A(φ_K − c), then apply "
                        "(I − αA) K times")
            raise ExerciseFailed(f"{where}: expected {[round(float(x), 6) for x in want]}, got "
                                 f"{[round(float(x), 6) for x in g]}. Hint: {hint}")
    ok("your K-step meta-gradient equals the closed form (I − αA)^K A (I − αA)^K (θ − c) on 6 random tasks")
