"""Meta-batches as one batched computation: the inner loop of B tasks at once, with `torch.func.vmap`.

`maml_step`, `reptile_step` and `evaluate_adaptation` loop over the episodes of a meta-batch,
which is the right code to *read* and the wrong code to *wait for*: with a small model the Python
work of each episode (a `functional_call`, two `autograd.grad` calls) costs more than its
arithmetic. This module runs the same mathematics for all B episodes together, and those
functions call it by themselves when the episodes can be stacked (`stack_episodes`).

How, in three moves:

1. **Stack the tasks.** The B episodes become one `Episode` whose tensors have a leading task
   dimension (text episodes are right-padded to a common length; padding is masked, so it changes
   nothing but float rounding).
2. **One copy of θ per task, as a view.** Every adapted parameter is expanded to (B, …) with
   ``θ.expand(B, …)``: no memory is copied, and a gradient on the copies flows back to θ summed
   over tasks. The loss of all tasks is ``vmap(loss_fn)`` over the stack, giving (B,) losses.
3. **One gradient for all tasks.** The tasks do not interact, so the gradient of Σ_b L_b with
   respect to the stacked copies *is* each task's own gradient: the inner step is
   φ_b ← φ_b − α ∇L_b(φ_b) for every b at once, with plain `torch.autograd.grad` (and
   ``create_graph`` for second order), exactly as in `metalearn_edu.meta.inner_loop.adapt`.

The meta-gradient is then the gradient of the mean query loss with respect to θ itself (through
the expand views), which equals the loop's mean of per-episode gradients. Divergence is checked
per task with the same rule as the loop. Models with active dropout are not vectorised (the two
paths would draw different masks); `vectorize=False` forces the loop everywhere.

Shapes: B tasks, M examples per side, T tokens.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import vmap

from ..checks import values_checked_by_caller
from ..episodes import PAD_LABEL, Episode, MetaBatch, stack_episodes  # noqa: F401 (re-exported)
from .inner_loop import (
    InnerLoopDivergedError,
    LossFn,
    Params,
    _describe_lr,
    _resolve_lrs,
    _resolve_names,
    has_diverged,
)
from .losses import FunctionalLoss

# On a CPU the automatic choice batches only episodes whose support set has at most this many
# examples × tokens. Small episodes (25 sine tasks of 10 points) spend their time in per-operation
# overhead, which batching removes (12× here); a text episode (25 texts × 48–64 tokens through a
# transformer) spends ~90% of it in matrix products that are already large, so batching gave
# 0.7–1.0× per episode and B× the memory (benchmarks/maml_speed.py). On a GPU it always batches.
CPU_BATCH_MAX_ROWS = 512


# ---------------------------------------------------------------------------------------
# Choosing the batched path (stacking itself is `metalearn_edu.episodes.stack_episodes`)
# ---------------------------------------------------------------------------------------
def stack_for(loss_fn: Any, episodes: Sequence[Any], vectorize: bool | None) -> Episode | None:
    """The stacked meta-batch when the batched path is taken, else None (the loop).

    ``vectorize=None`` batches the library's own loss functions over a model without active
    dropout, when the episodes stack and, on a CPU, are small (`CPU_BATCH_MAX_ROWS`); True insists
    (an error if they cannot stack); False never. A `MetaBatch` is already stacked: its tensors
    are used as they are.
    """
    if vectorize is False:
        return None
    if vectorize is None:
        if not isinstance(loss_fn, FunctionalLoss) or len(episodes) < 2 or not isinstance(episodes[0], Episode):
            return None
        if any(isinstance(m, nn.Dropout) and m.training and m.p > 0 for m in loss_fn.model.modules()):
            return None
        x = episodes[0].support_x  # a MetaBatch's [0] is an Episode view too
        rows_by_tokens = x.shape[0] * (x.shape[1] if episodes[0].support_mask is not None else 1)
        if x.device.type == "cpu" and rows_by_tokens > CPU_BATCH_MAX_ROWS:
            return None  # arithmetic-bound on a CPU: batching saves nothing and multiplies memory by B
        return stack_episodes(episodes)
    stacked = stack_episodes(episodes)
    if stacked is None:
        raise ValueError("vectorize=True but the episodes cannot be stacked (they differ in classes, numbers of "
                         "examples or tensor shapes); pass vectorize=None to fall back to the loop")
    return stacked


@contextlib.contextmanager
def _batched_context() -> Any:
    """Inside vmap: no value checks (the caller validated), and attention through the math kernel
    (the fused CPU kernel has no batching rule and would fall back to a loop)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with values_checked_by_caller(), sdpa_kernel(SDPBackend.MATH):
        yield


