"""Adaptation curves: the query metric after 0, 1, …, K inner steps, over many test episodes.

For each test episode: start from θ (plus the episode's fresh head, if the
loss function adds one), run K steps of the inner loop on the support set
without any graph, and score every point of the trajectory [θ, φ₁, …, φ_K]
on the query set. The result is one curve per method, with a 95% confidence
interval (Student's t over episodes, `metalearn_edu.analysis.mean_ci`) at every
step: the numbers behind "MSE after 1 / 5 / 10 steps" tables and the
adaptation-curve plots.

Example:
    >>> from metalearn_edu.episodes import SinusoidTasks
    >>> from metalearn_edu.meta.sinusoid import sinusoid_mlp
    >>> net, tasks = sinusoid_mlp(), SinusoidTasks(seed=1)
    >>> curve = evaluate_adaptation(functional_loss(net, "mse"), dict(net.named_parameters()),
    ...                             [tasks.episode(i, k_shot=5) for i in range(20)], inner_lr=0.01, inner_steps=3)
    >>> curve.steps, curve.metric, len(curve.per_episode)
    ([0, 1, 2, 3], 'mse', 20)
"""

from __future__ import annotations

import contextlib
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import Tensor

from ..analysis import format_ci, mean_ci, paired_ci
from ..episodes import Episode
from ..runtime import eval_mode
from .inner_loop import InnerLoopDivergedError, LossFn, Params, adapt, prepare_episode
from .losses import functional_loss  # noqa: F401 (doctest)
from .vectorized import evaluate_batched, stack_for

MetricFn = Callable[[Params, Any], float]


