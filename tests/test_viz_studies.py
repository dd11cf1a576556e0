"""Tests of `metalearn_edu.viz.studies`: the study figures draw what they are given, zoomed, with n stated."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest
from matplotlib.figure import Figure

from metalearn_edu import viz
from metalearn_edu.viz.style import OKABE_ITO


def test_forest_marks_zero_zooms_and_colours_what_excludes_it():
    rows = [{"label": "helps", "mean": 0.03, "half": 0.01, "per_seed": [0.02, 0.03, 0.04]},
            {"label": "unclear", "mean": 0.01, "half": 0.02}]
    fig = viz.plot_forest(rows, "BBC 5-shot", note="3 seeds × 100 episodes")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["helps", "unclear"]
    low, high = ax.get_xlim()
    assert low <= -0.01 and 0.04 <= high and high - low < 0.1  # zero and every interval shown, nothing more
    assert "3 seeds × 100 episodes" in ax.get_title()
    colours = [mcolors.to_hex(line.get_color()) for line in ax.lines if line.get_linestyle() == "None"]
    assert mcolors.to_hex(OKABE_ITO["blue"]) in colours and "#555555" in colours
    with pytest.raises(ValueError, match="rows is empty"):
        viz.plot_forest([], "x")


def test_tradeoff_has_one_large_point_per_weight_and_the_start():
    points = [{"weight": w, "mlm_loss": 4.4 + w / 2 + 0.01 * s, "accuracy": 0.85 + w / 50} for w in (0.0, 0.5, 1.0)
              for s in range(3)]
    fig = viz.plot_tradeoff(points, "BBC 5-shot accuracy", start={"mlm_loss": 4.45, "accuracy": 0.85})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["λ = 0", "λ = 0.5", "λ = 1", "start (mlm-micro)"]
    with pytest.raises(ValueError):
        viz.plot_tradeoff([], "x")


def test_budget_curves_average_seeds_with_a_band():
    curves = {"λ = 0": {"seconds": [[0, 60, 120]] * 3, "values": [[4.45, 4.44, 4.43], [4.45, 4.43, 4.42],
                                                                  [4.45, 4.45, 4.41]]}}
    fig = viz.plot_budget_curves(curves, "held-out MLM loss", reference={"start": 4.45})
    ax = fig.axes[0]
    line = ax.lines[0]
    assert np.allclose(line.get_ydata(), [4.45, 4.44, 4.42])
    assert len(ax.collections) == 1  # the band
    with pytest.raises(ValueError):
        viz.plot_budget_curves({}, "y")


def test_hybrid_run_zooms_the_bars_on_the_change():
    history = {"step": [1, 2, 3], "mlm_loss": [4.5, 4.4, 4.45], "meta_loss": [1.6, 1.5, 1.4]}
    fig = viz.plot_hybrid_run(history, {"MLM loss": 4.45, "accuracy": 0.46}, {"MLM loss": 4.47, "accuracy": 0.48})
    assert len(fig.axes) == 3
    low, high = fig.axes[1].get_ylim()
    assert 4.0 < low < 4.45 and 4.47 < high < 4.8  # not from 0: the change is what matters


def test_low_resource_uses_log_k_and_leaves_the_reference_out_of_the_differences():
    table = {"ft": {"k": [1, 2, 4], "mean": [0.5, 0.55, 0.6], "half": [0.02] * 3, "diff": [0, 0, 0], "diff_half": [0] * 3},
             "proto": {"k": [1, 2, 4], "mean": [0.56, 0.57, 0.58], "half": [0.02] * 3, "diff": [0.06, 0.02, -0.02],
                       "diff_half": [0.01] * 3}}
    fig = viz.plot_low_resource(table, "ft", {"ft": "fine-tuned", "proto": "prototypes"}, chance=0.5)
    left, right = fig.axes
    assert left.get_xscale() == "log" and right.get_xscale() == "log"
    assert len(left.lines) == 3 and len(right.lines) == 2  # two curves + chance; one difference + the zero line
    assert np.allclose(right.lines[0].get_ydata(), [0.06, 0.02, -0.02])


def test_meta_history_smooths_without_starting_at_zero():
    history = {"steps": [1, 2, 3, 4], "meta_loss": [2.0, 1.0, 1.0, 1.0]}
    fig = viz.plot_meta_history({"ProtoNet": history}, smoothing=0.5)
    raw, smooth = fig.axes[0].lines
    assert np.allclose(raw.get_ydata(), [2.0, 1.0, 1.0, 1.0])
    assert smooth.get_ydata()[0] == pytest.approx(2.0) and smooth.get_ydata()[-1] < 1.2
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="smoothing"):
        viz.plot_meta_history({"x": history}, smoothing=1.0)


def test_runs_by_condition_draws_the_seed_mean_and_their_range():
    panels = {"positions 0–31": {"shipped": {"x": [0, 25, 50], "values": [[5.0, 4.8, 4.6], [5.2, 4.9, 4.4]]},
                                 "copied": {"x": [0, 25, 50], "values": [[4.0, 3.9, 3.8]]}},
              "positions 32–127": {"shipped": {"x": [0, 25], "values": [[7.0, 6.0], [7.2, 6.2]]}}}
    fig = viz.plot_runs_by_condition(panels, "held-out loss", title="t")
    left, right = fig.axes[0], fig.axes[1]
    assert np.allclose(left.lines[0].get_ydata(), [5.1, 4.85, 4.5]) and np.allclose(right.lines[0].get_ydata(), [7.1, 6.1])
    assert len(left.collections) == 1  # a band for the two seeds of "shipped"; none for the one seed of "copied"
    assert left.lines[0].get_color() == right.lines[0].get_color()  # a condition keeps its colour
    with pytest.raises(ValueError, match="3 x values but 2 values per seed"):
        viz.plot_runs_by_condition({"p": {"a": {"x": [0, 1, 2], "values": [[1.0, 2.0]]}}}, "y")
    with pytest.raises(ValueError, match="panels is empty"):
        viz.plot_runs_by_condition({}, "y")
