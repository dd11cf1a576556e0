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
* studies: `plot_forest` (paired differences), `plot_ceilings` (K-shot against the full-data probe), `plot_detectable` (what a study could detect), `plot_tradeoff` (MLM loss vs accuracy), `plot_low_resource`, `plot_meta_history`,
  `plot_budget_curves` (measured points along a budget), `plot_hybrid_run`, `plot_runs_by_condition`
  (controlled experiments along training);
* in-context learning (chapter 9): `plot_condition_errors` (errors per test condition),
  `plot_phase_change` (an induction head forming);
* `save_figure` writes a PNG.

One module per topic: `style` (colours, sizes, the figure class, shared helpers), `attention`,
`masking`, `training`, `meta`, `studies` and `in_context`; every plot is importable from ``metalearn_edu.viz``.

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

from .attention import (
    plot_attention_compare,
    plot_attention_grid,
    plot_attention_head,
    plot_attention_mean,
    plot_attention_mosaic,
    plot_head_summary,
    plot_head_summary_compare,
)
from .in_context import plot_condition_errors, plot_phase_change
from .masking import plot_masking
from .meta import (
    plot_accuracy_vs_budget,
    plot_adaptation,
    plot_cost,
    plot_line_tasks,
    plot_sinusoid,
    plot_sinusoid_panels,
)
from .style import (
    ATTENTION_CMAP,
    ENTROPY_CMAP,
    LINE_COLORS,
    MASKING_COLORS,
    OKABE_ITO,
    STYLE_RC,
    NotebookFigure,
    save_figure,
)
from .studies import (plot_budget_curves, plot_ceilings, plot_detectable, plot_forest, plot_hybrid_run, plot_low_resource, plot_meta_history,
                      plot_runs_by_condition, plot_tradeoff)
from .training import plot_training

__all__ = [
    "OKABE_ITO", "LINE_COLORS", "ATTENTION_CMAP", "ENTROPY_CMAP", "MASKING_COLORS", "STYLE_RC",
    "NotebookFigure", "plot_attention_head", "plot_attention_grid", "plot_attention_mean", "plot_attention_mosaic",
    "plot_attention_compare", "plot_head_summary", "plot_head_summary_compare", "plot_masking",
    "plot_training", "plot_adaptation", "plot_sinusoid", "plot_sinusoid_panels", "plot_line_tasks", "plot_cost",
    "plot_accuracy_vs_budget", "plot_forest", "plot_detectable", "plot_tradeoff", "plot_budget_curves", "plot_hybrid_run", "plot_low_resource", "plot_meta_history", "plot_runs_by_condition", "plot_ceilings", "save_figure",
    "plot_condition_errors", "plot_phase_change",
]
