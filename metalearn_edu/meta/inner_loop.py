"""The inner loop: a few steps of gradient descent on a support set, as a trajectory.

Every algorithm in `metalearn_edu.meta` adapts the same way. Starting from the
meta-parameters θ (a plain ``dict[str, Tensor]``), take ``inner_steps`` steps of
gradient descent on the support loss:

    φ₀ = θ,    φ_{k+1} = φ_k − α ∇_φ L_support(φ_k)

and return the whole trajectory [θ, φ₁, …, φ_K]. What differs between the
algorithms is only what flows back through it:

* **second-order MAML** keeps the graph of each gradient (``create_graph=True``),
  so the meta-gradient ∇_θ L_query(φ_K) includes the Hessian terms
  Π_k (I − α ∇²L_support(φ_k));
* **first-order MAML** (``first_order=True``) detaches each inner gradient. φ_K
  still depends on θ through the identity (φ_K = θ − α Σ_k g_k with every g_k a
  constant), so the meta-gradient becomes ∇_φ L_query(φ_K), the query gradient
  at the adapted parameters;
* **Reptile** and plain fine-tuning run the loop under `torch.no_grad()`: the
  trajectory then carries no graph at all (gradients are still taken inside).

The model is never mutated: losses call it through `torch.func.functional_call`
with the dict, so "adapted weights" are just another dict. Names not in
``adapt_names`` pass through unchanged (the very same tensors), which gives
head-only or top-k-layer adaptation.

The loss functions the loop takes (``loss_fn(params, data) -> scalar``) live in
`metalearn_edu.meta.losses`; `select_params` names what adapts, and the divergence rule
(`has_diverged`) decides when an inner loop has blown up.

Example:
    >>> from torch import nn
    >>> net = nn.Linear(1, 1)
    >>> loss_fn = functional_loss(net, "mse")
    >>> support = (torch.tensor([[1.0], [2.0]]), torch.tensor([[2.0], [4.0]]))
    >>> traj = adapt(loss_fn, dict(net.named_parameters()), support, inner_lr=0.1, inner_steps=3)
    >>> len(traj.params), traj.support_losses[-1] < traj.support_losses[0]
    (4, True)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import Tensor, nn

from ..checks import check_number
from ..episodes import Episode
from ..model import BertEncoder
from .losses import EPISODE_HEAD_NAMES, Params, call_with, functional_loss  # noqa: F401 (doctest)

LossFn = Callable[[Params, Any], Tensor]

# A loss counts as diverged when it is not finite, or when it is both DIVERGENCE_RATIO times and
# DIVERGENCE_MARGIN above the support loss at θ. Both conditions are needed: a ratio alone fires on a
# legitimately tiny start (one support point fitted exactly), a margin alone depends on the loss's
# units; a cross-entropy that climbs from 1.6 to 2,800 nats, or an MSE that reaches 1e18, fails both.
DIVERGENCE_RATIO = 100.0
DIVERGENCE_MARGIN = 100.0


class InnerLoopDivergedError(ValueError):
    """The support loss became NaN/inf or exploded during the inner loop."""


@dataclass
class Trajectory:
    """What `adapt` returns: the parameters after every inner step and their support losses.

    Attributes:
        params: ``[θ, φ₁, …, φ_K]``, K + 1 dicts with the same keys as θ.
        support_losses: the support loss at ``params[k]`` as floats: K + 1 values
            with ``track_loss=True``, else the K computed for the updates.
    """

    params: list[Params]
    support_losses: list[float] = field(default_factory=list)
    diverged: bool = False  # True when `adapt(..., stop_on_divergence=True)` stopped early

    @property
    def adapted(self) -> Params:
        """φ_K, the parameters after the last inner step (θ when K = 0)."""
        return self.params[-1]

    @property
    def steps(self) -> int:
        """K, the number of inner steps taken."""
        return len(self.params) - 1

    @torch.no_grad()
    def outputs(self, model: nn.Module, x: Tensor, steps: Iterable[int] | None = None) -> dict[int, Tensor]:
        """The model's outputs on `x` at some points of the trajectory (e.g. to plot predictions).

        Args:
            model: the module the parameters belong to (called through `functional_call`).
            x: its input, e.g. a (G, 1) grid for a sinusoid network.
            steps: which of 0..K (default: all).

        Returns:
            step -> output.
        """
        chosen = range(self.steps + 1) if steps is None else sorted(set(steps))
        bad = [k for k in chosen if not 0 <= k <= self.steps]
        if bad:
            raise ValueError(f"steps {bad} are not on this trajectory; it has steps 0..{self.steps}")
        return {k: call_with(model, self.params[k], (x,)) for k in chosen}


def _check_params(params: Any) -> None:
    if isinstance(params, nn.Module):
        raise ValueError("params must be a dict of tensors, not a module; pass dict(model.named_parameters())")
    if not isinstance(params, Mapping) or not all(isinstance(v, Tensor) for v in params.values()):
        raise ValueError("params must be a dict mapping names to tensors, e.g. dict(model.named_parameters())")


def _resolve_names(params: Params, adapt_names: Iterable[str] | None) -> list[str]:
    if adapt_names is None:
        return list(params)
    if isinstance(adapt_names, str):
        raise ValueError(f"adapt_names={adapt_names!r} is a string; pass a list of names, e.g. "
                         "select_params(model, 'head')")
    names = list(dict.fromkeys(adapt_names))
    unknown = [n for n in names if n not in params]
    if unknown:
        raise ValueError(f"adapt_names has {len(unknown)} name(s) that are not in params, e.g. {unknown[:3]}; "
                         f"params has {list(params)[:5]}{'...' if len(params) > 5 else ''}")
    return names


def _resolve_lrs(inner_lr: float | Mapping[str, Tensor | float], names: list[str]) -> dict[str, Tensor | float]:
    """One learning rate per adapted name; every rate must be finite and ≥ 0 (floats and tensors alike)."""
    if isinstance(inner_lr, Mapping):
        missing = [n for n in names if n not in inner_lr]
        if missing:
            raise ValueError(f"inner_lr is a dict but has no learning rate for {missing[:3]}; give one per "
                             "adapted parameter (see learnable_inner_lrs) or pass a single float")
        for n in names:
            _check_rate(f"inner_lr[{n!r}]", inner_lr[n])
        return {n: inner_lr[n] for n in names}
    _check_rate("inner_lr", inner_lr, hint=" (e.g. 0.01) or a dict of per-parameter learning rates")
    return {n: float(inner_lr) for n in names}


def _check_rate(name: str, rate: Any, hint: str = "") -> None:
    """A learning rate: a finite number ≥ 0, or a tensor whose every element is."""
    if isinstance(rate, Tensor) and rate.numel() != 1:
        values = rate.detach()
        if not bool(torch.isfinite(values).all()) or bool((values < 0).any()):
            bad = values[~torch.isfinite(values) | (values < 0)].flatten()[0].item()
            raise ValueError(f"{name} has the element {bad:g}, which is not allowed; every rate must be a finite "
                             f"number ≥ 0{hint}")
        return
    check_number(name, rate, low=0.0, hint=hint)


def _describe_lr(inner_lr: float | Mapping[str, Tensor | float]) -> str:
    if isinstance(inner_lr, Mapping):
        largest = max((float(torch.as_tensor(v).detach().abs().max()) for v in inner_lr.values()), default=0.0)
        return f"per-parameter inner_lr (largest {largest:.3g})"
    return f"inner_lr={inner_lr:g}"


def has_diverged(value: float, initial: float | None) -> bool:
    """The divergence rule: `value` is not finite, or far above `initial` both relatively and absolutely.

    `initial` is the support loss at θ (None when unknown, e.g. with no inner step: then only
    non-finite values count). See `DIVERGENCE_RATIO` and `DIVERGENCE_MARGIN`.

    Example:
        >>> has_diverged(2786.0, 1.1), has_diverged(12.0, 0.001), has_diverged(float("nan"), None)
        (True, False, True)
    """
    if not math.isfinite(value):
        return True
    if initial is None:
        return False
    return value > DIVERGENCE_RATIO * max(initial, 0.0) and value - initial > DIVERGENCE_MARGIN


def check_loss(loss: Tensor, step: int, inner_steps: int, initial: float | None,
               inner_lr: float | Mapping[str, Tensor | float], which: str = "support") -> float:
    """The loss as a float; raise `InnerLoopDivergedError` if `has_diverged` says so.

    Args:
        loss: a scalar tensor (the support loss at φ_step, or the query loss at φ_K).
        step, inner_steps: where in the inner loop it was measured (for the message).
        initial: the support loss at θ.
        inner_lr: the inner learning rate(s), named in the message.
        which: ``"support"`` or ``"query"``.
    """
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        raise ValueError("loss_fn must return a scalar tensor")
    value = float(loss.detach())
    if has_diverged(value, initial):
        smaller = (f"e.g. inner_lr={inner_lr / 10:g}" if not isinstance(inner_lr, Mapping)
                   else "e.g. a tenth of the current rates")
        raise InnerLoopDivergedError(
            f"the inner loop diverged after {step} of {inner_steps} inner steps: the {which} loss is {value:.4g} "
            f"(the support loss started at {initial if initial is not None else value:.4g}) with "
            f"{_describe_lr(inner_lr)}; lower the inner learning rate ({smaller}) or take fewer inner steps"
        )
    return value


def adapt(loss_fn: LossFn, params: Params, support: Any, inner_lr: float | Mapping[str, Tensor | float],
          inner_steps: int, first_order: bool = False, adapt_names: Iterable[str] | None = None,
          track_loss: bool = True, stop_on_divergence: bool = False) -> Trajectory:
    """Run the inner loop: ``inner_steps`` steps of gradient descent on the support loss.

    φ_{k+1}[n] = φ_k[n] − α[n] ∇_{φ_k[n]} loss_fn(φ_k, support) for every n in
    `adapt_names`; every other entry stays the very tensor it was in θ.

    Args:
        loss_fn: ``loss_fn(params, data) -> scalar tensor``, e.g. from `functional_loss`.
        params: θ, e.g. ``dict(model.named_parameters())``; not modified.
        support: whatever `loss_fn` takes as data, e.g. ``episode.support``.
        inner_lr: α: one float for all, or a dict name → learning rate (float or
            tensor, scalar or shaped like the parameter). Tensors that require
            grad are meta-learned (Meta-SGD; see `learnable_inner_lrs`).
        inner_steps: K ≥ 0.
        first_order: detach the inner gradients (first-order MAML). Ignored when
            grad mode is off, where nothing is tracked anyway.
        adapt_names: the names that move (default: all of `params`); see
            `select_params`.
        track_loss: also compute the support loss at φ_K (one more forward pass).
        stop_on_divergence: instead of raising, stop and return the trajectory up to the last
            step whose support loss was sound, with ``diverged=True`` (evaluation uses it to count
            diverged episodes rather than abort).

    Returns:
        A `Trajectory` with ``params = [θ, φ₁, …, φ_K]``.

    Raises:
        InnerLoopDivergedError: when a support loss diverges (`has_diverged`: not finite, or
            100× and 100 above the loss at θ); the message names the learning rate and step.
        ValueError: for unknown `adapt_names`, a negative `inner_lr` or `inner_steps`.

    Example:
        >>> net = nn.Linear(2, 1)
        >>> theta = dict(net.named_parameters())
        >>> data = (torch.randn(8, 2), torch.randn(8, 1))
        >>> traj = adapt(functional_loss(net, "mse"), theta, data, 0.1, 2, adapt_names=["bias"])
        >>> traj.adapted["weight"] is theta["weight"], traj.adapted["bias"] is theta["bias"]
        (True, False)
    """
    _check_params(params)
    if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 0:
        raise ValueError(f"inner_steps={inner_steps!r} is not allowed; it must be an integer ≥ 0")
    names = _resolve_names(params, adapt_names)
    lrs = _resolve_lrs(inner_lr, names)
    # Second order needs the graph of each inner gradient; under no_grad nothing is tracked.
    create_graph = (not first_order) and torch.is_grad_enabled()

    trajectory, losses = [dict(params)], []
    # φ₀ = θ as new nodes of the graph (views): the inner gradient is then taken with respect to φ
    # alone, never through another tensor built from the same θ (a head initialised from prototypes),
    # while the meta-gradient still flows back to θ through the view.
    # (Made with grad mode on: a view taken under no_grad claims requires_grad but is outside every graph,
    # so no gradient would reach it and, under an outer no_grad, the loop would silently not move.)
    with torch.enable_grad():
        current: Params = {**params, **{n: params[n].view_as(params[n]) for n in names if params[n].requires_grad}}
    initial: float | None = None
    for step in range(inner_steps):
        # 1) the tensors to differentiate: φ_k itself if it is in a graph, else a fresh leaf
        leaves = {n: current[n] if current[n].requires_grad else current[n].detach().requires_grad_() for n in names}
        with torch.enable_grad():
            loss = loss_fn({**current, **leaves}, support)
            try:
                value = check_loss(loss, step, inner_steps, initial, inner_lr)
            except InnerLoopDivergedError:
                if not stop_on_divergence or step == 0:
                    raise
                return Trajectory(trajectory[:step], losses, diverged=True)  # φ_step is where it blew up
            # A leaf with a history (e.g. a head built from prototypes) shares its graph with the
            # query loss, so that graph must survive this first-order gradient.
            shared = any(leaves[n].grad_fn is not None for n in names)
            grads = torch.autograd.grad(loss, [leaves[n] for n in names], create_graph=create_graph,
                                        retain_graph=create_graph or shared, allow_unused=True)
        initial = value if initial is None else initial
        losses.append(value)
        # 2) the step φ_{k+1} = φ_k − α ∇L(φ_k); first order treats ∇L as a constant
        new = dict(current)
        for n, g in zip(names, grads):
            if g is None:  # this parameter does not influence the support loss
                continue
            new[n] = current[n] - lrs[n] * (g if create_graph else g.detach())
        current = new
        trajectory.append(current)
    if track_loss:
        with torch.no_grad():
            try:
                losses.append(check_loss(loss_fn(current, support), inner_steps, inner_steps, initial, inner_lr))
            except InnerLoopDivergedError:
                if not stop_on_divergence or inner_steps == 0:
                    raise
                return Trajectory(trajectory[:-1], losses, diverged=True)
    return Trajectory(trajectory, losses)


def initial_loss(trajectory: Trajectory) -> float | None:
    """The support loss at θ, the reference of the divergence rule (None when no step was taken)."""
    return trajectory.support_losses[0] if trajectory.support_losses else None


def learnable_inner_lrs(params: Params, init: float = 0.01, adapt_names: Iterable[str] | None = None,
                        per_element: bool = False) -> dict[str, Tensor]:
    """Meta-learnable inner learning rates (Meta-SGD, Li et al. 2017), one per parameter tensor.

    Pass the result as ``inner_lr`` and optimise it with the meta-parameters:
    the meta-gradient reaches it through φ = θ − α ∇L.

    Args:
        params: θ (only names and shapes are used).
        init: the starting learning rate.
        adapt_names: which parameters get a rate (default: all).
        per_element: a rate per weight (Meta-SGD) instead of one per tensor
            (a "per-layer" rate, as in Bansal et al.'s SMLMT code).

    Returns:
        name → leaf tensor with ``requires_grad=True``: scalar, or the
        parameter's shape with `per_element`.
    """
    _check_params(params)
    check_number("init", init, low=0.0, hint=" (a learning rate)")
    return {n: torch.full(params[n].shape if per_element else (), float(init), dtype=params[n].dtype,
                          device=params[n].device, requires_grad=True)
            for n in _resolve_names(params, adapt_names)}


# ---------------------------------------------------------------------------------------
# Which parameters adapt
# ---------------------------------------------------------------------------------------
def _leaf_param_groups(model: nn.Module) -> list[list[str]]:
    """Names of the parameters of each module that owns some, in registration order."""
    groups = []
    for module_name, module in model.named_modules():
        own = [f"{module_name}.{n}" if module_name else n for n, _ in module.named_parameters(recurse=False)]
        if own:
            groups.append(own)
    seen = {n for n, _ in model.named_parameters()}  # drops duplicates of tied weights
    return [[n for n in g if n in seen] for g in groups if any(n in seen for n in g)]


def select_params(model: nn.Module, which: str = "all", head_names: Iterable[str] | None = None) -> list[str]:
    """Names of the parameters to adapt in the inner loop.

    For a `BertEncoder` the "head" is the per-episode N-way head of
    `TextClassifierLoss` (`EPISODE_HEAD_NAMES`) unless `head_names` says
    otherwise (e.g. the names of ``cls_head``), and:

    * ``"all"``: the embeddings, every block (and the final LayerNorm) plus the head
      (the unused MLM and classification heads of the encoder are left out);
    * ``"head"``: only the head;
    * ``"top{k}"``, e.g. ``"top2"``: the last k blocks (plus the final LayerNorm of a
      pre-LN model) and the head.

    For any other module, the groups are the modules that own parameters in
    registration order (e.g. the Linear layers of an MLP): ``"all"`` is every
    parameter, ``"head"`` the last group, ``"top{k}"`` the last k groups;
    `head_names`, when given, are added.

    Args:
        model: the network.
        which: ``"all"``, ``"head"`` or ``"top{k}"`` with k ≥ 1.
        head_names: the head's parameter names.

    Returns:
        Names, in model order, head last.

    Example:
        >>> select_params(nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 1)), "head")
        ['2.weight', '2.bias']
    """
    match = re.fullmatch(r"top(\d+)", which) if isinstance(which, str) else None
    if which not in ("all", "head") and (match is None or int(match.group(1)) < 1):
        raise ValueError(f"which={which!r} is not allowed; use 'all', 'head' or 'top{{k}}' with k ≥ 1, e.g. 'top2'")
    k = int(match.group(1)) if match else None
    if isinstance(model, BertEncoder):
        head = list(EPISODE_HEAD_NAMES if head_names is None else head_names)
        names = [n for n, _ in model.named_parameters() if n not in head]
        body = [n for n in names if not n.startswith(("mlm_head.", "cls_head."))]
        if which == "all":
            return body + head
        if which == "head":
            return head
        n_layers = model.cfg.n_layers
        if k > n_layers:
            raise ValueError(f"which={which!r} but the encoder has only {n_layers} blocks; use at most 'top{n_layers}'")
        top = tuple(f"blocks.{i}." for i in range(n_layers - k, n_layers)) + ("final_norm.",)
        return [n for n in body if n.startswith(top)] + head
    groups = _leaf_param_groups(model)
    extra = [] if head_names is None else [n for n in head_names]
    if which == "all":
        chosen = [n for g in groups for n in g]
    else:
        count = 1 if which == "head" else k
        if count > len(groups):
            raise ValueError(f"which={which!r} but the model has only {len(groups)} parameterised layers; "
                             f"use at most 'top{len(groups)}'")
        chosen = [n for g in groups[-count:] for n in g]
    return chosen + [n for n in extra if n not in chosen]


def prepare_episode(loss_fn: LossFn, params: Params, episode: Episode,
                    episode_params: Callable[[Params, Episode], Params] | None = None) -> Params:
    """θ for one episode: ``episode_params(params, episode)``, else the loss function's own, else θ."""
    prepare = episode_params or getattr(loss_fn, "episode_params", None)
    return prepare(params, episode) if prepare is not None else dict(params)
