"""The exercise checks of Chapter 5 — few-shot text classification.

* 5.1 ★ `check_proto_head`: the prototype-initialised linear head (W_k = 2c_k, b_k = −‖c_k‖²).
* 5.2 ★★ `check_protonet_loss`: the prototypical-network training loss, value and gradient.
* 5.3 ★★ `check_seed_interval`: the paired difference over seeds and its t-interval.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from .framework import ExerciseFailed, expect, ok, run_student, without


def check_proto_head(fn: Callable[[torch.Tensor, torch.Tensor, int], tuple]) -> None:
    """Exercise 5.1: `fn(features, labels, n_way)` → (W, b) of the prototype-initialised head.

    Shapes: features (M, D), labels (M,), W (N, D), b (N,). With W_k = 2c_k and b_k = −‖c_k‖²
    the logits W f + b rank classes exactly like −‖f − c_k‖².
    """
    from ..meta import prototypes, squared_distances

    gen = torch.Generator().manual_seed(7)
    for n_way, k_shot, dim in ((3, 4, 6), (5, 1, 16)):
        features = torch.randn(n_way * k_shot, dim, generator=gen)
        labels = torch.arange(n_way).repeat(k_shot)[torch.randperm(n_way * k_shot, generator=gen)]
        c = prototypes(features, labels, n_way)
        with without(prototypes, squared_distances):
            answer = run_student(fn, features.clone(), labels.clone(), n_way)
        expect(isinstance(answer, tuple) and len(answer) == 2, "return a pair (W, b)")
        weight, bias = answer
        where = f"for {n_way} classes × {k_shot} example(s) of dimension {dim}"
        expect(tuple(weight.shape) == (n_way, dim) and tuple(bias.shape) == (n_way,),
               f"{where}: W should be (N, D) = ({n_way}, {dim}) and b (N,) = ({n_way},); got "
               f"{tuple(weight.shape)} and {tuple(bias.shape)}")
        if not torch.allclose(weight, 2 * c, atol=1e-5):
            hint = ("W is the class means; it should be *twice* them" if torch.allclose(weight, c, atol=1e-5)
                    else "c_k is the mean of the features whose label is k (labels are shuffled, not in blocks)")
            raise ExerciseFailed(f"{where}: W_k should be 2·c_k. Hint: {hint}")
        if not torch.allclose(bias, -(c * c).sum(-1), atol=1e-5):
            hint = ("the sign: b_k = −‖c_k‖²" if torch.allclose(bias, (c * c).sum(-1), atol=1e-5)
                    else "b_k is minus the *squared* norm of c_k: −(c_k · c_k)")
            raise ExerciseFailed(f"{where}: wrong bias. Hint: {hint}")
        queries = torch.randn(7, dim, generator=gen)
        expect(torch.equal((queries @ weight.T + bias).argmax(-1), (-squared_distances(queries, c)).argmax(-1)),
               f"{where}: the head should pick the nearest prototype for every query")
    ok("your head classifies exactly like the nearest prototype (shuffled labels, K = 1 and K = 4)")


def check_protonet_loss(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise 5.2: `fn(support_features, support_labels, query_features, query_labels, n_way)` → the
    prototypical-network loss, a scalar tensor: the mean cross-entropy of the query examples under
    logits_k = −‖f − c_k‖², where c_k is the mean support feature of class k.

    Shapes: support_features (N·K, D), support_labels (N·K,), query_features (M, D), query_labels (M,).
    The loss must be differentiable: ProtoNet training back-propagates it into the encoder through
    both the prototypes and the query features.
    """
    from ..meta import prototypes, squared_distances

    gen = torch.Generator().manual_seed(52)
    for n_way, k_shot, dim in ((3, 2, 5), (5, 5, 8)):
        s = torch.randn(n_way * k_shot, dim, generator=gen)
        sy = torch.arange(n_way).repeat(k_shot)[torch.randperm(n_way * k_shot, generator=gen)]
        q = torch.randn(4 * n_way, dim, generator=gen)
        qy = torch.randint(0, n_way, (4 * n_way,), generator=gen)
        s_ref, q_ref = s.clone().requires_grad_(), q.clone().requires_grad_()
        want = F.cross_entropy(-squared_distances(q_ref, prototypes(s_ref, sy, n_way)), qy)
        want.backward()
        s_you, q_you = s.clone().requires_grad_(), q.clone().requires_grad_()
        with without(prototypes, squared_distances):
            got = run_student(fn, s_you, sy.clone(), q_you, qy.clone(), n_way)
        where = f"for a {n_way}-way {k_shot}-shot episode with {dim}-dimensional features"
        expect(isinstance(got, torch.Tensor) and got.dim() == 0,
               f"{where}: return the loss as a scalar tensor (got {type(got).__name__}"
               f"{'' if not isinstance(got, torch.Tensor) else ' of shape ' + str(tuple(got.shape))})")
        if not torch.allclose(got.detach(), want.detach(), atol=1e-5):
            plus = F.cross_entropy(squared_distances(q, prototypes(s, sy, n_way)), qy)
            plain = F.cross_entropy(-squared_distances(q, prototypes(s, sy, n_way)).sqrt(), qy)
            hint = ("the logits are *minus* the squared distances (near prototype = large logit)"
                    if torch.allclose(got.detach(), plus, atol=1e-5)
                    else "use the squared distance ‖f − c‖², not the distance" if torch.allclose(got.detach(), plain, atol=1e-5)
                    else "c_k = mean of support features with label k; logits = −‖q − c_k‖²; F.cross_entropy(logits, labels)")
            raise ExerciseFailed(f"{where}: expected loss {want.item():.4f}, got {got.item():.4f}. Hint: {hint}")
        expect(got.requires_grad, f"{where}: the loss has no gradient; keep the computation in torch (no .item(), "
               "no .detach(), no numpy)")
        got.backward()
        for name, yours, ref in (("support", s_you, s_ref), ("query", q_you, q_ref)):
            expect(yours.grad is not None and torch.allclose(yours.grad, ref.grad, atol=1e-5),
                   f"{where}: the gradient with respect to the {name} features differs from the reference: the loss "
                   "must flow through " + ("the prototypes" if name == "support" else "the query features"))
    ok("your ProtoNet loss has the right value and gradient through prototypes and queries")


