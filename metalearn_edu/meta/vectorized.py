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
from .losses import ClassificationLoss, FunctionalLoss, RegressionLoss, has_tied_weights

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
        if not isinstance(loss_fn, FunctionalLoss) or len(episodes) < 2:
            return None
        if isinstance(episodes, MetaBatch):
            first_x, masked = episodes.stacked.support_x[0], episodes.stacked.support_mask is not None
        elif isinstance(episodes[0], Episode):
            first_x, masked = episodes[0].support_x, episodes[0].support_mask is not None
        else:
            return None
        if _mlp_plan(loss_fn) is None and any(isinstance(m, nn.Dropout) and m.training and m.p > 0
                                              for m in loss_fn.model.modules()):
            return None  # (an MLP the shortcut runs has no dropout layers)
        rows_by_tokens = first_x.shape[0] * (first_x.shape[1] if masked else 1)
        if first_x.device.type == "cpu" and rows_by_tokens > CPU_BATCH_MAX_ROWS:
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
    direct = _stacked_mlp_values(loss_fn, params, data, metric=False)
    if direct is not None:
        return direct
    with _batched_context():
        return vmap(loss_fn, in_dims=(dict(dims), 0))(params, data)


def task_metrics(loss_fn: LossFn, params: Params, dims: Mapping[str, int | None], data: tuple) -> Tensor:
    """``loss_fn.metric_value`` of every task (e.g. accuracy, MSE); (B,)."""
    direct = _stacked_mlp_values(loss_fn, params, data, metric=True)
    if direct is not None:
        return direct
    with _batched_context():
        return vmap(loss_fn.metric_value, in_dims=(dict(dims), 0))(params, data)


# ---------------------------------------------------------------------------------------
# Multi-layer perceptrons: stacked weights and a hand-written backward pass
# ---------------------------------------------------------------------------------------
# vmap turns every batched `F.linear` into a bmm plus a separate add (and their backward and double
# backward); for the tiny sinusoid MLP that costs ~1.7× what the same maths written with stacked
# weights and fused `baddbmm` costs on a 2-core CPU (benchmarks/maml_speed.py). So an nn.Sequential
# of Linear layers and element-wise activations, under the library's MSE or cross-entropy loss, is
# run with stacked weights directly; every other model goes through vmap.
#
# For such an MLP the inner step's gradient is also written out by hand (`_mlp_task_gradients`:
# backpropagation, layer by layer, for all tasks at once) instead of asking autograd for it with
# ``create_graph=True``. The formulas are ordinary differentiable tensor operations, so the outer
# backward differentiates through them exactly as through autograd's own backward graph (the same
# second-order terms), but autograd no longer records and replays its backward machinery, and at
# θ, where the tasks still share their weights, the forward pass is one plain matrix product over
# all B·M rows instead of B small ones. For the sinusoid network a meta-step runs 1.06–1.13× as fast
# as the hand-batched reference in benchmarks/maml_speed.py, and 1.2× as fast as with autograd's
# inner gradient.
_ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.Identity)

# σ'(z) written with the activation's output a = σ(z), for the activations the hand-written backward
# knows (GELU's needs z itself: an MLP with GELU gets its inner gradient from autograd).
_DERIVATIVE_FROM_OUTPUT: dict[type, Callable[[Tensor], Tensor] | None] = {
    nn.ReLU: lambda a: a > 0,          # 1 where z > 0 (the same a.e. derivative autograd uses)
    nn.Tanh: lambda a: 1 - a * a,      # tanh' = 1 − tanh²
    nn.Sigmoid: lambda a: a * (1 - a),  # σ' = σ (1 − σ)
    nn.Identity: None,
}


# The activations' functions, called directly (a module's forward goes through two more Python calls).
_ACTIVATION_FUNCTIONS: dict[type, Callable[[Tensor], Tensor]] = {
    nn.ReLU: torch.relu, nn.Tanh: torch.tanh, nn.Sigmoid: torch.sigmoid, nn.Identity: lambda h: h,
}


