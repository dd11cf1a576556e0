"""Plotting for the course: data in, `matplotlib.figure.Figure` out.

Every function here is pure: it takes numbers (torch tensors, numpy arrays or
lists), draws them and returns the figure. Nothing trains, runs a model or calls
``plt.show()``; nothing changes the global ``rcParams`` (each function draws inside
``matplotlib.rc_context(STYLE_RC)``).

Groups of plots:

* attention: `plot_attention_head`, `plot_attention_grid`, `plot_attention_mean`,
  `plot_attention_compare`;
* per-head statistics (Clark et al. 2019, see `metalearn_edu.analysis`):
  `plot_head_summary`, `plot_head_summary_compare`;
* MLM masking: `plot_masking`; pretraining curves: `plot_training`;
* meta-learning: `plot_adaptation`, `plot_sinusoid`, `plot_sinusoid_panels`,
  `plot_line_tasks`, `plot_cost`, `plot_accuracy_vs_budget`;
* `save_figure` writes a PNG.

Notebook display: figures are created without pyplot, so they never pile up in
pyplot's figure registry and a notebook never shows one twice. A returned figure
appears when it is the last expression of a cell (``viz.plot_training(history)``,
or ``fig = ...`` followed by ``fig``) or through ``IPython.display.display(fig)``;
``fig = viz.plot_training(history)`` alone shows nothing. Functions with an ``ax``
argument draw into an axes you created (e.g. with ``plt.subplots``) and return its
figure instead.

Colours: lines use the Okabe–Ito palette (distinguishable with the common forms of
colour blindness), heat maps use 'viridis' (attention, fractions) and 'magma'
(entropy); all choices live in the module constants below.

Shape letters: L layers, H heads, T sequence length, K inner steps.
"""

from __future__ import annotations

import functools
import io
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import EngFormatter, MaxNLocator

__all__ = [
    "OKABE_ITO", "LINE_COLORS", "ATTENTION_CMAP", "ENTROPY_CMAP", "MASKING_COLORS", "STYLE_RC",
    "NotebookFigure", "plot_attention_head", "plot_attention_grid", "plot_attention_mean",
    "plot_attention_compare", "plot_head_summary", "plot_head_summary_compare", "plot_masking",
    "plot_training", "plot_adaptation", "plot_sinusoid", "plot_sinusoid_panels", "plot_line_tasks", "plot_cost",
    "plot_accuracy_vs_budget", "save_figure",
]

# ---------------------------------------------------------------------------------------
# Style: every colour and size choice of the module
# ---------------------------------------------------------------------------------------
OKABE_ITO = {  # Okabe & Ito (2008), "Color Universal Design"
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
# Order in which series get colours; yellow last because it is faint on white.
LINE_COLORS = tuple(OKABE_ITO[name] for name in (
    "blue", "orange", "bluish_green", "vermillion", "reddish_purple", "sky_blue", "black", "yellow"))
ATTENTION_CMAP = "viridis"  # attention weights and attention fractions in [0, 1]
ENTROPY_CMAP = "magma"  # attention entropy (nats), on its own scale
HIGHLIGHT_COLOR = OKABE_ITO["vermillion"]  # outline of heads above a threshold
REFERENCE_COLOR = OKABE_ITO["black"]  # baselines: unigram loss, published numbers
CHANCE_COLOR = "#777777"  # chance level
NEUTRAL_COLOR = "#BBBBBB"  # bars that are not the answer
MASKING_COLORS = {  # fill of a token box in `plot_masking`
    "mask": OKABE_ITO["orange"],  # selected, replaced by [MASK]
    "random": OKABE_ITO["reddish_purple"],  # selected, replaced by a random token
    "kept": OKABE_ITO["sky_blue"],  # selected, left unchanged
    "untouched": "#FFFFFF",  # not a prediction target
}
CORRECT_COLOR = OKABE_ITO["bluish_green"]  # the right answer among a model's guesses
REFERENCE_MARKERS = ("D", "s", "^", "v", "P", "X")  # published reference points
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X")  # one per method in `plot_cost`
FIG_DPI = 100  # figure resolution in a notebook
SAVE_DPI = 120  # resolution of `save_figure`
STYLE_RC = {  # applied with `matplotlib.rc_context` while a figure is drawn, never globally
    "axes.prop_cycle": cycler(color=LINE_COLORS),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "figure.titlesize": 13,
    "font.size": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "image.cmap": ATTENTION_CMAP,
    "image.interpolation": "nearest",
}
_MONO_CHAR_EM = 0.602  # advance width of a DejaVu Sans Mono character, in ems
_STAT_TITLES = {  # panel titles for the statistics of `analysis.attention_pattern_stats`
    "cls": "attention to [CLS]",
    "sep": "attention to [SEP]",
    "punct": "attention to . and ,",
    "self": "attention to itself",
    "prev": "attention to previous token",
    "next": "attention to next token",
    "entropy": "attention entropy (nats)",
}
_STAT_KEYS = ("cls", "sep", "punct", "self", "prev", "next", "entropy")


class NotebookFigure(Figure):
    """A `matplotlib.figure.Figure` that Jupyter shows as a PNG.

    The module builds figures without pyplot (so notebooks never display them twice
    and scripts do not accumulate open figures); ``_repr_png_`` is what lets
    IPython render such a figure when it is a cell's last expression.
    """

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=self.dpi, bbox_inches="tight", facecolor="white")
        return buffer.getvalue()


_F = TypeVar("_F", bound=Callable[..., Any])


