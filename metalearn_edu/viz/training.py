"""Pretraining curves: training and held-out loss against steps, tokens or time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from .style import (
    OKABE_ITO,
    REFERENCE_COLOR,
    _as_array,
    _get,
    _new_figure,
    _styled,
)

# ---------------------------------------------------------------------------------------
# Pretraining curves
# ---------------------------------------------------------------------------------------
def _ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Bias-corrected exponential moving average (as TensorBoard's smoothing); NaNs are skipped."""
    out = np.full_like(values, np.nan, dtype=float)
    mean, n = 0.0, 0
    for i, v in enumerate(values):
        if np.isfinite(v):
            mean = weight * mean + (1 - weight) * v
            n += 1
        if n:
            out[i] = mean / (1 - weight ** n)
    return out


def _history_field(history: Any, name: str) -> np.ndarray:
    value = _get(history, name)
    return np.asarray([], dtype=float) if value is None else _as_array(value, f"history.{name}").reshape(-1)


@_styled
def plot_training(
    history: Any,
    unigram: float | None = None,
    show_lr: bool = True,
    x: str = "step",
    show_accuracy: bool | None = None,
    smoothing: float = 0.9,
    log_loss: bool = False,
    title: str | None = None,
) -> Figure:
    """Pretraining curves: training and held-out MLM loss against a unigram baseline.

    The raw training loss is drawn faintly with a smoothed line on top; the
    held-out loss as points; the unigram baseline (a model that ignores context)
    as a dashed line. Below: the learning-rate schedule and, when logged, top-1 /
    top-5 accuracy at the masked tokens.

    Args:
        history: a `pretrain.History`, its ``to_dict()`` form, or anything with the
            same fields (``step, time, tokens, train_loss, lr, eval_step, eval_time,
            eval_loss, eval_top1, eval_top5, unigram_loss``).
        unigram: the baseline loss; None uses the mean of ``history.unigram_loss`` (no
            line if that is empty).
        show_lr: add the learning-rate panel (if ``lr`` was logged).
        x: the x axis: ``"step"``, ``"time"`` (training time) or ``"tokens"`` (tokens seen).
            Evaluation points without their own time/token count are placed by
            interpolating over the training log.
        show_accuracy: add the accuracy panel; None adds it when ``eval_top1`` is logged.
        smoothing: weight of the exponential moving average in [0, 1) (0: no smoothing).
        log_loss: logarithmic loss axis.
        title: figure title.

    Returns:
        The figure: the loss axes, then the learning-rate and accuracy axes when drawn.

    Example:
        >>> fig = plot_training({"step": [1, 2, 3], "train_loss": [9.0, 7.5, 7.0]}, unigram=7.2)

        After `pretrain.pretrain`: ``plot_training(history, x="tokens")``.
    """
    if x not in ("step", "time", "tokens"):
        raise ValueError(f"x={x!r} is not allowed; choose 'step', 'time' or 'tokens'")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing={smoothing!r} is not allowed; it must lie in [0, 1)")
    f = _history_fields(history)
    # 1) the x values of the training log and of the evaluations
    train_x, eval_x, xlabel = _x_values(f, x)
    # 2) the panels: loss, then learning rate and accuracy when they were logged
    if unigram is None and f["unigram_loss"].size and np.isfinite(f["unigram_loss"]).any():
        unigram = float(np.nanmean(f["unigram_loss"]))
    draw_lr = show_lr and f["lr"].size > 0
    draw_acc = (f["eval_top1"].size > 0) if show_accuracy is None else show_accuracy
    if draw_acc and f["eval_top1"].size != f["eval_step"].size:
        raise ValueError(f"history.eval_top1 has {f['eval_top1'].size} entries but eval_step has "
                         f"{f['eval_step'].size}; pass show_accuracy=False if accuracy was not logged")
    ratios = [3.0] + [1.2] * draw_lr + [1.8] * draw_acc
    fig = _new_figure((8.0, 3.2 + 1.3 * draw_lr + 1.9 * draw_acc))
    axes = list(fig.subplots(len(ratios), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0])
    _draw_losses(axes[0], f, train_x, eval_x, smoothing, unigram, log_loss, title)
    if draw_lr:
        lax = axes[1]
        lax.plot(train_x, f["lr"], color=OKABE_ITO["bluish_green"], linewidth=1.5, label="learning rate")
        lax.set_ylabel("learning rate")
        lax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        lax.grid(alpha=0.3)
    if draw_acc:
        aax = axes[-1]
        aax.plot(eval_x, 100 * f["eval_top1"], "o-", color=OKABE_ITO["vermillion"], markersize=4, label="top-1")
        if f["eval_top5"].size == f["eval_step"].size and f["eval_top5"].size:
            aax.plot(eval_x, 100 * f["eval_top5"], "s-", color=OKABE_ITO["reddish_purple"], markersize=4,
                     label="top-5")
        aax.set_ylabel("masked-token\naccuracy (%)")
        aax.legend(loc="lower right")
        aax.grid(alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    if x == "tokens":
        axes[-1].xaxis.set_major_formatter(EngFormatter())
    return fig


def _history_fields(history: Any) -> dict[str, np.ndarray]:
    """The logged series as arrays, checked for matching lengths."""
    f = {name: _history_field(history, name) for name in (
        "step", "time", "tokens", "train_loss", "lr", "eval_step", "eval_time", "eval_loss", "eval_top1",
        "eval_top5", "unigram_loss")}
    if f["train_loss"].size == 0 and f["eval_loss"].size == 0:
        raise ValueError("history has neither train_loss nor eval_loss; there is nothing to plot")
    if f["step"].size != f["train_loss"].size:
        raise ValueError(f"history.step has {f['step'].size} entries but train_loss has {f['train_loss'].size}")
    if f["eval_step"].size != f["eval_loss"].size:
        raise ValueError(f"history.eval_step has {f['eval_step'].size} entries but eval_loss has {f['eval_loss'].size}")
    for name in ("time", "tokens", "lr"):
        if f[name].size not in (0, f["step"].size):
            raise ValueError(f"history.{name} has {f[name].size} entries but step has {f['step'].size}")
    return f


def _x_values(f: dict[str, np.ndarray], x: str) -> tuple[np.ndarray, np.ndarray, str]:
    """x of the training log and of the evaluations (interpolated when not logged), and the axis label."""
    xlabel = {"step": "optimizer step", "time": "training time", "tokens": "tokens seen"}[x]
    train_x = f["step"] if x == "step" else f[x]
    if x != "step" and train_x.size != f["step"].size:
        raise ValueError(f"x={x!r} needs history.{x}, which is empty; use x='step'")
    if x == "step":
        eval_x = f["eval_step"]
    elif x == "time" and f["eval_time"].size == f["eval_step"].size and f["eval_time"].size:
        eval_x = f["eval_time"]
    elif f["eval_step"].size:
        if f["step"].size < 2:
            raise ValueError(f"x={x!r} needs at least two training log entries to place the evaluations")
        eval_x = np.interp(f["eval_step"], f["step"], train_x)
    else:
        eval_x = np.asarray([], dtype=float)
    scale = 1.0
    if x == "time":
        t_max = float(np.nanmax(np.concatenate([train_x, eval_x]))) if train_x.size + eval_x.size else 0.0
        scale, unit = (3600.0, "h") if t_max > 3 * 3600 else (60.0, "min") if t_max > 600 else (1.0, "s")
        xlabel = f"training time ({unit})"
    return train_x / scale, eval_x / scale, xlabel


def _draw_losses(ax: Any, f: dict[str, np.ndarray], train_x: np.ndarray, eval_x: np.ndarray, smoothing: float,
                 unigram: float | None, log_loss: bool, title: str | None) -> None:
    """Raw and smoothed training loss, held-out loss as points, the unigram baseline as a dashed line."""
    color_train, color_eval = OKABE_ITO["blue"], OKABE_ITO["orange"]
    if f["train_loss"].size:
        if smoothing > 0:
            ax.plot(train_x, f["train_loss"], color=color_train, alpha=0.25, linewidth=0.8, label="train loss (raw)")
            ax.plot(train_x, _ema(f["train_loss"], smoothing), color=color_train, linewidth=2.0,
                    label=f"train loss (smoothed, EMA {smoothing:g})")
        else:
            ax.plot(train_x, f["train_loss"], color=color_train, linewidth=1.5, label="train loss")
    if f["eval_loss"].size:
        ax.plot(eval_x, f["eval_loss"], "o-", color=color_eval, markersize=4, linewidth=1.5, label="held-out loss")
    if unigram is not None:
        ax.axhline(unigram, color=REFERENCE_COLOR, linestyle="--", linewidth=1.2,
                   label=f"unigram baseline ({unigram:.2f})")
    if log_loss:
        ax.set_yscale("log")
    ax.set_ylabel("MLM loss (nats)")
    ax.set_title(title or "Masked-LM pretraining")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
