"""Meta-learning results: adaptation curves, sinusoid fits, the chapter-4 line tasks, costs and budgets.

Shape letters: K inner steps.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, LogFormatter, MaxNLocator

from .style import (
    CHANCE_COLOR,
    LINE_COLORS,
    OKABE_ITO,
    REFERENCE_COLOR,
    REFERENCE_MARKERS,
    SERIES_MARKERS,
    _as_array,
    _get,
    _new_figure,
    _series_colors,
    _styled,
    _with_note,
)

# ---------------------------------------------------------------------------------------
# Meta-learning results
# ---------------------------------------------------------------------------------------
def _check_curves(curves: Mapping[str, Mapping[str, Any]], xkey: str, name: str) -> dict[str, dict[str, np.ndarray]]:
    if not curves:
        raise ValueError(f"{name} is empty; pass {{method: {{'{xkey}': [...], 'mean': [...], 'ci': [...]}}}}")
    out = {}
    for method, curve in curves.items():
        missing = [k for k in (xkey, "mean") if _get(curve, k) is None]
        if missing:
            raise ValueError(f"{name}[{method!r}] has no {missing}; each curve needs '{xkey}', 'mean' and "
                             f"optionally 'ci' (95% half-widths)")
        xs = _as_array(_get(curve, xkey), f"{name}[{method!r}][{xkey!r}]").reshape(-1)
        mean = _as_array(_get(curve, "mean"), f"{name}[{method!r}]['mean']").reshape(-1)
        if xs.size == 0 or xs.size != mean.size:
            raise ValueError(f"{name}[{method!r}] has {xs.size} {xkey} and {mean.size} means; they must match "
                             f"and be non-empty")
        ci = _get(curve, "ci")
        entry = {"x": xs, "mean": mean}
        if ci is not None:
            half = _as_array(ci, f"{name}[{method!r}]['ci']").reshape(-1)
            if half.size != xs.size:
                raise ValueError(f"{name}[{method!r}] has {half.size} ci half-widths for {xs.size} points")
            if (half < 0).any():
                raise ValueError(f"{name}[{method!r}]['ci'] has negative entries; give half-widths (mean ± ci)")
            entry["ci"] = half
        out[str(method)] = entry
    return out


def _draw_ci_curves(ax: Axes, curves: dict[str, dict[str, np.ndarray]], colors: Mapping[str, str] | None) -> None:
    palette = _series_colors(list(curves), colors)
    for i, (method, c) in enumerate(curves.items()):
        color = palette[method]
        ax.plot(c["x"], c["mean"], marker=SERIES_MARKERS[i % len(SERIES_MARKERS)], markersize=4, linewidth=2,
                color=color, label=method)
        if "ci" in c:
            ax.fill_between(c["x"], c["mean"] - c["ci"], c["mean"] + c["ci"], color=color, alpha=0.2,
                            linewidth=0, label="_nolegend_")


def _draw_chance(ax: Axes, chance: float | None) -> None:
    if chance is not None:
        ax.axhline(float(chance), color=CHANCE_COLOR, linestyle=":", linewidth=1.5, label=f"chance ({chance:g})")


class _PlainLogFormatter(LogFormatter):
    """Tick labels of a log axis written as plain numbers ("0.4", "3"), not "4×10⁻¹" or "4e-01"."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


