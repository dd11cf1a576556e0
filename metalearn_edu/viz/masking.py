"""BERT's 80/10/10 corruption of one sentence, drawn as coloured token boxes with the model's guesses.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from .style import (
    CORRECT_COLOR,
    MASKING_COLORS,
    NEUTRAL_COLOR,
    _MONO_CHAR_EM,
    _as_bool,
    _get,
    _new_figure,
    _styled,
    _token_label,
)

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
    shown_guesses = list(guess_by_pos.items())[:max_guesses]

    # 1) lay the boxes out in character units, 2) size the figure so one character has a known width
    box_text = [_token_label(s, max(4, min(24, line_chars - 2))) for s in shown]
    target_text = [_token_label(t, max(4, min(24, line_chars - 2))) for t in tokens]
    placed = _place_boxes(box_text, target_text, kind, line_chars)
    n_lines = placed[-1][1] + 1
    layout = _Layout(line_chars, n_lines, shown_guesses)
    fig = _new_figure((layout.width_in, layout.height_in), layout=None)
    # 3) the sentence, the legend and the title; 4) the model's guesses below
    _draw_sentence(fig, layout, placed, box_text, target_text, shown, kind)
    counts = {k: int((kind == k).sum()) for k in MASKING_COLORS}
    handles = [Patch(facecolor=MASKING_COLORS[k], edgecolor="black" if k != "untouched" else "#999999",
                     label=f"{_MASK_LABELS[k]} ({counts[k]})") for k in MASKING_COLORS]
    fig.legend(handles=handles, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 1.0 - 0.72 / layout.height_in),
               fontsize=8.5, handlelength=1.2, columnspacing=1.2)
    n_selected = int(flags["selected"].sum())
    fig.suptitle(title or f"MLM masking: {n_selected} of {T} tokens are prediction targets\n"
                          f"(the original token is written under each target)", y=1.0 - 0.08 / layout.height_in, va="top")
    if shown_guesses:
        _draw_guesses(fig, layout, shown_guesses, tokens, len(guess_by_pos))
    return fig


_FONTSIZE = 11.0  # of the token boxes
_TARGET_SCALE = 0.8  # size of the target text relative to the box text
_TITLE_CHAR_EM = 0.62  # a generous mean advance width of a DejaVu Sans character, in ems


def _place_boxes(box_text: list[str], target_text: list[str], kind: np.ndarray,
                 line_chars: int) -> list[tuple[float, int, float]]:
    """(x, line, width) of every token box, in characters, wrapping at `line_chars`."""
    gap = 0.8  # space between boxes
    placed, x, line = [], 0.0, 0
    for i in range(len(box_text)):
        width = max(len(box_text[i].replace("\\$", "$")),
                    _TARGET_SCALE * len(target_text[i].replace("\\$", "$")) if kind[i] != "untouched" else 0) + 1.2
        if x > 0 and x + width > line_chars:
            x, line = 0.0, line + 1
        placed.append((x, line, width))
        x += width + gap
    return placed


class _Layout:
    """The figure's size in inches: a heading, the sentence lines, then rows of guess panels."""

    margin, line_in, head_in = 0.3, 0.75, 1.3

    def __init__(self, line_chars: int, n_lines: int, shown_guesses: list):
        self.line_chars, self.n_lines = line_chars, n_lines
        self.char_in = _MONO_CHAR_EM * _FONTSIZE / 72.0
        self.ncols = min(4, len(shown_guesses)) or 1
        self.grows = math.ceil(len(shown_guesses) / self.ncols)
        self.k_max = max((len(g) for _, g in shown_guesses), default=0)
        self.guess_row_in = 0.28 * self.k_max + 1.0
        self.width_in = max(line_chars * self.char_in + 2 * self.margin, 6.0)
        guesses_in = self.grows * self.guess_row_in + 0.35 if shown_guesses else 0.0
        self.height_in = self.head_in + n_lines * self.line_in + guesses_in + 0.15


