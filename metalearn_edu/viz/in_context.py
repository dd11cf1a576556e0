"""Pictures of chapter 9: errors per test condition (in and out of the training distribution) and the
phase change of an induction head."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .style import CHANCE_COLOR, _new_figure, _series_colors, _styled


@_styled
def plot_condition_errors(table: Mapping[str, Mapping[str, Mapping[str, float]]], conditions: Sequence[str],
                          methods: Sequence[str], labels: Mapping[str, str] | None = None, title: str = "",
                          ylabel: str = "query MSE (log scale)", note: str = "") -> Figure:
    """Grouped bars: one group per test condition, one bar per method, its interval as an error bar.

    Args:
        table: condition -> method -> ``{"mean", "half"}``.
        conditions, methods: what to draw, in order (a missing cell is left empty).
        labels: condition -> axis label (default: the condition's name).
        note: a line under the title (e.g. how many seeds and tasks).

    Example:
        >>> t = {"in": {"a": {"mean": 0.1, "half": 0.01}, "b": {"mean": 0.4, "half": 0.05}}}
        >>> fig = plot_condition_errors(t, ["in"], ["a", "b"])
    """
    if not conditions or not methods:
        raise ValueError("give at least one condition and one method")
    colors = _series_colors(list(methods), None)
    fig = _new_figure((1.5 * len(conditions) + 2.5, 4.2))
    ax = fig.add_subplot()
    width = 0.8 / len(methods)
    for j, m in enumerate(methods):
        xs, means, halves = [], [], []
        for i, c in enumerate(conditions):
            cell = table.get(c, {}).get(m)
            if cell is None:
                continue
            xs.append(i + (j - (len(methods) - 1) / 2) * width)
            means.append(cell["mean"])
            halves.append(cell["half"])
        if not xs:
            continue
        means_a, halves_a = np.asarray(means), np.asarray(halves)
        lower = np.minimum(halves_a, means_a * 0.999)  # a log axis cannot show an interval reaching 0
        ax.bar(xs, means_a, width=width, color=colors[m], label=m, yerr=[lower, halves_a], capsize=2,
               error_kw={"elinewidth": 0.8})
    ax.set_yscale("log")
    ax.set_xticks(range(len(conditions)), [(labels or {}).get(c, c) for c in conditions], fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title + (f"\n{note}" if note else ""))
    ax.legend(loc="upper left", fontsize=8, ncol=min(len(methods), 5))
    ax.grid(alpha=0.3, axis="y")
    return fig


@_styled
def plot_phase_change(history: Mapping[str, Sequence[float]], chance: float | None = None,
                      title: str = "An induction head forms") -> Figure:
    """Two panels over training steps: the loss on repeated tokens, and the largest per-head induction score.

    Args:
        history: ``{"step", "repeat_loss", "induction"}`` lists (`meta.in_context.train_induction_model`).
        chance: the loss of a uniform guess (log V), drawn dashed.
    """
    for key in ("step", "repeat_loss", "induction"):
        if key not in history or not len(history[key]):
            raise ValueError(f"history lacks {key!r}; pass what train_induction_model returns")
    steps = np.asarray(history["step"], dtype=float)
    fig = _new_figure((7.0, 4.6))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(steps, history["repeat_loss"], marker=".", label="loss on repeated tokens")
    if chance is not None:
        top.axhline(chance, color=CHANCE_COLOR, linestyle="--", linewidth=1, label=f"uniform guess (log V = {chance:.2f})")
    top.set_ylabel("nats")
    top.legend(loc="best", fontsize=8)
    top.grid(alpha=0.3)
    bottom.plot(steps, history["induction"], marker=".", color="C1", label="best head's induction score")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("attention mass")
    bottom.set_xlabel("training step")
    bottom.legend(loc="best", fontsize=8)
    bottom.grid(alpha=0.3)
    top.set_title(title)
    return fig