@_styled
def plot_adaptation(
    curves: Mapping[str, Mapping[str, Any]],
    metric_name: str = "MSE",
    chance: float | None = None,
    reference: Mapping[str, Mapping[int, float] | Sequence[tuple[float, float]]] | None = None,
    title: str | None = None,
    xlabel: str = "inner steps (gradient steps on the support set)",
    colors: Mapping[str, str] | None = None,
    log_y: bool = False,
) -> Figure:
    """Query metric against the number of inner adaptation steps, one line per method.

    Shaded bands are the 95% confidence intervals (mean ± half-width, e.g. from
    `analysis.mean_ci` over tasks or seeds).

    Args:
        curves: ``{method: {"steps": [...], "mean": [...], "ci": [...]}}``; ``"ci"`` holds
            half-widths and may be left out.
        metric_name: the y-axis label, e.g. ``"MSE"`` or ``"accuracy"``.
        chance: draw a dotted chance line at this value.
        reference: published numbers drawn as markers, ``{label: {steps: value}}``, e.g.
            ``{"MAML (Finn et al.)": {1: 0.67, 5: 0.38, 10: 0.35}}``.
        title: axes title.
        xlabel: x-axis label.
        colors: ``{method: colour}`` to keep one method's colour across figures.
        log_y: logarithmic y axis (useful for MSE).

    Returns:
        The figure (one axes); its legend, to the right of the axes, has one entry per
        method, then chance and the reference series.

    Shapes:
        curves[m]["steps"], ["mean"], ["ci"]: (K_m,) each.

    Example:
        >>> curves = {"MAML": {"steps": [0, 1, 10], "mean": [3.0, 0.9, 0.4], "ci": [0.2, 0.1, 0.05]}}
        >>> fig = plot_adaptation(curves, reference={"MAML (Finn et al.)": {1: 0.67, 5: 0.38, 10: 0.35}})
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['MAML', 'MAML (Finn et al.)']
    """
    data = _check_curves(curves, "steps", "curves")
    fig = _new_figure((8.8, 4.5))
    ax = fig.add_subplot()
    _draw_ci_curves(ax, data, colors)
    _draw_chance(ax, chance)
    for i, (label, points) in enumerate((reference or {}).items()):
        pairs = list(points.items()) if isinstance(points, Mapping) else [tuple(p) for p in points]
        if not pairs:
            raise ValueError(f"reference[{label!r}] is empty; give {{steps: value}}")
        xs, ys = zip(*pairs)
        ax.plot([float(v) for v in xs], [float(v) for v in ys], linestyle="none",
                marker=REFERENCE_MARKERS[i % len(REFERENCE_MARKERS)], markersize=9, markerfacecolor="white",
                markeredgecolor=REFERENCE_COLOR, markeredgewidth=1.8, label=str(label))
    if log_y:
        ax.set_yscale("log")
        for axis_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric_name)
    band = " (mean ± 95% CI)" if any("ci" in c for c in data.values()) else " (mean)"
    ax.set_title(title or f"{metric_name} after k inner steps{band}")
    ax.grid(alpha=0.3)
    # beside the axes, never over the curves (the constrained layout makes room for it)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize="small")
    return fig


