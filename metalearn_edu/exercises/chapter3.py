"""The exercise checks of Chapter 3 — MAML on sinusoids.

* 3.1 ★ `check_quadratic_meta_gradient`: the one-step meta-gradient of 1-D quadratic losses.
* 3.2 ★★ `check_first_order_step`: first-order MAML's meta-gradient, by hand.
* 3.3 ★★★ `check_meta_sgd_lr_gradient`: the meta-gradient of Meta-SGD's learned inner learning rates.
"""

from __future__ import annotations

from typing import Callable

import torch

from .framework import ExerciseFailed, expect, ok, run_student, without


def check_quadratic_meta_gradient(fn: Callable[..., float]) -> None:
    """Exercise 3.1: d/dθ of the query loss after one inner step, for 1-D quadratic losses.

    Support loss ½·a·(θ − s)², query loss ½·b·(θ − q)², one inner step of size α:
    `fn(theta, a, s, b, q, alpha)` must return d L_query(φ(θ)) / dθ.
    """
    gen = torch.Generator().manual_seed(5)
    for _ in range(6):
        theta, a, s, b, q, alpha = (torch.rand(6, generator=gen) * 4 - 1).tolist()
        a, b, alpha = abs(a) + 0.1, abs(b) + 0.1, 0.05 + abs(alpha) / 6
        t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        phi = t - alpha * a * (t - s)
        (grad,) = torch.autograd.grad(0.5 * b * (phi - q) ** 2, t)
        got = float(run_student(fn, theta, a, s, b, q, alpha))
        first_order = b * (phi.detach().item() - q)
        if abs(got - float(grad)) > 1e-6 * max(1.0, abs(float(grad))):
            hint = (" — that is the first-order answer b·(φ − q): you dropped the factor dφ/dθ = 1 − α·a"
                    if abs(got - first_order) < 1e-6 else
                    ". Hint: φ = θ − α·a·(θ − s); the chain rule gives b·(φ − q)·dφ/dθ")
            raise ExerciseFailed(f"for θ={theta:.2f}, a={a:.2f}, s={s:.2f}, b={b:.2f}, q={q:.2f}, α={alpha:.3f}: "
                                 f"expected {float(grad):.4f}, got {got:.4f}{hint}")
    ok("your meta-gradient includes the second-order factor (1 − α·a)")


def _sinusoid_problem(seed: int, n_episodes: int):
    """A fresh 1-40-40-1 network, its loss function and sinusoid episodes the notebook never drew."""
    from ..episodes import SinusoidTasks
    from ..meta import functional_loss, sinusoid_mlp

    net = sinusoid_mlp(seed=seed)
    tasks = SinusoidTasks(seed=1000 + seed)
    episodes = [tasks.episode(i, k_shot=int(5 + 3 * i), k_query=10) for i in range(n_episodes)]
    return net, functional_loss(net, "mse"), dict(net.named_parameters()), episodes


def _compare(got: object, want: dict[str, torch.Tensor], where: str, what: str, hints: dict[str, dict],
             default_hint: str) -> None:
    if not isinstance(got, dict):
        raise ExerciseFailed(f"{where}: return a dict name → gradient tensor; got {type(got).__name__}")
    for name, value in want.items():
        expect(name in got, f"{where}: your dict has no entry {name!r}; give one {what} per parameter name "
                            f"({', '.join(want)})")
        g = torch.as_tensor(got[name]).detach()
        expect(tuple(g.shape) == tuple(value.shape),
               f"{where}: {name!r} has shape {tuple(g.shape)}, expected {tuple(value.shape)}")
        if not torch.allclose(g.float(), value.float(), atol=1e-6, rtol=1e-4):
            hint = next((h for h, alt in hints.items() if torch.allclose(g.float(), alt[name].float(), atol=1e-6,
                                                                          rtol=1e-4)), None)
            raise ExerciseFailed(f"{where}: the {what} for {name!r} differs from the library's (largest difference "
                                 f"{(g - value).abs().max().item():.3g}, largest entry {value.abs().max().item():.3g})"
                                 + f". Hint: {hint or default_hint}")