def _side(episode: Episode, which: str) -> tuple:
    x, y, mask = (episode.support_x, episode.support_y, episode.support_mask) if which == "support" else \
        (episode.query_x, episode.query_y, episode.query_mask)
    return (x, y) if mask is None else (x, y, mask)


def task_losses(loss_fn: LossFn, params: Params, dims: Mapping[str, int | None], data: tuple) -> Tensor:
    """``loss_fn`` of every task: params with ``dims[name] == 0`` have a task dimension, others are shared.

    Returns:
        (B,) losses.
    """
    direct = _stacked_mlp_values(loss_fn, params, dims, data, metric=False)
    if direct is not None:
        return direct
    with _batched_context():
        return vmap(loss_fn, in_dims=(dict(dims), 0))(params, data)


def task_metrics(loss_fn: LossFn, params: Params, dims: Mapping[str, int | None], data: tuple) -> Tensor:
    """``loss_fn.metric_value`` of every task (e.g. accuracy, MSE); (B,)."""
    direct = _stacked_mlp_values(loss_fn, params, dims, data, metric=True)
    if direct is not None:
        return direct
    with _batched_context():
        return vmap(loss_fn.metric_value, in_dims=(dict(dims), 0))(params, data)


# ---------------------------------------------------------------------------------------
# Stacked weights for multi-layer perceptrons
# ---------------------------------------------------------------------------------------
# vmap turns every batched `F.linear` into a bmm plus a separate add (and their backward and double
# backward); for the tiny sinusoid MLP that costs ~1.7× what the same maths written with stacked
# weights and fused `baddbmm` costs on a 2-core CPU (benchmarks/maml_speed.py). So an nn.Sequential
# of Linear layers and element-wise activations, under the library's MSE or cross-entropy loss, is
# run with stacked weights directly; every other model goes through vmap.
_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity)


def _mlp_plan(loss_fn: LossFn) -> list[tuple[int, Any]] | None:
    """The layers of an MLP the shortcut can run (a Linear, or an activation's ``forward``), or None;
    worked out once per loss function and cached on it (keyed by the identity of the layers, so a
    changed model is looked at again)."""
    from .losses import ClassificationLoss, RegressionLoss, has_tied_weights

    model = getattr(loss_fn, "model", None)
    if type(loss_fn) not in (RegressionLoss, ClassificationLoss) or not isinstance(model, nn.Sequential):
        return None
    key = tuple(id(m) for m in model)
    cached = getattr(loss_fn, "_mlp_plan_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    plan = None
    if not loss_fn.model_kwargs and not has_tied_weights(model) \
            and all(isinstance(m, (nn.Linear, *_ELEMENTWISE)) for m in model):
        plan = [(i, m if isinstance(m, nn.Linear) else m.forward) for i, m in enumerate(model)]
    loss_fn._mlp_plan_cache = (key, plan)
    return plan


def _stacked_mlp_values(loss_fn: LossFn, params: Params, dims: Mapping[str, int | None], data: tuple,
                        metric: bool) -> Tensor | None:
    """Per-task loss (or metric) of an MLP with stacked weights, or None when the shortcut does not apply."""
    from .losses import RegressionLoss

    plan = _mlp_plan(loss_fn) if len(data) == 2 else None
    if plan is None:
        return None
    h, y = data  # (B, M, d_in), targets
    for i, layer in plan:
        if not isinstance(layer, nn.Linear):
            h = layer(h)  # an element-wise activation
            continue
        w, b = params.get(f"{i}.weight", layer.weight), params.get(f"{i}.bias", layer.bias)
        stacked_w, stacked_b = dims.get(f"{i}.weight") == 0, b is not None and dims.get(f"{i}.bias") == 0
        if not stacked_w:
            h = F.linear(h, w, None if stacked_b else b)
        elif b is not None and stacked_b:
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))  # (B, M, out) = b + h Wᵀ, per task
        else:
            h = torch.bmm(h, w.transpose(1, 2)) + (0 if b is None else b)
        if not stacked_w and stacked_b:
            h = h + b.unsqueeze(1)
    if isinstance(loss_fn, RegressionLoss):
        return (h - y).pow(2).flatten(1).mean(1)  # MSE per task
    if metric:
        return (h.argmax(-1) == y).float().mean(1)  # accuracy per task
    return F.cross_entropy(h.flatten(0, 1), y.flatten(), reduction="none").view(y.shape).mean(1)


