"""The course's plot style, the figure class notebooks display, and small helpers every plot shares.

Every colour and size choice of the package lives here: lines use the Okabe–Ito palette
(distinguishable with the common forms of colour blindness), heat maps use 'viridis' (attention,
fractions) and 'magma' (entropy). Nothing changes the global ``rcParams``: each plot draws inside
``matplotlib.rc_context(STYLE_RC)`` (`_styled`).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TypeVar

import matplotlib as mpl
import numpy as np
from cycler import cycler
from matplotlib.figure import Figure


# ---------------------------------------------------------------------------------------
# Style: every colour and size choice of the package
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
CJK_FONT_FILE = Path(__file__).resolve().parents[2] / "data" / "fonts" / "metalearn-edu-cjk.otf"
CJK_FAMILY = "metalearn-edu CJK"  # a subset of Noto Sans CJK SC (data/fonts/README.md)


def _register_cjk_font() -> bool:
    """Make the shipped Chinese font known to matplotlib and a fallback after DejaVu Sans in `STYLE_RC`
    (Chinese tokens in chapter 8's figures would otherwise be empty boxes). False when it is missing."""
    if not CJK_FONT_FILE.is_file():
        return False
    from matplotlib import font_manager

    if CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(CJK_FONT_FILE))
    STYLE_RC["font.family"] = ["DejaVu Sans", CJK_FAMILY]  # per glyph: DejaVu first, then the CJK subset
    return True


HAS_CJK_FONT = _register_cjk_font()
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


def _trim_vertical_slack(fig: Figure, keep_in: float = 0.12, rounds: int = 3) -> None:
    """Shrink the figure's height by the empty band that aspect-locked panels leave above and below them.

    Panels drawn with ``aspect="equal"`` are as wide as the layout allows and no taller than that, so
    a figure sized in advance often has empty space between the title and the panels. This measures
    the band (between the suptitle, or the top, and the highest panel; between the lowest panel and the
    shared x label, or the bottom) after a layout pass and removes all but `keep_in` inches of it.
    Colour bars are left out of the measure: they follow the panels' height.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not hasattr(fig.canvas, "get_renderer"):
        FigureCanvasAgg(fig)  # the figure was made without pyplot: give it a canvas that can lay it out
    for _ in range(rounds):
        fig.draw_without_rendering()
        renderer = fig.canvas.get_renderer()
        panels = [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]
        if not panels:
            return
        boxes = [ax.get_tightbbox(renderer) for ax in panels]
        height_px = fig.get_figheight() * fig.dpi
        title = fig._suptitle  # noqa: SLF001 (matplotlib keeps the suptitle here)
        xlabel = getattr(fig, "_supxlabel", None)
        top = title.get_window_extent(renderer).y0 if title is not None and title.get_text() else height_px
        bottom = xlabel.get_window_extent(renderer).y1 if xlabel is not None and xlabel.get_text() else 0.0
        slack = ((top - max(b.y1 for b in boxes)) + (min(b.y0 for b in boxes) - bottom)) / fig.dpi - 2 * keep_in
        if slack < 0.05:
            return
        fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() - slack)


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