def _draw_sentence(fig: Figure, layout: _Layout, placed: list[tuple[float, int, float]], box_text: list[str],
                   target_text: list[str], shown: list[str], kind: np.ndarray) -> None:
    """The token boxes, coloured by what masking did, with each target's original token beneath."""
    top_frac = 1.0 - layout.head_in / layout.height_in
    sentence_h = layout.n_lines * layout.line_in / layout.height_in
    ax = fig.add_axes((layout.margin / layout.width_in, top_frac - sentence_h,
                       layout.line_chars * layout.char_in / layout.width_in, sentence_h))
    ax.set_xlim(0, layout.line_chars)
    ax.set_ylim(layout.n_lines, 0)
    ax.axis("off")
    for i, (x0, row, width) in enumerate(placed):
        is_target = kind[i] != "untouched"
        ax.add_patch(Rectangle((x0, row + 0.12), width, 0.48, facecolor=MASKING_COLORS[kind[i]],
                               edgecolor="black" if is_target else "#999999", linewidth=1.3 if is_target else 0.8,
                               label=f"_token_{kind[i]}"))
        special = not is_target and shown[i].startswith("[") and shown[i].endswith("]")
        ax.text(x0 + width / 2, row + 0.36, box_text[i], ha="center", va="center", family="monospace",
                fontsize=_FONTSIZE, color="#666666" if special else "black",
                fontweight="bold" if is_target else "normal")
        if is_target:
            ax.text(x0 + width / 2, row + 0.8, target_text[i], ha="center", va="center", family="monospace",
                    fontsize=_FONTSIZE * _TARGET_SCALE, style="italic", color="#333333")


def _draw_guesses(fig: Figure, layout: _Layout, shown_guesses: list, tokens: list[str], n_targets: int) -> None:
    """One horizontal bar chart of the model's top guesses per target position, the right one in green."""
    panel_w = (layout.width_in - 2 * layout.margin) / layout.ncols
    top_in = layout.head_in + layout.n_lines * layout.line_in + 0.35
    fig.text(layout.margin / layout.width_in, 1 - (top_in - 0.05) / layout.height_in,
             "The model's top guesses at each target (green: the original token)", fontsize=10, va="bottom")
    guess_axes = []
    for g, (pos, pairs) in enumerate(shown_guesses):
        r, c = divmod(g, layout.ncols)
        left_in = layout.margin + c * panel_w + 1.0  # room for the token labels
        bottom_in = top_in + (r + 1) * layout.guess_row_in - 0.45
        gax = fig.add_axes((left_in / layout.width_in, 1 - bottom_in / layout.height_in,
                            (panel_w - 1.25) / layout.width_in, (layout.guess_row_in - 0.85) / layout.height_in))
        names = [p[0] for p in pairs]
        probs = [p[1] for p in pairs]
        colors = [CORRECT_COLOR if name == tokens[pos] else NEUTRAL_COLOR for name in names]
        gax.barh(range(len(pairs)), probs, height=0.7, color=colors, edgecolor="none")
        gax.set_yticks(range(len(pairs)))
        gax.set_yticklabels([_token_label(nm, 10) for nm in names], family="monospace", fontsize=8)
        gax.set_ylim(layout.k_max - 0.5, -0.5)  # same bar thickness in every panel, best guess on top
        gax.set_xlim(0, 1)
        gax.tick_params(axis="x", labelsize=7)
        gax.set_xlabel("probability", fontsize=8)
        gax.set_ylabel("guess", fontsize=8, labelpad=1)
        # the title is centred on the panel's whole slot (labels included), in a size that fits it, so
        # that a long target never runs past the figure's edge or into the next panel's title
        panel_title = f"pos {pos}: target '{_token_label(tokens[pos], 10)}'"
        axes_w = panel_w - 1.25
        fits = (panel_w - 0.15) * 72.0 / (_TITLE_CHAR_EM * len(panel_title))
        gax.set_title(panel_title, fontsize=min(8.5, fits), x=(axes_w - 0.75) / 2 / axes_w)
        for y, p in enumerate(probs):
            gax.text(min(p, 0.78) + 0.02, y, f"{p:.2f}", va="center", fontsize=7)
        guess_axes.append(gax)
    if n_targets > len(shown_guesses):
        guess_axes[0].annotate(f"showing {len(shown_guesses)} of {n_targets} targets",
                               xy=(0, 1), xycoords="axes fraction", xytext=(0, 22),
                               textcoords="offset points", fontsize=8, style="italic")