def check_first_order_step(fn: Callable) -> None:
    """Exercise 3.2: `fn(loss_fn, params, episodes, inner_lr)` → dict of first-order MAML gradients (1 inner step).

    For each episode: φ = θ − α ∇L_support(θ) with the inner gradient treated as a constant, then
    ∇_φ L_query(φ); the result is the mean over the episodes. Compared with
    `maml_step(..., first_order=True)` on a network and tasks the notebook has not used.
    """
    from ..meta import maml_step

    for seed, n_episodes, inner_lr in ((31, 3, 0.01), (32, 2, 0.05)):
        net, loss_fn, params, episodes = _sinusoid_problem(seed, n_episodes)
        _, want = maml_step(loss_fn, params, episodes, inner_lr, 1, first_order=True, vectorize=False)
        _, second = maml_step(loss_fn, params, episodes, inner_lr, 1, vectorize=False)
        at_theta = {n: sum(torch.autograd.grad(loss_fn(params, ep.query), [p])[0] for ep in episodes) / n_episodes
                    for n, p in params.items()}
        with without(maml_step):
            got = run_student(fn, loss_fn, params, episodes, inner_lr)
        where = (f"for a fresh 1-40-40-1 network, {n_episodes} new sine episodes of "
                 f"{[len(ep.support_x) for ep in episodes]} support points and inner_lr={inner_lr}")
        _compare(got, want, where, "first-order meta-gradient", {
            "That is the second-order meta-gradient: detach the inner gradient (no create_graph) and differentiate "
            "the query loss with respect to φ": second,
            "That is the query gradient at θ: take one inner step first and differentiate at φ": at_theta,
        }, "for each episode take φ = θ − α ∇L_support(θ) with the gradient detached, then ∇_φ L_query(φ); "
           "average over the episodes")
    ok("your first-order MAML gradient equals maml_step(first_order=True) on new networks and tasks")


def check_meta_sgd_lr_gradient(fn: Callable) -> None:
    """Exercise 3.3: `fn(loss_fn, params, episode, inner_lrs)` → {name: dL_query(φ)/dα_name} for Meta-SGD.

    One inner step with a learned learning rate per parameter tensor, φ_n = θ_n − α_n ∇_n L_support(θ)
    (`metalearn_edu.meta.learnable_inner_lrs`). The result, one scalar per name, is compared with the
    ``"inner_lr.<name>"`` entries of `maml_step`'s meta-gradient, on a network and a task the notebook has
    not used.
    """
    from ..meta import learnable_inner_lrs, maml_step

    for seed, init in ((41, 0.01), (42, 0.03)):
        net, loss_fn, params, (episode,) = _sinusoid_problem(seed, 1)
        inner_lrs = learnable_inner_lrs(params, init=init)
        with torch.no_grad():  # a different rate per tensor, so a mixed-up name shows
            for i, lr in enumerate(inner_lrs.values()):
                lr.mul_(1 + 0.5 * i)
        _, grads = maml_step(loss_fn, params, [episode], inner_lrs, 1, vectorize=False)
        want = {n: grads[f"inner_lr.{n}"] for n in inner_lrs}
        flipped = {n: -g for n, g in want.items()}
        with without(maml_step):
            got = run_student(fn, loss_fn, params, episode, {n: lr.detach().clone().requires_grad_()
                                                             for n, lr in inner_lrs.items()})
        rates = ", ".join(f"{n}: {float(lr.detach()):.3f}" for n, lr in inner_lrs.items())
        where = f"for a fresh 1-40-40-1 network, a new sine task of {len(episode.support_x)} points and rates {rates}"
        _compare(got, want, where, "learning-rate gradient", {
            "The sign is flipped: φ_n = θ_n − α_n g_n, so dφ_n/dα_n = −g_n": flipped,
        }, "dL_query/dα_n = −⟨∇_(φ_n) L_query(φ), ∇_(θ_n) L_support(θ)⟩, one number per parameter tensor")
    ok("your Meta-SGD learning-rate gradients equal maml_step's (−⟨∇φ L_query, ∇θ L_support⟩ per tensor)")