@dataclass(frozen=True)
class _MLPPlan:
    """An MLP the shortcut can run: per layer (module, function, weight name, bias name; the function
    is None for a Linear layer, the names are None for an activation), whether the hand-written
    backward applies, and the names of the linear layers' parameters."""

    layers: tuple[tuple[nn.Module, Callable[[Tensor], Tensor] | None, str | None, str | None], ...]
    backprop: bool
    linear_names: frozenset[str] = frozenset()


def _mlp_plan(loss_fn: LossFn) -> _MLPPlan | None:
    """The plan of an MLP the shortcut can run, or None; worked out once per loss function and cached
    on it (keyed by the identity of the layers, so a changed model is looked at again)."""
    model = getattr(loss_fn, "model", None)
    if type(loss_fn) not in (RegressionLoss, ClassificationLoss) or not isinstance(model, nn.Sequential):
        return None
    key = tuple(model._modules.values())  # compared by identity
    cached = getattr(loss_fn, "_mlp_plan_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    plan = None
    if not loss_fn.model_kwargs and not has_tied_weights(model) \
            and all(isinstance(m, (nn.Linear, *_ELEMENTWISE)) for m in model):
        backprop = all(isinstance(m, nn.Linear) or type(m) in _DERIVATIVE_FROM_OUTPUT for m in model)
        layers = tuple((m, None, f"{i}.weight", f"{i}.bias") if isinstance(m, nn.Linear)
                       else (m, _ACTIVATION_FUNCTIONS.get(type(m), m.forward), None, None)
                       for i, m in enumerate(model))
        plan = _MLPPlan(layers, backprop, frozenset(name for _, _, weight, bias in layers if weight is not None
                                                    for name in (weight, bias)))
    loss_fn._mlp_plan_cache = (key, plan)
    return plan


def _linear_params(params: Params, layer: nn.Linear, weight: str, bias: str) -> tuple[Tensor, Tensor | None]:
    """A linear layer's weight and bias: from `params` when there, else the module's own."""
    return (params[weight] if weight in params else layer.weight), (params[bias] if bias in params else layer.bias)


def _linear(h: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """h (B, M, in) through one linear layer whose weight (out, in) and bias (out,) are shared by all
    tasks or stacked per task ((B, out, in), (B, out)): (B, M, out)."""
    if w.dim() == 2:
        return F.linear(h, w, b) if b is None or b.dim() == 1 else F.linear(h, w) + b.unsqueeze(1)
    if b is not None and b.dim() == 2:
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))  # b + h Wᵀ, per task
    return torch.bmm(h, w.transpose(1, 2)) + (0 if b is None else b)


def _mlp_forward(plan: _MLPPlan, params: Params, h: Tensor, saved: list[Tensor] | None = None) -> Tensor:
    """The MLP's output for every task, (B, M, d_out), from h (B, M, d_in); with `saved`, appends every
    layer's input and then the output (what backprop needs)."""
    for layer, function, weight, bias in plan.layers:
        if saved is not None:
            saved.append(h)
        h = function(h) if function is not None else _linear(h, *_linear_params(params, layer, weight, bias))
    if saved is not None:
        saved.append(h)
    return h