def _styled(func: _F) -> _F:
    """Run a plotting function inside ``rc_context(STYLE_RC)``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with mpl.rc_context(STYLE_RC):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------
# Small helpers: conversion, validation, labels
# ---------------------------------------------------------------------------------------
def _new_figure(figsize: tuple[float, float], layout: str | None = "constrained") -> Figure:
    return NotebookFigure(figsize=figsize, dpi=FIG_DPI, layout=layout, facecolor="white")


def _as_array(x: Any, name: str) -> np.ndarray:
    """A float numpy array from a tensor (any device or dtype), an array or a list."""
    if hasattr(x, "detach"):  # a torch.Tensor; viz does not import torch
        x = x.detach().to("cpu").float().numpy()
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} could not be read as an array of numbers ({err})") from None


def _as_bool(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").numpy()
    return np.asarray(x).astype(bool)


def _squeeze_leading(a: np.ndarray, ndim: int) -> np.ndarray:
    """Drop leading size-1 dimensions until ``a`` has ``ndim`` dimensions, e.g. (1, 1, T, T) -> (T, T)."""
    while a.ndim > ndim and a.shape[0] == 1:
        a = a[0]
    return a


def _square(weights: Any, name: str) -> np.ndarray:
    w = _squeeze_leading(_as_array(weights, name), 2)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(
            f"{name} has shape {tuple(w.shape)}; expected one head's (T, T) weights, "
            f"e.g. out.attentions[layer][0, head]")
    return w


def _check_tokens(tokens: Sequence[str], T: int, what: str) -> list[str]:
    if isinstance(tokens, str):
        raise ValueError("tokens is a string; pass the list of tokens, e.g. tokenizer.convert_ids_to_tokens(ids)")
    tokens = [str(t) for t in tokens]
    if len(tokens) != T:
        raise ValueError(
            f"tokens has {len(tokens)} entries but {what} covers T={T} positions; pass one token per "
            f"position (including [CLS], [SEP] and any padding)")
    return tokens


def _check_max_tokens(max_tokens: int) -> None:
    if not isinstance(max_tokens, (int, np.integer)) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise ValueError(f"max_tokens={max_tokens!r} is not allowed; it must be a positive integer")


def _truncation(T: int, max_tokens: int) -> tuple[int, str]:
    """How many positions to show, and the note for the title (empty if all are shown)."""
    _check_max_tokens(max_tokens)
    n = min(T, int(max_tokens))
    return n, (f"first {n} of {T} tokens" if n < T else "")


def _token_label(token: str, max_chars: int = 12) -> str:
    """A token as a tick label: no mathtext, no newlines, at most ``max_chars`` characters."""
    text = str(token).replace("\n", "\\n").replace("\t", "\\t")
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text.replace("$", r"\$")


def _tick_fontsize(axis_inches: float, n: int) -> float:
    """Font size (pt) at which ``n`` tick labels fit along ``axis_inches`` without overprinting."""
    return float(np.clip(0.8 * axis_inches * 72.0 / max(n, 1), 0.0, 10.0))


def _with_note(title: str, *notes: str) -> str:
    notes = tuple(n for n in notes if n)
    return f"{title}\n({'; '.join(notes)})" if notes else title


def _check_index_list(values: Sequence[int] | None, size: int, name: str, what: str) -> list[int]:
    if values is None:
        return list(range(size))
    chosen = [int(v) for v in values]
    if not chosen:
        raise ValueError(f"{name} is empty; pass at least one {what} index or None for all")
    bad = [v for v in chosen if not 0 <= v < size]
    if bad:
        raise ValueError(f"{name} contains {bad}; {what} indices must lie in [0, {size})")
    return chosen


def _get(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _series_colors(names: Sequence[str], colors: Mapping[str, str] | None) -> dict[str, str]:
    """A colour per series: ``colors[name]`` where given, else the next unused palette colour."""
    colors = dict(colors or {})
    free = [c for c in LINE_COLORS if c not in colors.values()] or list(LINE_COLORS)
    out, i = {}, 0
    for name in names:
        if name in colors:
            out[name] = colors[name]
        else:
            out[name] = free[i % len(free)]
            i += 1
    return out


def _text_color(rgba: Sequence[float]) -> str:
    """Black on light cells, white on dark ones (relative luminance)."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "white"


# ---------------------------------------------------------------------------------------
# Attention maps
# ---------------------------------------------------------------------------------------
def _stack_layers(attentions: Any, index: int | None) -> np.ndarray:
    """Per-layer attention (tuple of (H, T, T) or (B, H, T, T), or one (L, H, T, T) array) -> (L, H, T, T)."""
    if hasattr(attentions, "shape"):  # one tensor/array holding every layer
        whole = _as_array(attentions, "attentions")
        if whole.ndim not in (4, 5):
            raise ValueError(
                f"attentions has shape {tuple(whole.shape)}; pass one (H, T, T) or (B, H, T, T) tensor per "
                f"layer (e.g. out.attentions), or a single (L, H, T, T) array")
        layers = list(whole)
    else:
        layers = list(attentions)
    if not layers:
        raise ValueError("attentions is empty; pass one (H, T, T) or (B, H, T, T) tensor per layer")
    out = []
    for l, layer in enumerate(layers):
        a = _as_array(layer, f"attentions[{l}]")
        if a.ndim == 4:
            B = a.shape[0]
            if index is None:
                if B != 1:
                    raise ValueError(f"attentions[{l}] has batch size {B}; pass index=i to pick one sequence")
                a = a[0]
            elif not -B <= index < B:
                raise ValueError(f"index={index} is out of range for batch size {B}")
            else:
                a = a[index]
        if a.ndim != 3 or a.shape[1] != a.shape[2]:
            raise ValueError(f"attentions[{l}] has shape {tuple(a.shape)}; expected (H, T, T) or (B, H, T, T)")
        if out and a.shape != out[0].shape:
            raise ValueError(f"attentions[{l}] has shape {tuple(a.shape)} but attentions[0] has {tuple(out[0].shape)}")
        out.append(a)
    return np.stack(out)  # (L, H, T, T)


def _draw_attention(ax: Axes, w: np.ndarray, labels: list[str], *, vmin: float, vmax: float, cmap: str,
                    fontsize: float):
    """One (n, n) attention map with queries on rows and keys on columns.

    In a grid made with ``sharex``/``sharey``, matplotlib already hides the inner tick
    labels; the labels themselves live in the shared formatter, so set them everywhere.
    """
    image = ax.imshow(w, vmin=vmin, vmax=vmax, cmap=cmap, aspect="equal", interpolation="nearest")
    n = w.shape[0]
    show = fontsize >= 4.5  # smaller labels are unreadable: leave them out rather than overprint
    ax.set_xticks(range(n) if show else [])
    ax.set_yticks(range(n) if show else [])
    if show:
        ax.set_xticklabels(labels, rotation=90, fontsize=fontsize)
        ax.set_yticklabels(labels, fontsize=fontsize)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return image


