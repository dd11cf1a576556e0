"""Pictures of the course's studies: paired differences (forest plots), trade-offs, curves over a budget.

Every plot states how many seeds and episodes stand behind each number (the caller passes them),
draws only measured points (lines join them, markers show them), and zooms its axes to the data.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..analysis import mean_ci
from .style import CHANCE_COLOR, LINE_COLORS, OKABE_ITO, _new_figure, _series_colors, _styled


@_styled
def plot_forest(rows: Sequence[Mapping[str, Any]], title: str, xlabel: str = "difference from the MLM start",
                note: str = "") -> Figure:
    """One row per method: the mean difference with its interval, 0 marked, per-seed values as dots.

    Args:
        rows: ``{"label", "mean", "half"}`` and optionally ``"per_seed"`` (the seeds' own values),
            top to bottom.
        title: the figure title; `note` goes under it (e.g. "3 seeds × 100 episodes each").

    Example:
        >>> fig = plot_forest([{"label": "FOMAML", "mean": 0.01, "half": 0.02, "per_seed": [0.0, 0.01, 0.02]}], "BBC")
    """
    if not rows:
        raise ValueError("rows is empty; give at least one {'label', 'mean', 'half'}")
    fig = _new_figure((7.0, 0.55 * len(rows) + 1.4))
    ax = fig.add_subplot()
    ys = np.arange(len(rows))[::-1]
    lows, highs = [], []
    for y, row in zip(ys, rows):
        mean, half = float(row["mean"]), float(row["half"])
        excludes_zero = mean - half > 0 or mean + half < 0
        color = OKABE_ITO["blue"] if excludes_zero else "#555555"
        ax.errorbar(mean, y, xerr=half, fmt="o", color=color, capsize=4, markersize=6, linewidth=1.6)
        seeds = row.get("per_seed") or []
        if len(seeds):
            ax.scatter(seeds, [y] * len(seeds), s=14, color=color, alpha=0.45, zorder=3)
        lows += [mean - half, *seeds]
        highs += [mean + half, *seeds]
    ax.axvline(0.0, color=CHANCE_COLOR, linestyle="--", linewidth=1.0)
    span = max(max(highs) - min(lows), 1e-3)
    ax.set_xlim(min(min(lows), 0.0) - 0.08 * span, max(max(highs), 0.0) + 0.08 * span)
    ax.set_yticks(ys)
    ax.set_yticklabels([str(r["label"]) for r in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(xlabel)
    ax.set_title(title + (f"\n{note}" if note else ""))
    ax.grid(axis="x", alpha=0.3)
    return fig


@_styled
def plot_tradeoff(points: Sequence[Mapping[str, Any]], accuracy_label: str, title: str = "",
                  note: str = "", start: Mapping[str, float] | None = None) -> Figure:
    """Held-out MLM loss (x) against downstream accuracy (y): one point per run, one colour per λ.

    Args:
        points: ``{"weight": λ, "mlm_loss": …, "accuracy": …}`` per run (e.g. per λ and seed); the mean
            of each λ is drawn larger, with its seeds around it.
        start: optional ``{"mlm_loss", "accuracy"}`` of the starting model, as a black cross.

    Example:
        >>> fig = plot_tradeoff([{"weight": 0.0, "mlm_loss": 4.45, "accuracy": 0.85},
        ...                      {"weight": 1.0, "mlm_loss": 4.80, "accuracy": 0.87}], "BBC 5-shot accuracy")
    """
    if not points:
        raise ValueError("points is empty; give one {'weight', 'mlm_loss', 'accuracy'} per run")
    weights = sorted({float(p["weight"]) for p in points})
    colors = dict(zip(weights, LINE_COLORS * (1 + len(weights) // len(LINE_COLORS))))
    fig = _new_figure((6.4, 4.6))
    ax = fig.add_subplot()
    for w in weights:
        mine = [p for p in points if float(p["weight"]) == w]
        xs, ys = [float(p["mlm_loss"]) for p in mine], [float(p["accuracy"]) for p in mine]
        ax.scatter(xs, ys, s=22, color=colors[w], alpha=0.5)
        ax.scatter([np.mean(xs)], [np.mean(ys)], s=90, color=colors[w], edgecolor="black", zorder=3,
                   label=f"λ = {w:g}")
    if start is not None:
        ax.scatter([start["mlm_loss"]], [start["accuracy"]], marker="X", s=110, color="black", zorder=4,
                   label="start (mlm-micro)")
    ax.set_xlabel("held-out MLM loss (nats; lower is better)")
    ax.set_ylabel(accuracy_label)
    ax.set_title(title + (f"\n{note}" if note else ""))
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@_styled
def plot_budget_curves(curves: Mapping[str, Mapping[str, Sequence[Sequence[float]]]], ylabel: str,
                       title: str = "", note: str = "", reference: Mapping[str, float] | None = None) -> Figure:
    """A quantity at the measured moments of each run, mean over seeds with a t-interval band.

    Args:
        curves: label -> ``{"seconds": per seed [x…], "values": per seed [y…]}``; the seeds of a label
            are measured at (nearly) the same moments, so points are averaged position by position.
        reference: label -> a horizontal line (e.g. the start's value).
    """
    if not curves:
        raise ValueError("curves is empty")
    colors = _series_colors(list(curves), None)
    fig = _new_figure((7.0, 4.4))
    ax = fig.add_subplot()
    for label, c in curves.items():
        xs = np.asarray(c["seconds"], dtype=float)  # (seeds, points)
        ys = np.asarray(c["values"], dtype=float)
        x = xs.mean(0)
        mean = ys.mean(0)
        half = np.asarray([mean_ci(ys[:, i])[1] if ys.shape[0] > 1 else 0.0 for i in range(ys.shape[1])])
        ax.plot(x, mean, "o-", color=colors[label], markersize=4, label=label)
        ax.fill_between(x, mean - half, mean + half, color=colors[label], alpha=0.15, linewidth=0)
    for label, value in (reference or {}).items():
        ax.axhline(value, color="black", linestyle=":", linewidth=1.0, label=label)
    ax.set_xlabel("training time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title + (f"\n{note}" if note else ""))
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@_styled
def plot_hybrid_run(history: Any, before: Mapping[str, float], after: Mapping[str, float], title: str = "",
                    note: str = "") -> Figure:
    """A short hybrid pretraining run: both loss terms per step, and held-out numbers before and after.

    Args:
        history: a `pretrain.History` (or its dict) with ``step``, ``mlm_loss`` and ``meta_loss``.
        before, after: ``{"held-out MLM loss": …, "SMLMT accuracy": …}`` (any names, shared by both).
        note: a line under the panels (e.g. what the stored study measured for this setting).
    """
    from matplotlib.ticker import MaxNLocator

    get = (lambda k: history[k]) if isinstance(history, Mapping) else (lambda k: getattr(history, k))
    names = list(before)
    fig = _new_figure((4.0 + 2.4 * len(names), 3.6))
    axes = fig.subplots(1, 1 + len(names), gridspec_kw={"width_ratios": [1.7] + [1.0] * len(names)})
    left = axes[0]
    steps = np.asarray(get("step"))
    for key, label, color in (("mlm_loss", "MLM loss", OKABE_ITO["blue"]),
                              ("meta_loss", "SMLMT query loss after adaptation", OKABE_ITO["orange"])):
        values = np.asarray(get(key), dtype=float)
        if np.isfinite(values).any():
            left.plot(steps, values, "o-", markersize=3, color=color, label=label)
    left.set_xlabel("training step")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    left.set_ylabel("training loss (nats)")
    left.legend(loc="best", fontsize=8)
    left.grid(alpha=0.3)
    for ax, name in zip(axes[1:], names):  # one panel per measure: they have different units
        values = [before[name], after[name]]
        bars = ax.bar([0, 1], values, width=0.6, color=["#BBBBBB", OKABE_ITO["blue"]])
        ax.bar_label(bars, fmt="%.3f", fontsize=8)
        ax.set_xticks([0, 1])
        ax.set_xticklabels(["before", "after"])
        low, high = min(values), max(values)
        pad = max(high - low, 0.02 * max(abs(high), 1e-3))
        ax.set_ylim(low - 2 * pad, high + 2 * pad)  # zoomed: the change, not the bar's height, is the point
        ax.set_title(name, fontsize=9)
    fig.suptitle(title or "A short hybrid run: (1 − λ)·MLM + λ·SMLMT")
    if note:
        fig.text(0.5, -0.02, note, ha="center", va="top", fontsize=8, wrap=True)
    return fig


@_styled
def plot_low_resource(table: Mapping[str, Mapping[str, Sequence[float]]], reference: str,
                      names: Mapping[str, str] | None = None, title: str = "", note: str = "",
                      chance: float | None = None) -> Figure:
    """Accuracy against labelled examples per class (log₂ K), and each method's paired difference from `reference`.

    Args:
        table: method -> ``{"k", "mean", "half", "diff", "diff_half"}`` (`metalearn_edu.studies.kshot_table`).
        reference: the method the right panel subtracts (its own row is left out there).
        names: display names of the methods.
        chance: a dashed line on the left panel.
    """
    if not table:
        raise ValueError("table is empty; give at least one method's curve")
    names = dict(names or {})
    labels = {m: names.get(m, m) for m in table}
    colors = _series_colors(list(labels.values()), None)
    fig = _new_figure((11.5, 4.4))
    left, right = fig.subplots(1, 2)
    for m, row in table.items():
        k = np.asarray(row["k"], dtype=float)
        mean, half = np.asarray(row["mean"]), np.asarray(row["half"])
        color = colors[labels[m]]
        left.plot(k, mean, "o-", color=color, markersize=4, label=labels[m],
                  linewidth=2.2 if m == reference else 1.4)
        left.fill_between(k, mean - half, mean + half, color=color, alpha=0.12, linewidth=0)
        if m != reference:
            d, dh = np.asarray(row["diff"]), np.asarray(row["diff_half"])
            right.plot(k, d, "o-", color=color, markersize=4, label=labels[m])
            right.fill_between(k, d - dh, d + dh, color=color, alpha=0.12, linewidth=0)
    if chance is not None:
        left.axhline(chance, color=CHANCE_COLOR, linestyle="--", linewidth=1.0, label="chance")
    right.axhline(0.0, color="black", linewidth=1.0)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ks = sorted({int(k) for row in table.values() for k in row["k"]})
        ax.set_xticks(ks)
        ax.set_xticklabels([str(k) for k in ks])
        ax.set_xlabel("labelled examples per class, K (log scale)")
        ax.grid(alpha=0.3)
    left.set_ylabel("query accuracy (mean ± 95% CI over episodes)")
    right.set_ylabel(f"paired difference from {labels.get(reference, reference)}")
    left.legend(loc="best", fontsize=7)
    right.set_title("above 0: better than the reference on the same episodes", fontsize=9)
    fig.suptitle(title + (f"\n{note}" if note else ""))
    return fig


@_styled
def plot_meta_history(histories: Mapping[str, Any], title: str = "", smoothing: float = 0.8,
                      ylabel: str = "query loss after adaptation (nats)") -> Figure:
    """Meta-training curves: the meta-loss of every outer step (faint) and its moving average (line).

    Args:
        histories: label -> a `meta.MetaHistory` (or its dict) with ``steps`` and ``meta_loss``.
        smoothing: weight of the exponential moving average in [0, 1) (bias-corrected, so the line
            starts at the first value).
    """
    if not histories:
        raise ValueError("histories is empty; give at least one {label: MetaHistory}")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing={smoothing!r} is not allowed; it must lie in [0, 1)")
    colors = _series_colors(list(histories), None)
    fig = _new_figure((7.0, 4.0))
    ax = fig.add_subplot()
    for label, h in histories.items():
        get = (lambda k: h[k]) if isinstance(h, Mapping) else (lambda k: getattr(h, k))
        steps, loss = np.asarray(get("steps"), dtype=float), np.asarray(get("meta_loss"), dtype=float)
        if not len(steps):
            continue
        ax.plot(steps, loss, color=colors[label], alpha=0.3, linewidth=0.9)
        smooth, mean = np.empty_like(loss), 0.0
        for i, v in enumerate(loss):
            mean = smoothing * mean + (1 - smoothing) * v
            smooth[i] = mean / (1 - smoothing ** (i + 1))
        ax.plot(steps, smooth, color=colors[label], linewidth=2.0, label=f"{label} (moving average)")
    ax.set_xlabel("outer step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@_styled
def plot_runs_by_condition(panels: Mapping[str, Mapping[str, Mapping[str, Sequence[Any]]]], ylabel: str,
                           title: str = "", xlabel: str = "step", note: str = "") -> Figure:
    """Side-by-side panels of a quantity along training, one line per condition, seeds as a band.

    Args:
        panels: panel title -> condition label -> ``{"x": (P,) points, "values": (S, P) one row per seed}``.
            The line is the mean over the S seeds; the band spans their smallest to largest value
            (with two or three seeds a t-interval would be uselessly wide, so the band shows the
            seeds themselves). Conditions keep their colour across panels.
        ylabel, xlabel, title, note: the axes' labels, the figure's title and a line under it.
    """
    if not panels or not all(panels.values()):
        raise ValueError("panels is empty, or one of its panels has no condition; give panel -> label -> data")
    labels = list(dict.fromkeys(label for curves in panels.values() for label in curves))
    colors = _series_colors(labels, None)
    fig = _new_figure((4.2 * len(panels) + 0.6, 4.0))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=False)[0]
    for ax, (name, curves) in zip(axes, panels.items()):
        for label, c in curves.items():
            x = np.asarray(c["x"], dtype=float)
            ys = np.atleast_2d(np.asarray(c["values"], dtype=float))  # (S, P)
            if ys.shape[1] != x.shape[0]:
                raise ValueError(f"panel {name!r}, condition {label!r}: {x.shape[0]} x values but "
                                 f"{ys.shape[1]} values per seed")
            ax.plot(x, ys.mean(0), color=colors[label], linewidth=1.6, label=label)
            if ys.shape[0] > 1:
                ax.fill_between(x, ys.min(0), ys.max(0), color=colors[label], alpha=0.18, linewidth=0)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(xlabel)
        if all(float(v).is_integer() for c in curves.values() for v in c["x"]):
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # layers, steps: no ticks between them
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[-1].legend(loc="best", fontsize=8)
    fig.suptitle(title + (f"\n{note}" if note else ""))
    return fig


@_styled
def plot_detectable(table: Mapping[str, Mapping[str, Mapping[str, Any]]], cells: Sequence[str],
                    titles: Mapping[str, str], names: Mapping[str, str], effect: float, note: str = "") -> Figure:
    """What a study could see: one panel per cell, one row per model; the grey band spans ± the
    smallest difference the design detects with 80% power (``mdd``), the point and bar are the
    measured difference and its interval, dashed lines mark ± `effect`.

    Args:
        table: `metalearn_edu.studies.power_table` (model -> cell -> ``mdd``, ``diff``, ``diff_half``).
        cells: the panels, left to right; `titles` names them and `names` the models (rows, top to bottom
            in the table's order).

    Example:
        >>> t = {"m": {"c": {"mdd": 0.05, "diff": 0.01, "diff_half": 0.03}}}
        >>> fig = plot_detectable(t, ["c"], {"c": "cell"}, {"m": "model"}, effect=0.02)
    """
    models = [m for m in table if any(c in table[m] for c in cells)]
    if not models:
        raise ValueError("table has no model with any of the cells; pass studies.power_table(...)")
    fig = _new_figure((2.6 * len(cells) + 1.8, 0.42 * len(models) + 1.5))
    axes = fig.subplots(1, len(cells), sharey=True, squeeze=False)[0]
    ys = np.arange(len(models))[::-1]
    reach = max(max(r["mdd"], abs(r["diff"]) + r["diff_half"]) for m in models for r in table[m].values())
    for ax, cell in zip(axes, cells):
        for y, m in zip(ys, models):
            row = table[m].get(cell)
            if row is None:
                continue
            ax.barh(y, 2 * row["mdd"], left=-row["mdd"], height=0.6, color="#dddddd", zorder=1)
            excludes_zero = abs(row["diff"]) > row["diff_half"]
            ax.errorbar(row["diff"], y, xerr=row["diff_half"], fmt="o", markersize=4, capsize=3, zorder=3,
                        color=OKABE_ITO["blue"] if excludes_zero else "#555555")
        for x in (-effect, effect):
            ax.axvline(x, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=0.9)
        ax.axvline(0.0, color=CHANCE_COLOR, linewidth=0.8)
        ax.set_xlim(-1.08 * reach, 1.08 * reach)
        ax.set_title(titles.get(cell, cell))
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels([names.get(m, m) for m in models])
    fig.supxlabel(f"difference from the reference (grey: ± the smallest difference detectable with 80% power; "
                  f"dashed: ± {effect:g})", fontsize=9)
    if note:
        fig.suptitle(note, fontsize=10)
    return fig


_CEILING_COLORS = {"tfidf": "blue", "minilm": "orange", "mlm": "bluish_green", "random": "vermillion",
                   "smlmt_fomaml": "reddish_purple", "fomaml": "reddish_purple", "protonet": "sky_blue",
                   "reptile": "yellow", "maml": "black"}


@_styled
def plot_ceilings(comparison: Mapping[str, Mapping[str, Any]], names: Mapping[str, str] | None = None,
                  titles: Mapping[str, str] | None = None, suites: Sequence[str] | None = None,
                  rows: Sequence[str] | None = None, title: str = "",
                  ylabel: str = "accuracy (K-shot episodes; full data: balanced)") -> Figure:
    """Per suite, each encoder's K-shot accuracy and, at the right, its full-data ceiling; chance dashed.

    The x axis is labelled examples per class on a log₂ scale; the last position is the whole
    training split (about n_train / N examples per class). K-shot points (mean ± 95 % CI over seeds)
    are joined by solid lines; a dotted line joins an encoder's last K-shot point to its ceiling
    (balanced test accuracy of the full-data probe, ± its bootstrap half-width), because nothing was
    measured in between. A high ceiling above a near-chance K-shot curve says the features carry the
    signal and the few examples cannot find it; a ceiling near chance says they do not carry it.

    Args:
        comparison: suite -> ``{"chance", "n_train", "rows": name -> {"k", "mean", "half", "ceiling",
            "ceiling_half"}}`` and optionally ``"per_class"`` (training texts per class behind the
            ceiling; default n_train / N) and ``"ceiling_from"`` (shown under the panel title), as
            `metalearn_edu.studies.ceiling_comparison` returns. ``"chance"`` may be None (a metric
            without a chance level, e.g. entity F1): then no chance line, and ``"per_class"`` is needed.
        names: display names of the rows (e.g. `metalearn_edu.studies.CEILING_NAMES`).
        titles: display names of the suites.
        suites: which suites, in panel order (default: all of `comparison`).
        rows: which encoders (and ``"tfidf"``) to draw (default: all; a panel skips those it lacks).
        ylabel: the y axis's label (e.g. entity F1 for a tagging suite).

    Raises:
        ValueError: for an empty `comparison`, a suite in `suites` it lacks, a name in `rows` that no
            chosen suite has, or a suite with nothing to draw.

    Example:
        >>> fig = plot_ceilings({"movies": {"chance": 0.5, "n_train": 1000, "rows": {"mlm": {
        ...     "k": [1, 5], "mean": [0.5, 0.51], "half": [0.01, 0.01], "ceiling": 0.7, "ceiling_half": 0.02}}}})
    """
    if not comparison:
        raise ValueError("comparison is empty; give at least one suite (studies.ceiling_comparison)")
    suites = list(comparison) if suites is None else list(suites)
    missing = [s for s in suites if s not in comparison]
    if missing or not suites:
        raise ValueError(f"suites={suites!r} is not allowed; choose from {sorted(comparison)}")
    names, titles = dict(names or {}), dict(titles or {})
    present = {n for s in suites for n in comparison[s]["rows"]}
    if rows is not None:
        unknown = [n for n in rows if n not in present]
        if unknown or not rows:
            raise ValueError(f"rows={list(rows)!r} is not allowed; choose from {sorted(present)}")
    keep = set(present if rows is None else rows)
    labels = sorted(keep, key=lambda n: (n != "tfidf", n))
    fixed = {names.get(n, n): OKABE_ITO[c] for n, c in _CEILING_COLORS.items()}  # the same colour in every figure
    colors = _series_colors([names.get(n, n) for n in labels], fixed)
    width = max(4.2 * len(suites), 7.5)
    fig = _new_figure((width, 4.2 + (0.4 if width < 9 else 0)))
    axes = np.atleast_1d(fig.subplots(1, len(suites), sharey=False))
    for ax, suite in zip(axes, suites):
        entry = {**comparison[suite], "rows": {n: r for n, r in comparison[suite]["rows"].items() if n in keep}}
        if not entry["rows"]:
            raise ValueError(f"suite {suite!r} has no rows to draw; give at least one encoder's ceiling")
        if entry["chance"] is None and "per_class" not in entry:
            raise ValueError(f"suite {suite!r} has no chance level; give its 'per_class'")
        per_class = entry["per_class"] if "per_class" in entry else entry["n_train"] * entry["chance"]
        full = max(per_class, 2 * max([k for r in entry["rows"].values() for k in r["k"]] or [1]))
        ks = sorted({k for r in entry["rows"].values() for k in r["k"]})
        for i, (name, row) in enumerate(sorted(entry["rows"].items(), key=lambda item: labels.index(item[0]))):
            label, color = names.get(name, name), colors[names.get(name, name)]
            x_full = full * 2 ** (0.06 * (i - 1))  # a small dodge so the ceilings' intervals do not overlap
            if row["k"]:
                k, mean, half = (np.asarray(row[key], dtype=float) for key in ("k", "mean", "half"))
                ax.errorbar(k, mean, yerr=half, fmt="o-", color=color, markersize=4, capsize=3, linewidth=1.4)
                ax.plot([k[-1], x_full], [mean[-1], row["ceiling"]], ":", color=color, linewidth=1.2)
            ax.errorbar([x_full], [row["ceiling"]], yerr=[row["ceiling_half"]], fmt="s", color=color, markersize=7,
                        capsize=3, label=label)
        if entry["chance"] is not None:
            ax.axhline(entry["chance"], color=CHANCE_COLOR, linestyle="--", linewidth=1.0, label="chance (1/N)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks + [full])
        ax.set_xticklabels([str(k) for k in ks] + [f"all\n(~{per_class:.0f}/class)"])
        ax.minorticks_off()
        ax.set_xlabel("labelled examples per class")
        where = entry.get("ceiling_from")
        ax.set_title(titles.get(suite, suite) + (f"\n(ceiling: {where})" if where else ""), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    handles, texts = axes[0].get_legend_handles_labels()
    seen = dict(zip(texts, handles))
    for ax in axes[1:]:
        for h, t in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(t, h)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncol=min(len(seen), 5 if width >= 9 else 3),
               fontsize=8)
    fig.suptitle(title or "Few-shot accuracy against the full-data ceiling (linear probe on frozen features)")
    return fig
