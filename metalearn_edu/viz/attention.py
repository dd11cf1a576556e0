"""Attention maps and per-head attention statistics (Clark et al. 2019).

Shape letters: L layers, H heads, T sequence length.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import (
    ATTENTION_CMAP,
    ENTROPY_CMAP,
    HIGHLIGHT_COLOR,
    _STAT_KEYS,
    _STAT_TITLES,
    _as_array,
    _check_index_list,
    _check_max_tokens,
    _check_tokens,
    _new_figure,
    _square,
    _styled,
    _text_color,
    _tick_fontsize,
    _token_label,
    _trim_vertical_slack,
    _truncation,
    _with_note,
)

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
    _trim_vertical_slack(fig)
    return fig


@_styled
def plot_attention_mosaic(
    attentions: Any,
    tokens: Sequence[str],
    max_tokens: int = 24,
    index: int | None = None,
    title: str | None = None,
    cmap: str = ATTENTION_CMAP,
) -> Figure:
    """Every head of every layer in one image: a layers × heads mosaic of attention maps.

    The fast sibling of `plot_attention_grid` for interactive use: the L × H maps are pasted into
    one array (separated by blank lines) and drawn with a single ``imshow``, so it costs about what
    one head costs, whatever the number of heads. Token labels are left out (look at one head with
    `plot_attention_head`); rows are layers, columns heads, one shared colour scale.

    Shapes:
        attentions[l]: (H, T, T) or (B, H, T, T); tokens: T entries.

    Example:
        >>> attentions = [np.full((1, 2, 3, 3), 1 / 3)] * 2
        >>> fig = plot_attention_mosaic(attentions, ["[CLS]", "hi", "[SEP]"])
        >>> len(fig.axes)  # the mosaic and its colour bar
        2
    """
    A = _stack_layers(attentions, index)  # (L, H, T, T)
    L, H, T, _ = A.shape
    tokens = _check_tokens(tokens, T, "attentions")
    n, note = _truncation(T, max_tokens)
    A = A[..., :n, :n]
    gap = max(1, n // 8)
    step = n + gap
    mosaic = np.full((L * step - gap, H * step - gap), np.nan)
    for layer in range(L):
        for head in range(H):
            mosaic[layer * step:layer * step + n, head * step:head * step + n] = A[layer, head]
    width = float(np.clip(0.55 * H + 2.0, 4.0, 11.0))
    height = float(np.clip(width * (L * step) / (H * step) + 1.0, 2.5, 9.0))
    fig = _new_figure((width, height))
    ax = fig.add_subplot()
    image = ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=max(float(np.nanmax(A)), 1e-9), interpolation="nearest",
                      aspect="equal")
    ax.set_xticks([h * step + (n - 1) / 2 for h in range(H)])
    ax.set_xticklabels([str(h) for h in range(H)], fontsize=8)
    ax.set_yticks([layer * step + (n - 1) / 2 for layer in range(L)])
    ax.set_yticklabels([str(layer) for layer in range(L)], fontsize=8)
    ax.set_xlabel("head (each square: queries down, keys across)")
    ax.set_ylabel("layer")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    ax.set_title(_with_note(title or f"Attention weights: {L} layers × {H} heads, {n} tokens", note))
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
    _trim_vertical_slack(fig)
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
    _trim_vertical_slack(fig)
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