def _label_attention_panels(fig: Figure, title: str, note: str, fontsize: float) -> None:
    """Shared axis labels and title of a figure of attention panels (noting hidden tick labels)."""
    fig.supxlabel("key (attended-to token)")
    fig.supylabel("query (attending token)")
    hidden = "token labels hidden: too many to read" if fontsize < 4.5 else ""
    fig.suptitle(_with_note(title, note, hidden))


def _axes_inches(ax: Axes) -> tuple[float, float]:
    """The current size of an axes in inches (before any layout engine adjusts it)."""
    dpi = ax.figure.dpi
    return ax.bbox.width / dpi, ax.bbox.height / dpi


@_styled
def plot_attention_head(
    weights: Any,
    tokens: Sequence[str],
    title: str | None = None,
    ax: Axes | None = None,
    max_tokens: int = 40,
    vmin: float = 0.0,
    vmax: float | None = None,
    cmap: str = ATTENTION_CMAP,
    colorbar: bool = True,
) -> Figure:
    """Heat map of one attention head, with tokens on both axes.

    Row i is query token i's attention distribution over the keys (columns).
    Sequences longer than ``max_tokens`` are cut to their first ``max_tokens``
    positions (rows and columns), and the title says so.

    Args:
        weights: one head's attention weights, e.g. ``out.attentions[layer][0, head]``;
            leading size-1 dimensions are dropped.
        tokens: one label per position.
        title: the axes title; default "Attention weights".
        ax: draw into this axes (and return its figure); None makes a new figure.
        max_tokens: show at most this many positions.
        vmin, vmax: colour range; ``vmax=None`` uses the largest weight shown.
        cmap: colour map.
        colorbar: add a colour bar.

    Returns:
        The figure.

    Shapes:
        weights: (T, T) indexed [query, key]; tokens: T entries.

    Example:
        >>> fig = plot_attention_head(np.eye(3), ["[CLS]", "hi", "[SEP]"], title="layer 0, head 1")

        With a model: ``plot_attention_head(out.attentions[layer][0, head], tokens)``.
    """
    w = _square(weights, "weights")
    tokens = _check_tokens(tokens, w.shape[0], "weights")
    n, note = _truncation(len(tokens), max_tokens)
    w = w[:n, :n]
    if ax is None:
        side = float(np.clip(0.19 * n + 2.0, 3.5, 9.0))
        fig = _new_figure((side + 1.2, side + 0.6))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    width, height = _axes_inches(ax)
    fontsize = _tick_fontsize(min(width, height), n)
    vmax = float(np.nanmax(w)) if vmax is None else float(vmax)
    image = _draw_attention(ax, w, [_token_label(t) for t in tokens[:n]], vmin=vmin, vmax=max(vmax, vmin + 1e-9),
                            cmap=cmap, fontsize=fontsize)
    ax.set_title(_with_note(title or "Attention weights", note))
    ax.set_xlabel("key (attended-to token)")
    ax.set_ylabel("query (attending token)")
    if colorbar:
        fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return fig


@_styled
def plot_attention_grid(
    attentions: Any,
    tokens: Sequence[str],
    max_tokens: int = 24,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    index: int | None = None,
    title: str | None = None,
    vmax: float | None = None,
    cmap: str = ATTENTION_CMAP,
) -> Figure:
    """Every head of every layer as small multiples: a layers × heads grid.

    All panels share one colour scale (and one colour bar), so a sharp head and a
    diffuse one can be told apart. Token labels appear on the left column and
    the bottom row when they fit; with many heads they are left out (look at one
    head with `plot_attention_head`).

    Args:
        attentions: one tensor per layer, each (H, T, T) or (B, H, T, T)
            (e.g. ``out.attentions``), or a single (L, H, T, T) array.
        tokens: one label per position.
        max_tokens: show at most this many positions (the title says when cut).
        layers, heads: 0-based indices to show (default all), e.g. ``heads=range(4)``.
        index: which sequence of a batch (B > 1) to draw.
        title: figure title.
        vmax: top of the colour scale; None uses the largest weight shown.
        cmap: colour map.

    Returns:
        The figure: one axes per (layer, head) in row-major order, plus the colour bar.

    Shapes:
        attentions[l]: (H, T, T) or (B, H, T, T) indexed [.., head, query, key]; tokens: T entries.

    Example:
        >>> attentions = [np.full((1, 2, 3, 3), 1 / 3)] * 2  # 2 layers, each (B=1, H=2, T=3, T=3)
        >>> fig = plot_attention_grid(attentions, ["[CLS]", "hi", "[SEP]"])
        >>> len(fig.axes)  # 2 × 2 panels and the colour bar
        5

        With a model: ``plot_attention_grid(model(ids, return_attention=True).attentions,
        tokenizer.convert_ids_to_tokens(ids[0]))``.
    """
    A = _stack_layers(attentions, index)  # (L, H, T, T)
    L, H, T, _ = A.shape
    tokens = _check_tokens(tokens, T, "attentions")
    layer_ids = _check_index_list(layers, L, "layers", "layer")
    head_ids = _check_index_list(heads, H, "heads", "head")
    n, note = _truncation(T, max_tokens)
    A = A[np.ix_(layer_ids, head_ids)][..., :n, :n]  # (L', H', n, n)
    nl, nh = len(layer_ids), len(head_ids)
    cell = float(np.clip(min(14.0 / nh, 11.0 / nl), 0.9, 2.4))
    fig = _new_figure((cell * nh + 2.2, cell * nl + 1.6))
    axes = fig.subplots(nl, nh, squeeze=False, sharex=True, sharey=True)
    fontsize = _tick_fontsize(0.8 * cell, n)
    labels = [_token_label(t, 10) for t in tokens[:n]]
    vmax = float(np.nanmax(A)) if vmax is None else float(vmax)
    image = None
    for i, layer in enumerate(layer_ids):
        for j, head in enumerate(head_ids):
            ax = axes[i, j]
            image = _draw_attention(ax, A[i, j], labels, vmin=0.0, vmax=max(vmax, 1e-9), cmap=cmap,
                                    fontsize=fontsize)
            if i == 0:
                ax.set_title(f"head {head}")
            if j == 0:
                ax.set_ylabel(f"layer {layer}")
    fig.colorbar(image, ax=axes, shrink=min(0.8, 4.0 / nl + 0.2), label="attention weight")
    _label_attention_panels(fig, title or "Attention weights: layers × heads", note, fontsize)
    return fig