@_styled
def plot_accuracy_vs_budget(
    results: Mapping[str, Mapping[str, Any]],
    ylabel: str = "accuracy",
    xlabel: str = "compute budget",
    chance: float | None = None,
    title: str | None = None,
    log_x: bool = False,
    colors: Mapping[str, str] | None = None,
) -> Figure:
    """The equal-compute study: a metric against a compute budget, one line per objective.

    Args:
        results: ``{objective: {"budget": [...], "mean": [...], "ci": [...]}}``; ``"ci"``
            (95% half-widths) may be left out.
        ylabel: y-axis label, e.g. ``"5-way 5-shot accuracy"``.
        xlabel: x-axis label, e.g. ``"pretraining tokens"`` or ``"GPU-seconds"``.
        chance: draw a dotted chance line at this value.
        title: axes title.
        log_x: logarithmic budget axis (budgets that double).
        colors: ``{objective: colour}``.

    Returns:
        The figure (one axes, legend with one entry per objective, CI bands).

    Shapes:
        results[o]["budget"], ["mean"], ["ci"]: (N_o,) each.
    """
    data = _check_curves(results, "budget", "results")
    fig = _new_figure((7.0, 4.5))
    ax = fig.add_subplot()
    _draw_ci_curves(ax, data, colors)
    _draw_chance(ax, chance)
    if log_x:
        ax.set_xscale("log")
    else:
        ax.xaxis.set_major_formatter(EngFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    band = " (mean ± 95% CI)" if any("ci" in c for c in data.values()) else " (mean)"
    ax.set_title(title or f"{ylabel} at equal compute{band}")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _prediction_label(key: Any) -> str:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        k = int(key)
        return "before adaptation (θ)" if k == 0 else f"after {k} step{'s' if k != 1 else ''}"
    return str(key)


def _draw_sinusoid(ax: Axes, x_grid: Any, true_y: Any, support_x: Any, support_y: Any,
                   predictions: Mapping[Any, Any], query_x: Any = None, query_y: Any = None,
                   title: str | None = None, legend: bool = True) -> None:
    xg = _as_array(x_grid, "x_grid").reshape(-1)
    ty = _as_array(true_y, "true_y").reshape(-1)
    if xg.size == 0 or ty.size != xg.size:
        raise ValueError(f"x_grid has {xg.size} points and true_y {ty.size}; they must match and be non-empty")
    sx = _as_array(support_x, "support_x").reshape(-1)
    sy = _as_array(support_y, "support_y").reshape(-1)
    if sx.size != sy.size:
        raise ValueError(f"support_x has {sx.size} points but support_y has {sy.size}")
    ax.plot(xg, ty, color=REFERENCE_COLOR, linewidth=2.5, alpha=0.55, label="true function")
    palette = [c for c in LINE_COLORS if c not in (OKABE_ITO["vermillion"], OKABE_ITO["black"])]
    for i, (key, y) in enumerate(predictions.items()):
        py = _as_array(y, f"predictions[{key!r}]").reshape(-1)
        if py.size != xg.size:
            raise ValueError(f"predictions[{key!r}] has {py.size} points but x_grid has {xg.size}; "
                             f"predict on x_grid")
        dashed = isinstance(key, (int, np.integer)) and int(key) == 0
        ax.plot(xg, py, color=palette[i % len(palette)], linewidth=2, linestyle="--" if dashed else "-",
                label=_prediction_label(key))
    if query_x is not None and query_y is not None:
        qx = _as_array(query_x, "query_x").reshape(-1)
        qy = _as_array(query_y, "query_y").reshape(-1)
        if qx.size != qy.size:
            raise ValueError(f"query_x has {qx.size} points but query_y has {qy.size}")
        ax.plot(qx, qy, "x", color="#555555", markersize=5, label=f"query ({qx.size})")
    ax.plot(sx, sy, "o", color=OKABE_ITO["vermillion"], markeredgecolor="black", markersize=8, zorder=5,
            label=f"support (K={sx.size})")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or f"Sinusoid task, K={sx.size} support points")
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(loc="best", fontsize=8)