# ---------------------------------------------------------------------------------------
# The batched inner loop
# ---------------------------------------------------------------------------------------
@dataclass
class BatchedTrajectory:
    """`adapt_batched`'s result: [θ, φ₁, …, φ_K] with a task dimension on the adapted names.

    Attributes:
        params: K + 1 dicts; ``dims[name] == 0`` marks the entries stacked over tasks.
        support_losses: per step, the B support losses (as floats).
        dims: which entries carry the task dimension.
    """

    params: list[Params]
    support_losses: list[list[float]] = field(default_factory=list)
    dims: dict[str, int | None] = field(default_factory=dict)

    @property
    def adapted(self) -> Params:
        return self.params[-1]

    def initial(self, b: int) -> float | None:
        """Task b's support loss at θ, the divergence rule's reference (None with no inner step)."""
        return self.support_losses[0][b] if self.support_losses else None


def _check_tasks(losses: Tensor, initial: list[float] | None, step: int, inner_steps: int, inner_lr: Any,
                 which: str) -> list[float]:
    values = losses.detach().tolist()
    for b, value in enumerate(values):
        if has_diverged(value, None if initial is None else initial[b]):
            start = initial[b] if initial is not None else value
            raise InnerLoopDivergedError(
                f"the inner loop diverged after {step} of {inner_steps} inner steps on task {b} of the meta-batch: "
                f"the {which} loss is {value:.4g} (the support loss started at {start:.4g}) with "
                f"{_describe_lr(inner_lr)}; lower the inner learning rate or take fewer inner steps")
    return values


def adapt_batched(loss_fn: LossFn, params: Params, dims: Mapping[str, int | None], support: tuple,
                  inner_lr: float | Mapping[str, Tensor | float], inner_steps: int, first_order: bool = False,
                  adapt_names: Iterable[str] | None = None) -> BatchedTrajectory:
    """`adapt` for B stacked tasks: φ_b ← φ_b − α ∇L_b(φ_b) for every task b at once.

    Args:
        params: θ with every adapted entry already stacked over tasks (``dims[name] == 0``).
        dims: 0 for stacked entries, None for shared ones.
        support: the stacked support side, ``(x, y)`` or ``(x, y, mask)``.
        inner_lr, inner_steps, first_order, adapt_names: as in `adapt`.

    Raises:
        InnerLoopDivergedError: naming the task, when one task's support loss diverges.
    """
    names = _resolve_names(params, adapt_names)
    unstacked = [n for n in names if dims.get(n) != 0]
    if unstacked:
        raise ValueError(f"adapted parameters must be stacked over the tasks (dims 0); {unstacked[:3]} are not")
    lrs = _resolve_lrs(inner_lr, names)
    create_graph = (not first_order) and torch.is_grad_enabled()
    current, trajectory, losses = dict(params), [dict(params)], []
    for step in range(inner_steps):
        leaves = {n: current[n] if current[n].requires_grad else current[n].detach().requires_grad_() for n in names}
        with torch.enable_grad():
            loss = task_losses(loss_fn, {**current, **leaves}, dims, support)  # (B,)
            values = _check_tasks(loss, losses[0] if losses else None, step, inner_steps, inner_lr, "support")
            shared = any(leaves[n].grad_fn is not None for n in names)
            grads = torch.autograd.grad(loss.sum(), [leaves[n] for n in names], create_graph=create_graph,
                                        retain_graph=create_graph or shared, allow_unused=True)
        losses.append(values)
        new = dict(current)
        for n, g in zip(names, grads):
            if g is not None:
                new[n] = current[n] - lrs[n] * (g if create_graph else g.detach())
        current = new
        trajectory.append(current)
    return BatchedTrajectory(trajectory, losses, dict(dims))


def _episode_params(loss_fn: LossFn, params: Params, stacked: Episode,
                    episode_params: Callable[[Params, Episode], Params] | None) -> tuple[Params, dict[str, int | None]]:
    """θ_b for every task: θ shared, plus the per-task entries `episode_params` adds (e.g. a head), stacked."""
    prepare = episode_params or getattr(loss_fn, "episode_params", None)
    dims: dict[str, int | None] = {n: None for n in params}
    if prepare is None or getattr(prepare, "__func__", None) is FunctionalLoss.episode_params:
        return dict(params), dims  # nothing is added per episode
    param_dims = dict(dims)
    classes = list(stacked.classes)

    def new_entries(p: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, sm: Tensor | None,
                    qm: Tensor | None) -> Params:
        ep = Episode(sx, sy, qx, qy, sm, qm, classes)
        return {n: v for n, v in prepare(p, ep).items() if n not in p}

    masks = stacked.support_mask is not None
    in_dims = (param_dims, 0, 0, 0, 0, 0 if masks else None, 0 if masks else None)
    with _batched_context():
        extra = vmap(new_entries, in_dims=in_dims)(params, stacked.support_x, stacked.support_y, stacked.query_x,
                                                    stacked.query_y, stacked.support_mask, stacked.query_mask)
    dims.update({n: 0 for n in extra})
    return {**params, **extra}, dims