@_styled
def plot_attention_mean(
    attentions: Any,
    tokens: Sequence[str],
    max_tokens: int = 30,
    index: int | None = None,
    title: str | None = None,
    cmap: str = ATTENTION_CMAP,
) -> Figure:
    """The attention of each layer averaged over its heads: one row of L panels.

    Args:
        attentions: one tensor per layer, each (H, T, T) or (B, H, T, T), or one (L, H, T, T) array.
        tokens: one label per position.
        max_tokens: show at most this many positions.
        index: which sequence of a batch (B > 1) to draw.
        title: figure title.
        cmap: colour map.

    Returns:
        The figure: L heat-map axes (shared colour scale) plus the colour bar.

    Shapes:
        attentions[l]: (H, T, T) or (B, H, T, T); tokens: T entries.
    """
    A = _stack_layers(attentions, index)  # (L, H, T, T)
    L, H, T, _ = A.shape
    tokens = _check_tokens(tokens, T, "attentions")
    n, note = _truncation(T, max_tokens)
    mean = A.mean(axis=1)[:, :n, :n]  # (L, n, n)
    cell = float(np.clip(15.0 / L, 1.8, 4.0))
    fig = _new_figure((cell * L + 1.8, cell + 2.0))
    axes = fig.subplots(1, L, squeeze=False, sharex=True, sharey=True)[0]
    fontsize = _tick_fontsize(0.85 * cell, n)
    labels = [_token_label(t, 10) for t in tokens[:n]]
    vmax = max(float(np.nanmax(mean)), 1e-9)
    image = None
    for l, ax in enumerate(axes):
        image = _draw_attention(ax, mean[l], labels, vmin=0.0, vmax=vmax, cmap=cmap, fontsize=fontsize)
        ax.set_title(f"layer {l}")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label=f"mean attention weight over {H} heads")
    _label_attention_panels(fig, title or "Attention averaged over heads, per layer", note, fontsize)
    return fig


@_styled
def plot_attention_compare(
    maps: Mapping[str, Any],
    tokens: Sequence[str] | Mapping[str, Sequence[str]],
    max_tokens: int = 30,
    title: str | None = None,
    vmax: float | None = None,
    cmap: str = ATTENTION_CMAP,
) -> Figure:
    """The same kind of head in several models, side by side on one colour scale.

    Args:
        maps: ``{model name: (T, T) weights}``, e.g. ``{"random init": ..., "our checkpoint": ...,
            "MiniLM": ...}``; one head each.
        tokens: one list for all models, or ``{model name: tokens}`` when their
            tokenizers differ.
        max_tokens: show at most this many positions per map.
        title: figure title.
        vmax: top of the shared colour scale; None uses the largest weight shown.
        cmap: colour map.

    Returns:
        The figure: one axes per model, plus the colour bar.

    Shapes:
        maps[name]: (T_name, T_name); tokens (per model): T_name entries.
    """
    if not maps:
        raise ValueError("maps is empty; pass {model name: (T, T) attention weights} for at least one model")
    _check_max_tokens(max_tokens)
    shown: dict[str, tuple[np.ndarray, list[str], str]] = {}
    for name, weights in maps.items():
        w = _square(weights, f"maps[{name!r}]")
        if isinstance(tokens, Mapping):
            if name not in tokens:
                raise ValueError(f"tokens has no entry for {name!r}; give tokens for every model in maps")
            toks = _check_tokens(tokens[name], w.shape[0], f"maps[{name!r}]")
        else:
            toks = _check_tokens(tokens, w.shape[0], f"maps[{name!r}]")
        n, note = _truncation(len(toks), max_tokens)
        shown[str(name)] = (w[:n, :n], [_token_label(t, 10) for t in toks[:n]], note)
    M = len(shown)
    n_max = max(w.shape[0] for w, _, _ in shown.values())
    cell = float(np.clip(15.0 / M, 2.5, 5.5))
    fig = _new_figure((cell * M + 1.6, cell + 2.2))
    axes = fig.subplots(1, M, squeeze=False)[0]
    fontsize = _tick_fontsize(0.85 * cell, n_max)
    top = max(float(np.nanmax(w)) for w, _, _ in shown.values()) if vmax is None else float(vmax)
    image = None
    for ax, (name, (w, labels, note)) in zip(axes, shown.items()):
        image = _draw_attention(ax, w, labels, vmin=0.0, vmax=max(top, 1e-9), cmap=cmap, fontsize=fontsize)
        ax.set_title(_with_note(name, note))
        ax.set_xlabel("key")
    axes[0].set_ylabel("query")
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight")
    fig.suptitle(title or "Attention compared across models")
    return fig


# ---------------------------------------------------------------------------------------
# Per-head statistics
# ---------------------------------------------------------------------------------------
def _check_stats(stats: Mapping[str, Any], keys: Sequence[str] | None, name: str = "stats") -> dict[str, np.ndarray]:
    if not stats:
        raise ValueError(f"{name} is empty; pass the output of analysis.attention_pattern_stats")
    if keys is None:
        keys = [k for k in _STAT_KEYS if k in stats] or list(stats)
    else:
        keys = list(keys)
        missing = [k for k in keys if k not in stats]
        if not keys or missing:
            raise ValueError(f"{name} has no {missing or 'keys'}; choose keys among {sorted(stats)}")
    out = {k: _as_array(stats[k], f"{name}[{k!r}]") for k in keys}
    shapes = {k: v.shape for k, v in out.items()}
    first = next(iter(shapes.values()))
    if any(len(s) != 2 for s in shapes.values()) or any(s != first for s in shapes.values()):
        raise ValueError(f"every statistic must be an (L, H) array of the same shape; got {shapes}")
    return out