@dataclass
class AdaptationCurve:
    """Mean query metric per inner step, with confidence half-widths.

    Attributes:
        steps: 0, 1, …, K.
        mean: the mean metric over episodes at each step.
        ci: the half-width of the confidence interval at each step.
        metric: its name, e.g. ``"mse"`` or ``"accuracy"``.
        per_episode: E lists of K + 1 values (episode × step); NaN after a recorded divergence.
        support_loss: the mean support loss at each step.
        confidence: the confidence level of `ci`.
        n_diverged: per step, how many episodes had diverged by then (``on_divergence="record"``);
            `mean` and `ci` are over the others.
    """

    steps: list[int]
    mean: list[float]
    ci: list[float]
    metric: str
    per_episode: list[list[float]] = field(default_factory=list)
    support_loss: list[float] = field(default_factory=list)
    confidence: float = 0.95
    n_diverged: list[int] = field(default_factory=list)

    @property
    def n_episodes(self) -> int:
        return len(self.per_episode)

    def at(self, step: int) -> tuple[float, float]:
        """``(mean, half_width)`` after `step` inner steps."""
        if step not in self.steps:
            raise ValueError(f"step={step} was not evaluated; choose one of 0..{self.steps[-1]}")
        i = self.steps.index(step)
        return self.mean[i], self.ci[i]

    def format(self, step: int, digits: int = 3) -> str:
        """``"0.612 ± 0.021"`` after `step` inner steps."""
        return format_ci(*self.at(step), digits=digits)

    def difference(self, other: "AdaptationCurve", step: int) -> tuple[float, float]:
        """Paired mean and 95% half-width of self − other after `step` steps, over the same episodes.

        Episodes where either curve has no finite value at that step (an inner loop that diverged and
        was recorded, see `evaluate_adaptation`'s ``on_divergence``) are left out of the pairs.
        """
        if self.n_episodes != other.n_episodes:
            raise ValueError(f"the curves have {self.n_episodes} and {other.n_episodes} episodes; a paired "
                             "difference needs the same episodes")
        self.at(step)  # raises for a step that was not evaluated
        i = self.steps.index(step)
        pairs = [(a[i], b[i]) for a, b in zip(self.per_episode, other.per_episode)
                 if math.isfinite(a[i]) and math.isfinite(b[i])]
        if len(pairs) < 2:
            raise ValueError(f"only {len(pairs)} episode(s) have finite values in both curves at step {step}; "
                             "a paired interval needs at least 2")
        return paired_ci([a for a, _ in pairs], [b for _, b in pairs], self.confidence)

    def to_dict(self, per_episode: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict (per-episode values only when asked)."""
        out = asdict(self)
        out["n_episodes"] = self.n_episodes
        if not per_episode:
            out.pop("per_episode")
        return out


def evaluate_adaptation(loss_fn: LossFn, params: Params, episodes: Iterable[Episode],
                        inner_lr: float | Mapping[str, Tensor | float], inner_steps: int,
                        adapt_names: Iterable[str] | None = None, metric: MetricFn | None = None,
                        metric_name: str | None = None,
                        episode_params: Callable[[Params, Episode], Params] | None = None,
                        confidence: float = 0.95, progress: bool = False,
                        transform: Callable[[Episode], Episode] | None = None, vectorize: bool | None = None,
                        chunk_size: int = 32, on_divergence: str = "raise") -> AdaptationCurve:
    """Run the inner loop on many test episodes and score the query set after every step.

    The model is put in eval mode (no dropout) for the evaluation and restored
    afterwards; θ is not modified. Episodes are processed `chunk_size` at a time, each chunk
    as one batched computation when its episodes stack (`metalearn_edu.meta.vectorized`),
    else one by one; both give the same numbers.

    Args:
        loss_fn: ``loss_fn(params, data)``; drives the inner loop.
        params: θ to start from (meta-learned, pretrained, or random).
        episodes: test episodes (≥ 2), e.g. ``[tasks.episode(i, k_shot=5) for i in range(600)]``.
        inner_lr, inner_steps, adapt_names: the test-time inner loop, as in `adapt`.
        metric: ``metric(params, query) -> float``; default ``loss_fn.metric``
            (MSE for regression, accuracy for classification), else the loss.
        metric_name: its name (default ``loss_fn.metric_name`` or ``"loss"``).
        episode_params: builds each episode's starting params (default
            ``loss_fn.episode_params``).
        confidence: the level of the intervals.
        progress: show a tqdm progress bar.
        transform: applied to each episode just before it is used (e.g. to
            precompute frozen layers), so transformed episodes are not all held at once.
        vectorize: None (default) batches when possible (the library's loss functions, the
            default metric), True insists, False runs the loop.
        chunk_size: episodes per batched computation.
        on_divergence: ``"raise"`` (default) stops at the first diverging episode with
            `InnerLoopDivergedError`; ``"record"`` keeps going, marks that episode's later steps NaN
            and counts it in ``n_diverged`` (e.g. a sharp meta-learned initialisation that a few
            tasks cannot follow for ten steps at the training step size).

    Returns:
        An `AdaptationCurve` over steps 0..K.
    """
    if on_divergence not in ("raise", "record"):
        raise ValueError(f"on_divergence={on_divergence!r} is not allowed; use 'raise' or 'record'")
    episodes = list(episodes) if not isinstance(episodes, list) else episodes
    if len(episodes) < 2:
        raise ValueError(f"episodes has {len(episodes)} episode(s); a confidence interval needs at least 2")
    rows, support_rows = adaptation_rows(loss_fn, params, episodes, inner_lr, inner_steps, adapt_names, metric,
                                         episode_params, progress, transform, vectorize, chunk_size, on_divergence)
    return curve_from_rows(rows, support_rows, metric_name or getattr(loss_fn, "metric_name", "loss"), confidence)


def adaptation_rows(loss_fn: LossFn, params: Params, episodes: list[Episode],
                    inner_lr: float | Mapping[str, Tensor | float], inner_steps: int,
                    adapt_names: Iterable[str] | None = None, metric: MetricFn | None = None,
                    episode_params: Callable[[Params, Episode], Params] | None = None, progress: bool = False,
                    transform: Callable[[Episode], Episode] | None = None, vectorize: bool | None = None,
                    chunk_size: int = 32, on_divergence: str = "raise") -> tuple[list[list[float]], list[list[float]]]:
    """The work of `evaluate_adaptation` without the summary (same arguments).

    Returns:
        (rows, support_rows): per episode, the query metric and the support loss after 0..K steps
        (NaN after a divergence that was recorded); `curve_from_rows` summarises them.
    """
    custom_metric = metric
    metric = metric or getattr(loss_fn, "metric", None) or (lambda p, d: float(loss_fn(p, d)))
    model = getattr(loss_fn, "model", None)
    rows: list[list[float]] = []
    support_rows: list[list[float]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(episodes), desc="evaluate")
    batchable = vectorize is not False and custom_metric is None and getattr(loss_fn, "vectorizable_metric", False)
    if vectorize and not batchable:
        raise ValueError("vectorize=True needs one of the library's loss functions and its default metric")
    try:
        with (eval_mode(model) if model is not None else contextlib.nullcontext()), torch.no_grad():
            theta = {n: p.detach() for n, p in params.items()}
            for first in range(0, len(episodes), chunk_size):
                chunk = episodes[first:first + chunk_size]
                if transform is not None:
                    chunk = [transform(ep) for ep in chunk]
                stacked = stack_for(loss_fn, chunk, vectorize) if batchable else None
                try:
                    if stacked is None:
                        raise _Unbatched
                    r, s = evaluate_batched(loss_fn, theta, stacked, inner_lr, inner_steps, adapt_names,
                                            episode_params)
                except (_Unbatched, InnerLoopDivergedError) as err:
                    if isinstance(err, InnerLoopDivergedError) and on_divergence == "raise":
                        raise
                    r, s = [], []
                    for episode in chunk:  # one by one (a diverging episode is then recorded alone)
                        start = prepare_episode(loss_fn, theta, episode, episode_params)
                        trajectory = adapt(loss_fn, start, episode.support, inner_lr, inner_steps,
                                           adapt_names=adapt_names, stop_on_divergence=on_divergence == "record")
                        missing = inner_steps + 1 - len(trajectory.params)
                        r.append([metric(p, episode.query) for p in trajectory.params] + [math.nan] * missing)
                        s.append(trajectory.support_losses + [math.nan] * (inner_steps + 1 - len(trajectory.support_losses)))
                rows += r
                support_rows += s
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return rows, support_rows


def curve_from_rows(rows: list[list[float]], support_rows: list[list[float]], metric_name: str,
                    confidence: float = 0.95) -> AdaptationCurve:
    """An `AdaptationCurve` from per-episode rows (`adaptation_rows`): means, intervals, divergences."""
    inner_steps = len(rows[0]) - 1
    means, cis, diverged = [], [], []
    for k in range(inner_steps + 1):
        values = [row[k] for row in rows if math.isfinite(row[k])]
        m, h = mean_ci(values, confidence)
        means.append(m)
        cis.append(h)
        diverged.append(len(rows) - len(values))
    support = [statistics.fmean(v for r in support_rows if math.isfinite(v := r[k])) for k in range(inner_steps + 1)]
    return AdaptationCurve(list(range(inner_steps + 1)), means, cis, metric_name, rows, support, confidence,
                           diverged)


class _Unbatched(Exception):
    """This chunk is evaluated episode by episode."""