@_styled
def plot_sinusoid(
    x_grid: Any,
    true_y: Any,
    support_x: Any,
    support_y: Any,
    predictions: Mapping[Any, Any],
    query_x: Any = None,
    query_y: Any = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Figure:
    """One sinusoid-regression task: the true curve, the support points, and predictions.

    Args:
        x_grid: where the curves are evaluated.
        true_y: the task's function on ``x_grid``.
        support_x, support_y: the K support points the model adapts on.
        predictions: ``{label: y on x_grid}``, or ``{k: y}`` with integer inner-step
            counts (0 is drawn dashed as "before adaptation").
        query_x, query_y: optional query points, drawn as crosses.
        ax: draw into this axes; None makes a new figure.
        title: axes title.

    Returns:
        The figure.

    Shapes:
        x_grid, true_y, predictions[k]: (N,) or (N, 1); support_x, support_y: (K,) or (K, 1).

    Example:
        >>> xs = np.linspace(-5, 5, 100)
        >>> fig = plot_sinusoid(xs, np.sin(xs), xs[::20], np.sin(xs[::20]), {0: 0 * xs, 10: 0.9 * np.sin(xs)})
    """
    if ax is None:
        fig = _new_figure((6.5, 4.2))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _draw_sinusoid(ax, x_grid, true_y, support_x, support_y, predictions, query_x, query_y, title)
    return fig


_SINUSOID_KEYS = ("x_grid", "true_y", "support_x", "support_y", "predictions", "query_x", "query_y", "title")


@_styled
def plot_sinusoid_panels(
    tasks: Sequence[Mapping[str, Any]],
    ncols: int | None = None,
    sharey: bool = True,
    title: str | None = None,
) -> Figure:
    """Several sinusoid tasks in a row (wrapping after ``ncols``), one shared legend.

    Args:
        tasks: one dict per task with the arguments of `plot_sinusoid`: ``x_grid,
            true_y, support_x, support_y, predictions`` and optionally ``query_x,
            query_y, title``.
        ncols: panels per row; default all in one row, up to 4.
        sharey: one y range for all panels.
        title: figure title.

    Returns:
        The figure: one axes per task.
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty; pass one dict of plot_sinusoid arguments per task")
    for i, task in enumerate(tasks):
        unknown = set(task) - set(_SINUSOID_KEYS)
        missing = {"x_grid", "true_y", "support_x", "support_y", "predictions"} - set(task)
        if unknown or missing:
            raise ValueError(f"tasks[{i}] has unknown keys {sorted(unknown)} / lacks {sorted(missing)}; "
                             f"allowed keys: {', '.join(_SINUSOID_KEYS)}")
    ncols = min(len(tasks), 4) if ncols is None else int(ncols)
    if ncols < 1:
        raise ValueError(f"ncols={ncols!r} is not allowed; it must be >= 1")
    nrows = math.ceil(len(tasks) / ncols)
    fig = _new_figure((3.6 * ncols + 0.4, 3.0 * nrows + 1.2))
    grid = fig.subplots(nrows, ncols, squeeze=False, sharey=sharey)
    flat = list(grid.flat)
    for ax in flat[len(tasks):]:
        ax.remove()
    for i, (ax, task) in enumerate(zip(flat, tasks)):
        args = dict(task)
        args.setdefault("title", f"task {i}")
        _draw_sinusoid(ax, legend=False, **args)
        if i % ncols:
            ax.set_ylabel("")
    handles, labels = flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 5))
    fig.suptitle(title or "Sinusoid tasks: adaptation from the support points")
    return fig


@_styled
def plot_line_tasks(
    centres: Sequence[Any],
    normals: Sequence[Any],
    labels: Sequence[str],
    points: Mapping[str, Any] | None = None,
    paths: Mapping[str, Any] | None = None,
    extent: float = 4.0,
    title: str | None = None,
) -> Figure:
    """Two-dimensional tasks whose zero-loss sets are lines, and where methods put θ.

    Args:
        centres, normals: one point on each task's line and the line's normal, each (2,).
        labels: one legend label per line (e.g. its steepness).
        points: ``{method: θ (2,)}``, drawn as markers (end points or closed-form fixed points).
        paths: ``{method: (S, 2)}`` trajectories, drawn as lines ending in a cross labelled
            "θ* <method>" (the name up to its first " (").
        extent: the axes show [−extent, extent]²; points outside are listed in the title.
        title: axes title.

    Returns:
        The figure.
    """
    if not (len(centres) == len(normals) == len(labels)):
        raise ValueError(f"centres, normals and labels differ in length ({len(centres)}, {len(normals)}, "
                         f"{len(labels)}); give one of each per task")
    if not extent > 0:
        raise ValueError(f"extent={extent}: must be > 0")
    fig = _new_figure((6.4, 7.0))
    ax = fig.add_subplot()
    for c, n, label, colour in zip(centres, normals, labels, LINE_COLORS):
        c, n = _as_array(c, "centre").reshape(2), _as_array(n, "normal").reshape(2)
        ax.axline(tuple(c), tuple(c + np.array([-n[1], n[0]])), color=colour, lw=2, label=label)
    outside = []
    # where each run ends (its θ*) is a cross labelled with the method's short name; the labels sit
    # on alternating sides, so that two runs that end close together stay readable
    label_sides = (((10, 6), "left", "bottom"), ((-10, -8), "right", "top"), ((10, -8), "left", "top"),
                   ((-10, 6), "right", "bottom"))
    for i, ((name, path), style) in enumerate(zip((paths or {}).items(), ("--", "-", ":", "-."))):
        xy = _as_array(path, f"paths[{name!r}]").reshape(-1, 2)
        ax.plot(xy[:, 0], xy[:, 1], style, color=REFERENCE_COLOR, lw=1.5, label=name)
        ax.plot(*xy[-1], "x", color=REFERENCE_COLOR, ms=9, mew=1.8)
        offset, ha, va = label_sides[i % len(label_sides)]
        ax.annotate(f"θ* {str(name).split(' (')[0]}", xy=tuple(xy[-1]), xytext=offset, textcoords="offset points",
                    ha=ha, va=va, fontsize=9, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8),
                    annotation_clip=True)
    for (name, point), marker in zip((points or {}).items(), SERIES_MARKERS):
        xy = _as_array(point, f"points[{name!r}]").reshape(2)
        ax.plot(*xy, marker, color=REFERENCE_COLOR, mfc="white", ms=9, mew=1.5, label=name)
        if np.abs(xy).max() > extent:
            outside.append(f"{name} at ({xy[0]:.1f}, {xy[1]:.1f})")
    ax.set(xlabel="θ₁", ylabel="θ₂", aspect="equal", xlim=(-extent, extent), ylim=(-extent, extent))
    ax.set_title(_with_note(title or "Tasks (lines of zero loss) and where each method puts θ",
                            *(["outside the view: " + "; ".join(outside)] if outside else [])))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False, fontsize="small")
    return fig


@_styled
def plot_cost(
    rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    colors: Mapping[str, str] | None = None,
    log_y: bool = False,
) -> Figure:
    """Time and memory of one meta-step against the number of inner steps, per method.

    Second-order MAML keeps the graph of every inner step, so its memory grows
    with K; first-order MAML and Reptile do not. Repeated rows for the same
    (method, adapt, inner_steps) are averaged.

    Args:
        rows: dicts with ``method``, ``inner_steps``, ``time_ms``, ``memory_mb`` (None
            or NaN if not measured) and optionally ``adapt`` (e.g. ``'all'`` or
            ``'top'``: which parameters are adapted; drawn as the line style).
        title: figure title.
        colors: ``{method: colour}``.
        log_y: logarithmic y axes.

    Returns:
        The figure: the time axes and the memory axes, with one shared legend.

    Example:
        >>> fig = plot_cost([{"method": "MAML", "inner_steps": 1, "time_ms": 12.0, "memory_mb": 80.0},
        ...                  {"method": "MAML", "inner_steps": 5, "time_ms": 50.0, "memory_mb": 300.0}])
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty; pass dicts with method, inner_steps, time_ms, memory_mb")
    table: dict[tuple[str, str | None], dict[float, list[tuple[float, float]]]] = {}
    for i, row in enumerate(rows):
        missing = [k for k in ("method", "inner_steps", "time_ms") if _get(row, k) is None]
        if missing:
            raise ValueError(f"rows[{i}] has no {missing}; each row needs method, inner_steps, time_ms, memory_mb")
        memory = _get(row, "memory_mb")
        adapt = _get(row, "adapt")
        key = (str(_get(row, "method")), None if adapt is None else str(adapt))
        table.setdefault(key, {}).setdefault(float(_get(row, "inner_steps")), []).append(
            (float(_get(row, "time_ms")), math.nan if memory is None else float(memory)))
    methods = list(dict.fromkeys(m for m, _ in table))
    adapts = list(dict.fromkeys(a for _, a in table))
    palette = _series_colors(methods, colors)
    styles = dict(zip(adapts, ["-", "--", ":", "-."] * 4))
    fig = _new_figure((11.0, 4.4))
    ax_time, ax_mem = fig.subplots(1, 2)
    any_memory = False
    for (method, adapt), by_k in table.items():
        ks = sorted(by_k)
        time = [np.mean([t for t, _ in by_k[k]]) for k in ks]
        mem = [np.nanmean([m for _, m in by_k[k]]) if any(np.isfinite(m) for _, m in by_k[k]) else np.nan
               for k in ks]
        label = method if adapt is None else f"{method} (adapt {adapt})"
        style = dict(color=palette[method], linestyle=styles[adapt], linewidth=2, markersize=6,
                     marker=SERIES_MARKERS[methods.index(method) % len(SERIES_MARKERS)])
        ax_time.plot(ks, time, label=label, **style)
        if np.isfinite(mem).any():
            any_memory = True
        ax_mem.plot(ks, mem, label=label, **style)
    if not any_memory:
        ax_mem.text(0.5, 0.5, "memory not measured", transform=ax_mem.transAxes, ha="center", va="center",
                    color=CHANCE_COLOR)
    for ax, ylabel in ((ax_time, "time per meta-step (ms)"), (ax_mem, "peak memory per meta-step (MB)")):
        ax.set_xlabel("inner steps K")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if log_y:
            ax.set_yscale("log")
    ax_time.set_title("Time")
    ax_mem.set_title("Memory")
    handles, labels = ax_time.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper")
    fig.suptitle(title or "Cost of one meta-step vs. inner steps")
    return fig