def prepare_tasks(loss_fn: LossFn, params: Params, stacked: Episode, adapt_names: Iterable[str] | None,
                  episode_params: Callable[[Params, Episode], Params] | None = None
                  ) -> tuple[Params, dict[str, int | None], list[str]]:
    """θ_b of every task (shared entries, per-task heads) with the adapted entries expanded to (B, …)."""
    theta, dims = _episode_params(loss_fn, params, stacked, episode_params)
    names = _resolve_names(theta, adapt_names)
    B = stacked.support_x.shape[0]
    for n in names:
        if dims[n] is None:
            theta[n] = theta[n].expand(B, *theta[n].shape)  # a view: gradients flow back to θ, summed over tasks
            dims[n] = 0
    return theta, dims, names


# ---------------------------------------------------------------------------------------
# MAML, Reptile and evaluation on a stacked meta-batch
# ---------------------------------------------------------------------------------------
def maml_step_batched(loss_fn: LossFn, params: Params, stacked: Episode, wrt: Mapping[str, Tensor],
                      inner_lr: float | Mapping[str, Tensor | float], inner_steps: int, first_order: bool,
                      adapt_names: Iterable[str] | None,
                      episode_params: Callable[[Params, Episode], Params] | None) -> tuple[Tensor, dict[str, Tensor]]:
    """`maml_step` on a stacked meta-batch; same meta-loss and meta-gradients (see the module docstring)."""
    theta, dims, names = prepare_tasks(loss_fn, params, stacked, adapt_names, episode_params)
    trajectory = adapt_batched(loss_fn, theta, dims, _side(stacked, "support"), inner_lr, inner_steps, first_order,
                               names)
    query = task_losses(loss_fn, trajectory.adapted, dims, _side(stacked, "query"))  # (B,)
    initial = [trajectory.initial(b) for b in range(len(query))] if inner_steps else None
    _check_tasks(query, initial, inner_steps, inner_steps, inner_lr, "query")
    meta_loss = query.mean()
    grads = torch.autograd.grad(meta_loss, list(wrt.values()), allow_unused=True)
    return meta_loss.detach().cpu(), {n: g for n, g in zip(wrt, grads) if g is not None}


def reptile_step_batched(loss_fn: LossFn, theta: Params, stacked: Episode,
                         inner_lr: float | Mapping[str, Tensor | float], inner_steps: int,
                         adapt_names: Iterable[str] | None,
                         episode_params: Callable[[Params, Episode], Params] | None) -> tuple[float, dict[str, Tensor]]:
    """The Reptile direction mean_b φ̃_b − θ and the mean query loss, for a stacked meta-batch (no graph)."""
    with torch.no_grad():
        start, dims, names = prepare_tasks(loss_fn, theta, stacked, adapt_names, episode_params)
        trajectory = adapt_batched(loss_fn, start, dims, _side(stacked, "support"), inner_lr, inner_steps, True, names)
        query = task_losses(loss_fn, trajectory.adapted, dims, _side(stacked, "query"))
        initial = [trajectory.initial(b) for b in range(len(query))] if inner_steps else None
        values = _check_tasks(query, initial, inner_steps, inner_steps, inner_lr, "query")
        delta = {n: (trajectory.adapted[n] - theta[n]).mean(0) if dims.get(n) == 0 else torch.zeros_like(p)
                 for n, p in theta.items()}
    return sum(values) / len(values), delta


def evaluate_batched(loss_fn: LossFn, params: Params, stacked: Episode,
                     inner_lr: float | Mapping[str, Tensor | float], inner_steps: int,
                     adapt_names: Iterable[str] | None,
                     episode_params: Callable[[Params, Episode], Params] | None
                     ) -> tuple[list[list[float]], list[list[float]]]:
    """The query metric (``loss_fn.metric_value``) after 0..K steps for every stacked task, and the support losses.

    Returns:
        (rows, support_rows): B lists of K + 1 metric values, and B lists of K + 1 support losses.
    """
    with torch.no_grad():
        start, dims, names = prepare_tasks(loss_fn, params, stacked, adapt_names, episode_params)
        trajectory = adapt_batched(loss_fn, start, dims, _side(stacked, "support"), inner_lr, inner_steps, True, names)
        query = _side(stacked, "query")
        per_step = [task_metrics(loss_fn, p, dims, query).tolist() for p in trajectory.params]
        final = task_losses(loss_fn, trajectory.adapted, dims, _side(stacked, "support"))
        initial = [trajectory.initial(b) for b in range(len(final))] if inner_steps else None
        support = trajectory.support_losses + [_check_tasks(final, initial, inner_steps, inner_steps, inner_lr,
                                                            "support")]
    B = len(per_step[0])
    return [[step[b] for step in per_step] for b in range(B)], [[step[b] for step in support] for b in range(B)]