def check_seed_interval(fn: Callable[[Sequence[Sequence[float]], Sequence[Sequence[float]]], tuple]) -> None:
    """Exercise 5.3: `fn(model, baseline)` → (mean, half_width) of the paired difference over seeds.

    ``model[s]`` and ``baseline[s]`` are the per-episode accuracies of seed s's model and of the
    baseline on the *same* episodes. Each seed gives one number, mean(model[s]) − mean(baseline[s]);
    the answer is their mean and the 95% Student-t half-width t_{0.975, S−1}·sd/√S over the S seeds
    (`scipy.stats.t.ppf(0.975, S - 1)` gives the quantile).
    """
    from ..analysis import mean_ci, paired_ci, seed_ci

    gen = torch.Generator().manual_seed(53)
    for n_seeds, n_episodes in ((3, 20), (5, 8)):
        base = (torch.rand(n_seeds, n_episodes, generator=gen) * 0.6 + 0.2)
        model = (base + 0.05 + 0.1 * torch.randn(n_seeds, n_episodes, generator=gen)).clamp(0, 1)
        model[1] -= 0.08  # one unlucky seed
        m, b = model.tolist(), base.tolist()
        want_mean, want_half, per_seed = seed_ci(m, b)
        with without(seed_ci, mean_ci, paired_ci):
            answer = run_student(fn, [list(r) for r in m], [list(r) for r in b])
        expect(isinstance(answer, tuple) and len(answer) == 2, "return a pair (mean, half_width)")
        got_mean, got_half = (float(x) for x in answer)
        where = f"with {n_seeds} seeds of {n_episodes} episodes each"
        if abs(got_mean - want_mean) > 1e-6:
            raise ExerciseFailed(f"{where}: the mean difference should be {want_mean:.4f}, got {got_mean:.4f}. Hint: "
                                 "the mean over seeds of (mean of model[s] − mean of baseline[s])")
        if abs(got_half - want_half) > 1e-6:
            diffs = torch.tensor(per_seed, dtype=torch.float64)
            episodes = (model - base).flatten().double()
            normal = 1.959964 * float(diffs.std()) / math.sqrt(n_seeds)
            pooled = float(mean_ci(episodes.tolist())[1])
            hint = ("that is the normal quantile 1.96; with so few seeds use Student's t with S − 1 degrees of freedom"
                    if abs(got_half - normal) < 1e-4
                    else "that interval treats every episode as independent and ignores the seed-to-seed variance; "
                         "reduce each seed to one number first" if abs(got_half - pooled) < 1e-4
                    else "half-width = t_{0.975, S−1} · (sample standard deviation of the S per-seed differences) / √S")
            raise ExerciseFailed(f"{where}: the half-width should be {want_half:.4f}, got {got_half:.4f}. Hint: {hint}")
    ok("your interval covers both the seed-to-seed and the episode-to-episode variance, as analysis.seed_ci does")