def _mlp_loss_and_output_gradient(loss_fn: LossFn, out: Tensor, y: Tensor,
                                  scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """Per-task loss (B,) and ``scale`` × its gradient with respect to the outputs, (B, M, d_out)."""
    if isinstance(loss_fn, RegressionLoss):  # L_b = mean (out − y)²: ∂L_b/∂out = 2 (out − y) / (M · d_out)
        residual = out - y
        plain = residual.detach()  # the loss itself is only read (divergence checks), never differentiated
        loss = (plain * plain).mean(dim=tuple(range(1, plain.dim())))
        return loss, residual * (2.0 * scale / residual[0].numel())
    # L_b = −mean_m log softmax(out_m)[y_m]: ∂L_b/∂out_m = (softmax(out_m) − onehot(y_m)) / M
    log_p = torch.log_softmax(out, -1)
    loss = -log_p.detach().gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(1)
    delta = (log_p.exp() - F.one_hot(y, out.shape[-1]).to(out.dtype)) * (scale / y.shape[1])
    return loss, delta


def _mlp_task_gradients(loss_fn: LossFn, plan: _MLPPlan, params: Params, data: tuple,
                        names: Sequence[str], scale: float = 1.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Backpropagation written out for B tasks at once: the support losses (B,) and every adapted
    entry's per-task gradient ((B, out, in) for a weight, (B, out) for a bias).

    Going down the layers with δ = ∂L_b/∂(layer output) of each task b, (B, M, d):
    a linear layer gives ∂L_b/∂W = δ_bᵀ h_b, ∂L_b/∂b = Σ_m δ_b,m and passes δ W down; an activation
    multiplies δ by σ'(z) = `_DERIVATIVE_FROM_OUTPUT`. Differentiable in θ when grad mode is on.
    Every gradient is linear in δ, so ``scale`` (e.g. the inner learning rate α) multiplies the
    output's δ once and every returned gradient is ``scale`` × ∇: one small product instead of one
    per parameter.
    """
    x, y = data
    values: list[Tensor] = []  # values[j]: the input of layer j; values[-1]: the output
    loss, delta = _mlp_loss_and_output_gradient(loss_fn, _mlp_forward(plan, params, x, values), y, scale)
    wanted, grads = set(names), {}
    lowest = min(j for j, (_, _, weight, bias) in enumerate(plan.layers) if weight in wanted or bias in wanted)
    for j in reversed(range(lowest, len(plan.layers))):
        layer, _, weight, bias = plan.layers[j]
        if weight is not None:
            w, _ = _linear_params(params, layer, weight, bias)
            if weight in wanted:
                grads[weight] = torch.bmm(delta.transpose(1, 2), values[j])  # ∂L_b/∂W = δ_bᵀ h_b
            if bias in wanted:
                grads[bias] = delta.sum(1)  # ∂L_b/∂b = Σ_m δ_b,m
            if j == lowest:
                break
            delta = delta @ w if w.dim() == 2 else torch.bmm(delta, w)  # ∂L_b/∂h = δ W
        elif (derivative := _DERIVATIVE_FROM_OUTPUT[type(layer)]) is not None:
            delta = delta * derivative(values[j + 1])  # δ ⊙ σ'(z), from the activation's output
    return loss, grads


def _backprop_plan(loss_fn: LossFn, data: tuple, names: Iterable[str]) -> _MLPPlan | None:
    """The MLP plan when the inner gradient of `names` can be written out by hand (`_mlp_task_gradients`)."""
    plan = _mlp_plan(loss_fn) if len(data) == 2 else None
    if plan is None or not plan.backprop:
        return None
    names = list(names)
    return plan if names and plan.linear_names.issuperset(names) else None


def _stacked_mlp_values(loss_fn: LossFn, params: Params, data: tuple, metric: bool) -> Tensor | None:
    """Per-task loss (or metric) of an MLP, (B,), or None when the shortcut does not apply. Weights with
    a task dimension ((B, out, in)) are per task, weights without one are shared."""
    plan = _mlp_plan(loss_fn) if len(data) == 2 else None
    if plan is None:
        return None
    x, y = data  # (B, M, d_in), targets
    h = _mlp_forward(plan, params, x)
    if isinstance(loss_fn, RegressionLoss):
        return (h - y).pow(2).mean(dim=tuple(range(1, h.dim())))  # MSE per task
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
        params: θ with every adapted entry already stacked over tasks (``dims[name] == 0``); for an
            MLP whose inner gradient is written out by hand (`_mlp_task_gradients`) adapted entries
            may also be shared (dims None): the first step then gives each task its own copy.
        dims: 0 for stacked entries, None for shared ones.
        support: the stacked support side, ``(x, y)`` or ``(x, y, mask)``.
        inner_lr, inner_steps, first_order, adapt_names: as in `adapt`.

    Raises:
        InnerLoopDivergedError: naming the task, when one task's support loss diverges.
    """
    names = _resolve_names(params, adapt_names)
    backprop = _backprop_plan(loss_fn, support, names)
    unstacked = [n for n in names if dims.get(n) != 0]
    if unstacked and backprop is None:
        raise ValueError(f"adapted parameters must be stacked over the tasks (dims 0); {unstacked[:3]} are not")
    lrs = _resolve_lrs(inner_lr, names)
    create_graph = (not first_order) and torch.is_grad_enabled()
    # one float rate for every name: the hand-written backward returns α∇ directly (see `_mlp_task_gradients`)
    fold = next(iter(lrs.values())) if backprop is not None and not isinstance(inner_lr, Mapping) else None
    dims = dict(dims)
    current, trajectory, losses = dict(params), [dict(params)], []
    for step in range(inner_steps):
        if backprop is not None:  # the gradient by hand: a graph only when it is differentiated (second order)
            with torch.set_grad_enabled(create_graph):
                loss, by_name = _mlp_task_gradients(loss_fn, backprop, current, support, names,
                                                    scale=1.0 if fold is None else fold)
            grads = [by_name.get(n) for n in names]
            values = _check_tasks(loss, losses[0] if losses else None, step, inner_steps, inner_lr, "support")
        else:
            leaves = {n: current[n] if current[n].requires_grad else current[n].detach().requires_grad_()
                      for n in names}
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
                step_n = g if fold is not None else lrs[n] * g  # α ∇L_b
                new[n] = current[n] - (step_n if create_graph else step_n.detach())  # (B, …), shared θ broadcast
                dims[n] = 0
        current = new
        trajectory.append(current)
    return BatchedTrajectory(trajectory, losses, dims)


def _episode_params(loss_fn: LossFn, params: Params, stacked: Episode,
                    episode_params: Callable[[Params, Episode], Params] | None) -> tuple[Params, dict[str, int | None]]:
    """θ_b for every task: θ shared, plus the per-task entries `episode_params` adds (e.g. a head) or
    replaces (an entry of θ it returns as a new tensor), stacked; the per-episode loop uses the same θ_b."""
    prepare = episode_params or getattr(loss_fn, "episode_params", None)
    dims: dict[str, int | None] = {n: None for n in params}
    if prepare is None or getattr(prepare, "__func__", None) is FunctionalLoss.episode_params:
        return dict(params), dims  # nothing is added per episode
    param_dims = dict(dims)
    classes = list(stacked.classes)

    def new_entries(p: Params, sx: Tensor, sy: Tensor, qx: Tensor, qy: Tensor, sm: Tensor | None,
                    qm: Tensor | None) -> Params:
        ep = Episode(sx, sy, qx, qy, sm, qm, classes)
        return {n: v for n, v in prepare(p, ep).items() if n not in p or v is not p[n]}

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
    """θ_b of every task (shared entries, per-task heads) with the adapted entries expanded to (B, …)
    (except for an MLP whose inner gradient is written out by hand: it starts from the shared θ)."""
    theta, dims = _episode_params(loss_fn, params, stacked, episode_params)
    names = _resolve_names(theta, adapt_names)
    if _backprop_plan(loss_fn, _side(stacked, "support"), names) is not None:
        return theta, dims, names
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
    query = task_losses(loss_fn, trajectory.adapted, trajectory.dims, _side(stacked, "query"))  # (B,)
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
        query = task_losses(loss_fn, trajectory.adapted, trajectory.dims, _side(stacked, "query"))
        initial = [trajectory.initial(b) for b in range(len(query))] if inner_steps else None
        values = _check_tasks(query, initial, inner_steps, inner_steps, inner_lr, "query")
        delta = {n: (trajectory.adapted[n] - theta[n]).mean(0) if trajectory.dims.get(n) == 0
                 else torch.zeros_like(p) for n, p in theta.items()}
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
        final = task_losses(loss_fn, trajectory.adapted, trajectory.dims, _side(stacked, "support"))
        initial = [trajectory.initial(b) for b in range(len(final))] if inner_steps else None
        support = trajectory.support_losses + [_check_tasks(final, initial, inner_steps, inner_steps, inner_lr,
                                                            "support")]
    B = len(per_step[0])
    return [[step[b] for step in per_step] for b in range(B)], [[step[b] for step in support] for b in range(B)]