def _draw_head_map(ax: Axes, values: np.ndarray, *, norm: Normalize, cmap: str, annotate: bool,
                   threshold: float | None, cell_inches: float):
    """One (L, H) statistic: layer on y, head on x, values written in the cells."""
    L, H = values.shape
    image = ax.imshow(values, norm=norm, cmap=cmap, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(H))
    ax.set_yticks(range(L))
    ax.tick_params(length=0)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    for spine in ax.spines.values():
        spine.set_visible(False)
    colormap = mpl.colormaps[cmap]
    fontsize = float(np.clip(cell_inches * 72 * 0.3, 5.0, 9.0))
    for l in range(L):
        for h in range(H):
            v = values[l, h]
            if annotate:
                text = "–" if not np.isfinite(v) else f"{v:.2f}"
                color = "black" if not np.isfinite(v) else _text_color(colormap(norm(v)))
                ax.text(h, l, text, ha="center", va="center", fontsize=fontsize, color=color)
            if threshold is not None and np.isfinite(v) and v > threshold:
                ax.add_patch(Rectangle((h - 0.5, l - 0.5), 1, 1, fill=False, edgecolor=HIGHLIGHT_COLOR,
                                       linewidth=2.5, label="_highlight"))
    return image


@_styled
def plot_head_summary(
    stats: Mapping[str, Any],
    keys: Sequence[str] | None = None,
    threshold: float | None = 0.5,
    highlight: Sequence[str] = ("prev", "next"),
    annotate: bool = True,
    title: str | None = None,
) -> Figure:
    """What every head attends to, one heat-map panel per statistic (Clark et al. 2019).

    Panels show layer on the y axis and head on the x axis with the value written in
    each cell, so "the previous-token head" is the bright, outlined cell of the
    "previous token" panel. The attention fractions share one 0–1 colour scale
    ('viridis'); entropy, in nats, has its own ('magma').

    Args:
        stats: ``{name: (L, H)}``, e.g. from `analysis.attention_pattern_stats` or
            `analysis.model_attention_stats`.
        keys: which statistics to draw; None draws those of ``cls, sep, punct,
            self, prev, next, entropy`` that ``stats`` has.
        threshold: outline cells above it in the ``highlight`` panels (Clark et
            al. call a head with prev > 0.5 a previous-token head); None: no outlines.
        highlight: the statistics whose cells get outlined.
        annotate: write the value in each cell.
        title: figure title.

    Returns:
        The figure: one heat-map axes per key plus one colour bar per scale.

    Shapes:
        stats[key]: (L, H).
    """
    arrays = _check_stats(stats, keys)
    L, H = next(iter(arrays.values())).shape
    names = [k for k in arrays if k != "entropy"] + [k for k in arrays if k == "entropy"]  # entropy last
    fractions = [k for k in names if k != "entropy"]
    cell = float(np.clip(min(5.5 / H, 3.5 / L), 0.3, 0.6))
    panel_w, panel_h = cell * H + 1.0, cell * L + 0.9
    ncols = int(np.clip(math.floor(15.0 / panel_w), 1, len(names)))
    nrows = math.ceil(len(names) / ncols)
    ncols = math.ceil(len(names) / nrows)  # balance the rows
    fig = _new_figure((panel_w * ncols + 1.4, panel_h * nrows + 0.9))
    # panels in a grid plus one narrow column on the right for the colour bars, so that
    # a colour bar never widens one column of panels
    grid = fig.add_gridspec(nrows, ncols + 1, width_ratios=[1.0] * ncols + [0.05])
    axes = [fig.add_subplot(grid[i // ncols, i % ncols]) for i in range(len(names))]
    top = 1.0
    if fractions:
        top = max(1.0, float(np.nanmax([np.nanmax(arrays[k]) if np.isfinite(arrays[k]).any() else 0.0
                                        for k in fractions])))
    frac_norm = Normalize(0.0, top)
    frac_image = ent_image = None
    for ax, key in zip(axes, names):
        values = arrays[key]
        if key == "entropy":
            finite = values[np.isfinite(values)]
            norm = Normalize(0.0, max(float(finite.max()) if finite.size else 1.0, 1e-9))
            ent_image = _draw_head_map(ax, values, norm=norm, cmap=ENTROPY_CMAP, annotate=annotate,
                                       threshold=None, cell_inches=cell)
        else:
            frac_image = _draw_head_map(ax, values, norm=frac_norm, cmap=ATTENTION_CMAP, annotate=annotate,
                                        threshold=threshold if key in highlight else None, cell_inches=cell)
        ax.set_title(_STAT_TITLES.get(key, key))
    if frac_image is not None and ent_image is not None:
        if nrows == 1:
            pair = grid[0, ncols].subgridspec(2, 1, hspace=0.35)
            frac_slot, ent_slot = pair[0], pair[1]
        else:  # entropy is the last panel, so its colour bar sits in the last row
            frac_slot, ent_slot = grid[: nrows - 1, ncols], grid[nrows - 1, ncols]
    else:
        frac_slot = ent_slot = grid[:, ncols]
    if frac_image is not None:
        fig.colorbar(frac_image, cax=fig.add_subplot(frac_slot, label="<colorbar>"), label="mean attention fraction")
    if ent_image is not None:
        fig.colorbar(ent_image, cax=fig.add_subplot(ent_slot, label="<colorbar>"), label="entropy (nats)")
    outlined = [k for k in names if k in highlight and k != "entropy"]
    note = f"outlined: {'/'.join(outlined)} > {threshold:g}" if threshold is not None and outlined else ""
    fig.suptitle(_with_note(title or "What each attention head looks at (mean over queries)", note))
    return fig


@_styled
def plot_head_summary_compare(
    stats_by_model: Mapping[str, Mapping[str, Any]],
    key: str = "prev",
    threshold: float | None = 0.5,
    annotate: bool = True,
    title: str | None = None,
) -> Figure:
    """One statistic (e.g. attention to the previous token) for several models side by side.

    Args:
        stats_by_model: ``{model name: stats}``, each from `analysis.attention_pattern_stats`;
            models may have different numbers of layers and heads.
        key: the statistic to compare.
        threshold: outline heads above it (not for ``"entropy"``); None: no outlines.
        annotate: write the value in each cell.
        title: figure title.

    Returns:
        The figure: one heat-map axes per model plus one shared colour bar.

    Shapes:
        stats_by_model[name][key]: (L_name, H_name).
    """
    if not stats_by_model:
        raise ValueError("stats_by_model is empty; pass {model name: attention_pattern_stats output}")
    arrays = {str(name): _check_stats(stats, [key], f"stats_by_model[{name!r}]")[key]
              for name, stats in stats_by_model.items()}
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays.values()])
    top = float(finite.max()) if finite.size else 1.0
    norm = Normalize(0.0, max(top, 1e-9) if key == "entropy" else max(top, 1.0))
    cmap = ENTROPY_CMAP if key == "entropy" else ATTENTION_CMAP
    max_l = max(a.shape[0] for a in arrays.values())
    max_h = max(a.shape[1] for a in arrays.values())
    cell = float(np.clip(min(5.5 / max_h, 3.5 / max_l), 0.3, 0.6))
    fig = _new_figure((sum(cell * a.shape[1] + 1.1 for a in arrays.values()) + 1.4, cell * max_l + 1.6))
    axes = fig.subplots(1, len(arrays), squeeze=False,
                        gridspec_kw={"width_ratios": [a.shape[1] for a in arrays.values()]})[0]
    image = None
    for ax, (name, values) in zip(axes, arrays.items()):
        image = _draw_head_map(ax, values, norm=norm, cmap=cmap, annotate=annotate,
                               threshold=None if key == "entropy" else threshold, cell_inches=cell)
        ax.set_title(name)
    fig.colorbar(image, ax=list(axes), shrink=0.8,
                 label="entropy (nats)" if key == "entropy" else "mean attention fraction")
    note = f"outlined: > {threshold:g}" if threshold is not None and key != "entropy" else ""
    fig.suptitle(_with_note(title or f"{_STAT_TITLES.get(key, key).capitalize()}, per head", note))
    return fig


# ---------------------------------------------------------------------------------------
# MLM masking
# ---------------------------------------------------------------------------------------
_MASK_LABELS = {
    "mask": "selected → [MASK]",
    "random": "selected → random token",
    "kept": "selected, kept unchanged",
    "untouched": "not selected",
}


def _masking_flags(masking: Any, T: int, index: int | None) -> dict[str, np.ndarray]:
    """The (T,) bool flags masked/randomized/kept/selected of one sequence, validated."""
    flags = {}
    for name in ("masked", "randomized", "kept", "selected"):
        value = _get(masking, name)
        if value is None:
            if name == "selected":
                continue
            raise ValueError(f"masking has no {name!r}; pass a MaskedBatch or a dict with masked, randomized, kept")
        a = _as_bool(value, name)
        if a.ndim == 2:
            B = a.shape[0]
            if index is None and B != 1:
                raise ValueError(f"masking.{name} has batch size {B}; pass index=i to pick one sequence")
            i = 0 if index is None else index
            if not -B <= i < B:
                raise ValueError(f"index={index} is out of range for batch size {B}")
            a = a[i]
        if a.ndim != 1 or a.shape[0] != T:
            raise ValueError(f"masking.{name} has shape {tuple(a.shape)} but tokens has {T} entries; they must match")
        flags[name] = a
    m, r, k = flags["masked"], flags["randomized"], flags["kept"]
    if (m & r).any() or (m & k).any() or (r & k).any():
        raise ValueError("masked, randomized and kept overlap; each selected position must be in exactly one")
    union = m | r | k
    if "selected" in flags and not np.array_equal(flags["selected"], union):
        raise ValueError("selected differs from masked | randomized | kept; the flags do not describe one masking")
    flags["selected"] = union
    return flags


def _guess_positions(guesses: Any, flags: dict[str, np.ndarray]) -> dict[int, list[tuple[str, float]]]:
    """``{position: [(token, prob), ...]}`` from a dict or from a list in sentence order."""
    if isinstance(guesses, Mapping):
        items = [(int(pos), g) for pos, g in guesses.items()]
        T = flags["selected"].shape[0]
        bad = [p for p, _ in items if not 0 <= p < T]
        if bad:
            raise ValueError(f"guesses has positions {bad} outside [0, {T})")
    else:
        guesses = list(guesses)
        selected = np.flatnonzero(flags["selected"]).tolist()
        masked = np.flatnonzero(flags["masked"]).tolist()
        if len(guesses) == len(selected):
            positions = selected
        elif len(guesses) == len(masked):
            positions = masked
        else:
            raise ValueError(
                f"guesses has {len(guesses)} entries but there are {len(selected)} selected and {len(masked)} "
                f"[MASK] positions; give one list of (token, prob) per selected (or per [MASK]) position, "
                f"left to right, or a dict {{position: guesses}}")
        items = list(zip(positions, guesses))
    out = {}
    for pos, guess in items:
        pairs = [(str(tok), float(p)) for tok, p in guess]
        if not pairs:
            raise ValueError(f"the guesses for position {pos} are empty; give at least one (token, prob)")
        out[pos] = pairs
    return dict(sorted(out.items()))


@_styled
def plot_masking(
    tokens: Sequence[str],
    masking: Any,
    corrupted_tokens: Sequence[str] | None = None,
    guesses: Sequence[Sequence[tuple[str, float]]] | Mapping[int, Sequence[tuple[str, float]]] | None = None,
    index: int | None = None,
    line_chars: int = 80,
    max_guesses: int = 8,
    title: str | None = None,
) -> Figure:
    """A sentence as coloured token boxes showing BERT's 80/10/10 corruption.

    Each box holds the token the model is fed; colour says what happened to it
    (replaced by [MASK], replaced by a random token, selected but kept, not
    selected), and every selected position has its target (the original token)
    written under the box. Long sentences wrap onto several lines. With
    ``guesses``, a row of small bar charts below shows the model's top-k
    predictions at each target, the correct token in green.

    Args:
        tokens: the original tokens of one sequence.
        masking: a `masking.MaskedBatch` (or any object or dict with bool
            ``masked``, ``randomized``, ``kept`` and optionally ``selected``), for
            one sequence or a batch (then give ``index``).
        corrupted_tokens: the tokens actually fed to the model (shows which random
            token replaced a word); None writes "[MASK]" at masked positions and
            the original elsewhere.
        guesses: the model's top-k ``(token, probability)`` pairs, one list per
            selected position left to right (or per [MASK] position), or a dict
            ``{position: [(token, prob), ...]}``.
        index: which sequence of a batch to draw.
        line_chars: wrap lines at about this many characters.
        max_guesses: draw at most this many guess panels.
        title: figure title.

    Returns:
        The figure: the sentence axes, plus one axes per guess panel.

    Shapes:
        tokens, corrupted_tokens: T entries; masking fields: (T,) or (B, T).

    Example:
        >>> flags = {"masked": [False, True, False, False], "randomized": [False] * 4, "kept": [False] * 4}
        >>> fig = plot_masking(["[CLS]", "good", "day", "[SEP]"], flags, guesses=[[("good", 0.6), ("nice", 0.2)]])

        With a batch from `masking.mask_tokens`: ``plot_masking(tokens, mb, index=0,
        corrupted_tokens=tokenizer.convert_ids_to_tokens(mb.input_ids[0]))``.
    """
    if isinstance(tokens, str):
        raise ValueError("tokens is a string; pass the list of tokens")
    tokens = [str(t) for t in tokens]
    T = len(tokens)
    if T == 0:
        raise ValueError("tokens is empty; pass the tokens of one sequence")
    if line_chars < 20:
        raise ValueError(f"line_chars={line_chars!r} is too small; use at least 20")
    if max_guesses < 1:
        raise ValueError(f"max_guesses={max_guesses!r} is not allowed; it must be >= 1")
    flags = _masking_flags(masking, T, index)
    if corrupted_tokens is None:
        shown = ["[MASK]" if flags["masked"][i] else tokens[i] for i in range(T)]
    else:
        if isinstance(corrupted_tokens, str) or len(corrupted_tokens) != T:
            raise ValueError(f"corrupted_tokens must be a list of {T} tokens, like tokens")
        shown = [str(t) for t in corrupted_tokens]
    kind = np.where(flags["masked"], "mask", np.where(flags["randomized"], "random",
                                                      np.where(flags["kept"], "kept", "untouched")))
    guess_by_pos = _guess_positions(guesses, flags) if guesses is not None else {}

    # 1) lay the boxes out in character units: x in characters, y in lines (line 0 on top)
    max_chars = max(4, min(24, line_chars - 2))
    box_text = [_token_label(s, max_chars) for s in shown]
    target_text = [_token_label(t, max_chars) for t in tokens]
    gap, small = 0.8, 0.8  # space between boxes; size of the target text relative to the box text
    placed, x, line = [], 0.0, 0
    for i in range(T):
        width = max(len(box_text[i].replace("\\$", "$")),
                    small * len(target_text[i].replace("\\$", "$")) if kind[i] != "untouched" else 0) + 1.2
        if x > 0 and x + width > line_chars:
            x, line = 0.0, line + 1
        placed.append((x, line, width))
        x += width + gap
    n_lines = line + 1

    # 2) a manual layout so that one character has a known width in inches
    fontsize = 11.0
    char_in = _MONO_CHAR_EM * fontsize / 72.0
    margin, line_in, head_in = 0.3, 0.75, 1.3
    shown_guesses = list(guess_by_pos.items())[:max_guesses]
    ncols = min(4, len(shown_guesses)) or 1
    grows = math.ceil(len(shown_guesses) / ncols)
    k_max = max((len(g) for _, g in shown_guesses), default=0)
    guess_row_in = 0.28 * k_max + 1.0
    width_in = max(line_chars * char_in + 2 * margin, 6.0)
    height_in = head_in + n_lines * line_in + (grows * guess_row_in + 0.35 if shown_guesses else 0.0) + 0.15
    fig = _new_figure((width_in, height_in), layout=None)
    top_frac = 1.0 - head_in / height_in
    sentence_h = n_lines * line_in / height_in
    ax = fig.add_axes((margin / width_in, top_frac - sentence_h, line_chars * char_in / width_in, sentence_h))
    ax.set_xlim(0, line_chars)
    ax.set_ylim(n_lines, 0)
    ax.axis("off")
    for i, (x0, row, width) in enumerate(placed):
        is_target = kind[i] != "untouched"
        ax.add_patch(Rectangle((x0, row + 0.12), width, 0.48, facecolor=MASKING_COLORS[kind[i]],
                               edgecolor="black" if is_target else "#999999", linewidth=1.3 if is_target else 0.8,
                               label=f"_token_{kind[i]}"))
        special = not is_target and shown[i].startswith("[") and shown[i].endswith("]")
        ax.text(x0 + width / 2, row + 0.36, box_text[i], ha="center", va="center", family="monospace",
                fontsize=fontsize, color="#666666" if special else "black",
                fontweight="bold" if is_target else "normal")
        if is_target:
            ax.text(x0 + width / 2, row + 0.8, target_text[i], ha="center", va="center", family="monospace",
                    fontsize=fontsize * small, style="italic", color="#333333")
    counts = {k: int((kind == k).sum()) for k in MASKING_COLORS}
    handles = [Patch(facecolor=MASKING_COLORS[k], edgecolor="black" if k != "untouched" else "#999999",
                     label=f"{_MASK_LABELS[k]} ({counts[k]})") for k in MASKING_COLORS]
    fig.legend(handles=handles, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 1.0 - 0.72 / height_in),
               fontsize=8.5, handlelength=1.2, columnspacing=1.2)
    n_selected = int(flags["selected"].sum())
    fig.suptitle(title or f"MLM masking: {n_selected} of {T} tokens are prediction targets\n"
                          f"(the original token is written under each target)", y=1.0 - 0.08 / height_in, va="top")

    # 3) the model's guesses: one horizontal bar chart per target position
    guess_axes = []
    if shown_guesses:
        panel_w = (width_in - 2 * margin) / ncols
        top_in = head_in + n_lines * line_in + 0.35
        fig.text(margin / width_in, 1 - (top_in - 0.05) / height_in, "The model's top guesses at each target "
                 "(green: the original token)", fontsize=10, va="bottom")
        for g, (pos, pairs) in enumerate(shown_guesses):
            r, c = divmod(g, ncols)
            left_in = margin + c * panel_w + 1.0  # room for the token labels
            bottom_in = top_in + (r + 1) * guess_row_in - 0.45
            gax = fig.add_axes((left_in / width_in, 1 - bottom_in / height_in,
                                (panel_w - 1.25) / width_in, (guess_row_in - 0.85) / height_in))
            names = [p[0] for p in pairs]
            probs = [p[1] for p in pairs]
            colors = [CORRECT_COLOR if name == tokens[pos] else NEUTRAL_COLOR for name in names]
            gax.barh(range(len(pairs)), probs, height=0.7, color=colors, edgecolor="none")
            gax.set_yticks(range(len(pairs)))
            gax.set_yticklabels([_token_label(nm, 10) for nm in names], family="monospace", fontsize=8)
            gax.set_ylim(k_max - 0.5, -0.5)  # same bar thickness in every panel, best guess on top
            gax.set_xlim(0, 1)
            gax.tick_params(axis="x", labelsize=7)
            gax.set_xlabel("probability", fontsize=8)
            gax.set_ylabel("guess", fontsize=8, labelpad=1)
            gax.set_title(f"pos {pos}: target '{_token_label(tokens[pos], 10)}'", fontsize=8.5)
            for y, p in enumerate(probs):
                gax.text(min(p, 0.78) + 0.02, y, f"{p:.2f}", va="center", fontsize=7)
            guess_axes.append(gax)
        if len(guess_by_pos) > len(shown_guesses):
            guess_axes[0].annotate(f"showing {len(shown_guesses)} of {len(guess_by_pos)} targets",
                                   xy=(0, 1), xycoords="axes fraction", xytext=(0, 22),
                                   textcoords="offset points", fontsize=8, style="italic")
    return fig


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

        After `pretrain.train`: ``plot_training(history, x="tokens")``.
    """
    if x not in ("step", "time", "tokens"):
        raise ValueError(f"x={x!r} is not allowed; choose 'step', 'time' or 'tokens'")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing={smoothing!r} is not allowed; it must lie in [0, 1)")
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

    # 1) the x values of the training log and of the evaluations
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
    train_x, eval_x = train_x / scale, eval_x / scale

    # 2) the panels
    if unigram is None and f["unigram_loss"].size and np.isfinite(f["unigram_loss"]).any():
        unigram = float(np.nanmean(f["unigram_loss"]))
    draw_lr = show_lr and f["lr"].size > 0
    draw_acc = (f["eval_top1"].size > 0) if show_accuracy is None else show_accuracy
    if draw_acc and f["eval_top1"].size != f["eval_step"].size:
        raise ValueError(f"history.eval_top1 has {f['eval_top1'].size} entries but eval_step has "
                         f"{f['eval_step'].size}; pass show_accuracy=False if accuracy was not logged")
    ratios = [3.0] + [1.2] * draw_lr + [1.8] * draw_acc
    fig = _new_figure((8.0, 3.2 + 1.3 * draw_lr + 1.9 * draw_acc))
    axes = fig.subplots(len(ratios), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": ratios})[:, 0]
    ax = axes[0]
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
    row = 1
    if draw_lr:
        lax = axes[row]
        lax.plot(train_x, f["lr"], color=OKABE_ITO["bluish_green"], linewidth=1.5, label="learning rate")
        lax.set_ylabel("learning rate")
        lax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        lax.grid(alpha=0.3)
        row += 1
    if draw_acc:
        aax = axes[row]
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
        The figure (one axes); its legend has one entry per method, then chance and
        the reference series.

    Shapes:
        curves[m]["steps"], ["mean"], ["ci"]: (K_m,) each.

    Example:
        >>> curves = {"MAML": {"steps": [0, 1, 10], "mean": [3.0, 0.9, 0.4], "ci": [0.2, 0.1, 0.05]}}
        >>> fig = plot_adaptation(curves, reference={"MAML (Finn et al.)": {1: 0.67, 5: 0.38, 10: 0.35}})
        >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        ['MAML', 'MAML (Finn et al.)']
    """
    data = _check_curves(curves, "steps", "curves")
    fig = _new_figure((7.0, 4.5))
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
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric_name)
    band = " (mean ± 95% CI)" if any("ci" in c for c in data.values()) else " (mean)"
    ax.set_title(title or f"{metric_name} after k inner steps{band}")
    ax.grid(alpha=0.3)
    ax.legend()
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
        paths: ``{method: (S, 2)}`` trajectories, drawn as lines ending in a cross.
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
    for (name, path), style in zip((paths or {}).items(), ("--", "-", ":", "-.")):
        xy = _as_array(path, f"paths[{name!r}]").reshape(-1, 2)
        ax.plot(xy[:, 0], xy[:, 1], style, color=REFERENCE_COLOR, lw=1.5, label=name)
        ax.plot(*xy[-1], "x", color=REFERENCE_COLOR, ms=9)
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


# ---------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------
def save_figure(fig: Figure, path: str | Path, dpi: int = SAVE_DPI) -> Path:
    """Write a figure to a file (PNG unless the suffix names another format).

    Parent folders are created; a path without a suffix gets ``.png``.

    Args:
        fig: the figure.
        path: where to write it, e.g. ``"figures/attention.png"``.
        dpi: resolution in dots per inch.

    Returns:
        The path written.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig is a {type(fig).__name__}; pass a matplotlib Figure")
    path = Path(path)
    if path.suffix == "":
        path = path.with_suffix(".png")
    fmt = path.suffix[1:].lower()
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(f"cannot save as {path.suffix!r}; use .png (or one of {', '.join(sorted(supported))})")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", facecolor="white")
    return path
