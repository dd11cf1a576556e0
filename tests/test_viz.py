"""Tests for `metalearn_edu.viz`: every function returns a labelled figure that renders to PNG."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from metalearn_edu import viz  # noqa: E402
from metalearn_edu.analysis import attention_pattern_stats  # noqa: E402
from metalearn_edu.masking import MaskedBatch  # noqa: E402
from metalearn_edu.pretrain import History  # noqa: E402

L, H, T = 2, 3, 7  # layers, heads, sequence length of the toy attention
TOKENS = ["[CLS]", "the", "cat", "sat", "on", "$5", "[SEP]"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _softmax_rows(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen).softmax(-1)


@pytest.fixture
def attentions(gen) -> tuple[torch.Tensor, ...]:
    """One (1, H, T, T) tensor per layer, as `BertEncoder` returns for a batch of one."""
    return tuple(_softmax_rows(gen, 1, H, T, T) for _ in range(L))


@pytest.fixture
def stats(attentions) -> dict[str, torch.Tensor]:
    prev = attentions[1].clone()
    prev[0, 2] = 0.0
    prev[0, 2, 0, 0] = 1.0
    prev[0, 2, torch.arange(1, T), torch.arange(T - 1)] = 1.0  # layer 1, head 2 is a previous-token head
    ids = torch.arange(T)[None]
    return attention_pattern_stats([attentions[0], prev], ids, special_ids={"cls": 0, "sep": T - 1}, punct_ids=[4])


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    return data


def _title(fig: Figure) -> str:
    """The figure's suptitle, or else the titles of its axes."""
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    return sup or " ".join(ax.get_title() for ax in fig.axes)


def _panels(fig: Figure) -> list:
    """Axes that are not colour bars."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def _colorbars(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def _legend_texts(fig: Figure) -> list[str]:
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def _labelled(ax) -> bool:
    return bool(ax.get_xlabel()) and bool(ax.get_ylabel())


# ---------------------------------------------------------------------------------------
# Style
# ---------------------------------------------------------------------------------------
def test_importing_and_plotting_leave_rcparams_alone(attentions):
    before = dict(matplotlib.rcParams)
    viz.plot_attention_grid(attentions, TOKENS)
    assert dict(matplotlib.rcParams) == before


def test_palette_is_okabe_ito():
    assert set(viz.LINE_COLORS) == set(viz.OKABE_ITO.values())
    assert viz.ATTENTION_CMAP in ("viridis", "magma", "cividis")


def test_figures_bypass_pyplot_and_render_as_png_in_notebooks(attentions):
    fig = viz.plot_attention_grid(attentions, TOKENS)
    assert isinstance(fig, Figure)
    assert not plt.get_fignums()  # not registered, so a notebook never shows it twice
    assert fig._repr_png_().startswith(b"\x89PNG")


# ---------------------------------------------------------------------------------------
# Attention maps
# ---------------------------------------------------------------------------------------
def test_plot_attention_head(attentions):
    fig = viz.plot_attention_head(attentions[0][0, 1], TOKENS, title="layer 0, head 1")
    (ax,) = _panels(fig)
    assert len(_colorbars(fig)) == 1
    assert "layer 0, head 1" in ax.get_title()
    assert "key" in ax.get_xlabel() and "query" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[CLS]", "the", "cat", "sat", "on", r"\$5", "[SEP]"]
    assert len(ax.get_yticklabels()) == T
    _png(fig)


def test_plot_attention_head_accepts_numpy_and_draws_into_given_axes(attentions):
    outer, ax = plt.subplots()
    fig = viz.plot_attention_head(attentions[0][0, 0].numpy(), TOKENS, ax=ax, colorbar=False)
    assert fig is outer
    assert len(ax.images) == 1
    _png(fig)


def test_plot_attention_head_truncates_long_sequences(gen):
    n = 100
    tokens = [f"w{i}" for i in range(n)]
    fig = viz.plot_attention_head(_softmax_rows(gen, n, n), tokens, max_tokens=25)
    (ax,) = _panels(fig)
    assert len(ax.get_xticklabels()) <= 25 and len(ax.get_yticklabels()) <= 25
    assert ax.images[0].get_array().shape == (25, 25)
    assert "first 25 of 100 tokens" in ax.get_title()
    _png(fig)


def test_plot_attention_head_validates_inputs(gen):
    with pytest.raises(ValueError, match="tokens has 3 entries"):
        viz.plot_attention_head(_softmax_rows(gen, 4, 4), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"expected one head's \(T, T\)"):
        viz.plot_attention_head(_softmax_rows(gen, 2, 4, 4), list("abcd"))
    with pytest.raises(ValueError, match="list of tokens"):
        viz.plot_attention_head(_softmax_rows(gen, 4, 4), "abcd")
    with pytest.raises(ValueError, match="max_tokens"):
        viz.plot_attention_head(_softmax_rows(gen, 4, 4), list("abcd"), max_tokens=0)


def test_plot_attention_grid(attentions):
    fig = viz.plot_attention_grid(attentions, TOKENS)
    panels = _panels(fig)
    assert len(panels) == L * H and len(_colorbars(fig)) == 1
    assert [panels[j].get_title() for j in range(H)] == [f"head {h}" for h in range(H)]
    assert [panels[i * H].get_ylabel() for i in range(L)] == [f"layer {l}" for l in range(L)]
    assert fig._supxlabel.get_text() and fig._supylabel.get_text() and _title(fig)
    limits = {ax.images[0].get_clim() for ax in panels}
    assert len(limits) == 1  # one shared colour scale
    _png(fig)


def test_plot_attention_mosaic_pastes_every_head_into_one_image(attentions):
    fig = viz.plot_attention_mosaic(attentions, TOKENS)
    ax = fig.axes[0]
    assert len(fig.axes) == 2 and len(ax.images) == 1  # one image, one colour bar
    image = np.asarray(ax.images[0].get_array())
    A = np.stack([np.asarray(a)[0] for a in attentions])  # (L, H, T, T)
    T = A.shape[-1]
    gap = max(1, T // 8)
    layer, head = L - 1, H - 1
    block = image[layer * (T + gap):layer * (T + gap) + T, head * (T + gap):head * (T + gap) + T]
    assert np.allclose(block, A[layer, head])  # the last head of the last layer sits where the ticks say
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(h) for h in range(H)]
    _png(fig)


def test_plot_attention_grid_subsets_batches_and_truncates(gen):
    batch = tuple(_softmax_rows(gen, 2, 4, 50, 50) for _ in range(3))  # (B=2, H=4, T=50, T=50) per layer
    tokens = [f"t{i}" for i in range(50)]
    with pytest.raises(ValueError, match="batch size 2; pass index"):
        viz.plot_attention_grid(batch, tokens)
    fig = viz.plot_attention_grid(batch, tokens, index=1, layers=[0, 2], heads=[1, 3], max_tokens=10)
    panels = _panels(fig)
    assert len(panels) == 4
    assert [p.get_title() for p in panels[:2]] == ["head 1", "head 3"]
    assert panels[2].get_ylabel() == "layer 2"
    assert all(len(ax.get_xticklabels()) <= 10 for ax in panels)
    assert "first 10 of 50 tokens" in _title(fig)
    np.testing.assert_allclose(panels[0].images[0].get_array(), batch[0][1, 1, :10, :10].numpy(), rtol=1e-6)
    _png(fig)


def test_plot_attention_grid_accepts_one_stacked_array(attentions):
    stacked = torch.cat(attentions).numpy()  # (L, H, T, T)
    fig = viz.plot_attention_grid(stacked, TOKENS)
    assert len(_panels(fig)) == L * H
    _png(fig)


def test_plot_attention_grid_validates_inputs(attentions):
    with pytest.raises(ValueError, match="attentions is empty"):
        viz.plot_attention_grid([], TOKENS)
    with pytest.raises(ValueError, match="tokens has 6 entries"):
        viz.plot_attention_grid(attentions, TOKENS[:-1])
    with pytest.raises(ValueError, match="heads contains"):
        viz.plot_attention_grid(attentions, TOKENS, heads=[H])
    with pytest.raises(ValueError, match="attentions\\[1\\] has shape"):
        viz.plot_attention_grid([attentions[0], attentions[1][0, :2]], TOKENS)


def test_plot_attention_mean(attentions):
    fig = viz.plot_attention_mean(attentions, TOKENS)
    panels = _panels(fig)
    assert len(panels) == L and len(_colorbars(fig)) == 1
    assert [p.get_title() for p in panels] == [f"layer {l}" for l in range(L)]
    np.testing.assert_allclose(panels[1].images[0].get_array(), attentions[1][0].mean(0).numpy(), rtol=1e-6)
    assert _title(fig) and fig._supxlabel.get_text() and fig._supylabel.get_text()
    _png(fig)


def test_plot_attention_compare(gen):
    maps = {"random init": _softmax_rows(gen, T, T), "our checkpoint": torch.eye(T),
            "MiniLM": _softmax_rows(gen, T + 2, T + 2)}
    tokens = {"random init": TOKENS, "our checkpoint": TOKENS, "MiniLM": TOKENS + ["x", "y"]}
    fig = viz.plot_attention_compare(maps, tokens, max_tokens=8)
    panels = _panels(fig)
    assert [p.get_title().split("\n")[0] for p in panels] == list(maps)
    assert "first 8 of 9 tokens" in panels[2].get_title()
    assert all(len(p.get_xticklabels()) <= 8 for p in panels)
    assert len({p.images[0].get_clim() for p in panels}) == 1
    assert all(p.get_xlabel() for p in panels) and panels[0].get_ylabel()
    assert _title(fig)
    _png(fig)


def test_plot_attention_compare_validates_inputs(gen):
    with pytest.raises(ValueError, match="maps is empty"):
        viz.plot_attention_compare({}, TOKENS)
    with pytest.raises(ValueError, match="tokens has 7 entries"):
        viz.plot_attention_compare({"a": _softmax_rows(gen, 5, 5)}, TOKENS)
    with pytest.raises(ValueError, match="no entry for 'b'"):
        viz.plot_attention_compare({"b": _softmax_rows(gen, T, T)}, {"a": TOKENS})


# ---------------------------------------------------------------------------------------
# Head statistics
# ---------------------------------------------------------------------------------------
def test_plot_head_summary(stats):
    fig = viz.plot_head_summary(stats)
    panels = _panels(fig)
    assert len(panels) == len(stats) == 7
    assert len(_colorbars(fig)) == 2  # fractions and entropy have separate scales
    assert all(_labelled(p) and p.get_title() for p in panels)
    assert "0.5" in _title(fig)
    prev = next(p for p in panels if "previous" in p.get_title())
    outlined = [patch for patch in prev.patches if isinstance(patch, Rectangle)]
    assert len(outlined) == 1 and outlined[0].get_xy() == (2 - 0.5, 1 - 0.5)  # layer 1, head 2
    assert len(prev.texts) == L * H  # every value annotated
    entropy = next(p for p in panels if "entropy" in p.get_title())
    assert entropy.images[0].get_cmap().name == viz.ENTROPY_CMAP
    assert prev.images[0].get_clim() == (0.0, 1.0)
    _png(fig)


def test_plot_head_summary_selected_keys_and_validation(stats):
    fig = viz.plot_head_summary(stats, keys=["prev", "next"], threshold=None)
    assert len(_panels(fig)) == 2 and len(_colorbars(fig)) == 1
    assert not any(p.patches for p in _panels(fig))
    _png(fig)
    with pytest.raises(ValueError, match="no \\['nope'\\]"):
        viz.plot_head_summary(stats, keys=["prev", "nope"])
    with pytest.raises(ValueError, match="stats is empty"):
        viz.plot_head_summary({})
    with pytest.raises(ValueError, match="same shape"):
        viz.plot_head_summary({"prev": torch.zeros(2, 3), "next": torch.zeros(2, 4)})


def test_plot_head_summary_compare(stats):
    other = {k: torch.rand(3, 4, generator=torch.Generator().manual_seed(1)) for k in stats}
    fig = viz.plot_head_summary_compare({"ours": stats, "MiniLM": other}, key="prev")
    panels = _panels(fig)
    assert [p.get_title() for p in panels] == ["ours", "MiniLM"]
    assert panels[1].images[0].get_array().shape == (3, 4)
    assert all(_labelled(p) for p in panels) and _title(fig)
    assert len(_colorbars(fig)) == 1
    _png(fig)
    with pytest.raises(ValueError, match="stats_by_model is empty"):
        viz.plot_head_summary_compare({})
    with pytest.raises(ValueError, match="has no \\['prev'\\]"):
        viz.plot_head_summary_compare({"x": {"next": torch.zeros(2, 2)}})


# ---------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------
def _masking(T_: int, masked: list[int], randomized: list[int], kept: list[int]) -> dict[str, np.ndarray]:
    flags = {name: np.zeros(T_, bool) for name in ("masked", "randomized", "kept")}
    flags["masked"][masked] = True
    flags["randomized"][randomized] = True
    flags["kept"][kept] = True
    return flags


def _boxes(ax) -> dict[str, int]:
    counts: dict[str, int] = {}
    for patch in ax.patches:
        if patch.get_label().startswith("_token_"):
            kind = patch.get_label()[len("_token_"):]
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def test_plot_masking_with_masked_batch_and_guesses():
    flags = _masking(T, masked=[2, 4], randomized=[3], kept=[5])
    batch = MaskedBatch(input_ids=torch.zeros(1, T, dtype=torch.long), labels=torch.zeros(1, T, dtype=torch.long),
                        selected=torch.tensor(flags["masked"] | flags["randomized"] | flags["kept"])[None],
                        **{k: torch.tensor(v)[None] for k, v in flags.items()})
    corrupted = ["[CLS]", "the", "[MASK]", "banana", "[MASK]", "$5", "[SEP]"]
    guesses = [[("cat", 0.5), ("dog", 0.2)], [("sat", 0.3)], [("on", 0.9), ("in", 0.05)], [("$5", 0.4)]]
    fig = viz.plot_masking(TOKENS, batch, corrupted_tokens=corrupted, guesses=guesses)
    sentence, *guess_axes = _panels(fig)
    assert _boxes(sentence) == {"untouched": 3, "mask": 2, "random": 1, "kept": 1}
    assert "banana" in [t.get_text() for t in sentence.texts]
    legend = _legend_texts(fig)
    assert len(legend) == 4 and any("[MASK] (2)" in t for t in legend)
    assert len(guess_axes) == 4
    assert all(_labelled(ax) and ax.get_title() for ax in guess_axes)
    assert "target 'cat'" in guess_axes[0].get_title()
    assert "4 of 7" in _title(fig)
    _png(fig)


def test_plot_masking_wraps_long_sentences_and_guesses_per_mask_only():
    tokens = [f"word{i}" for i in range(60)]
    flags = _masking(60, masked=[3, 30], randomized=[40], kept=[])
    fig = viz.plot_masking(tokens, flags, guesses=[[("a", 0.1)], [("word30", 0.6)]], line_chars=40)
    sentence = _panels(fig)[0]
    lines = {round(p.get_y()) for p in sentence.patches if p.get_label().startswith("_token_")}
    assert len(lines) > 1
    assert sum(_boxes(sentence).values()) == 60
    assert len(_panels(fig)) == 3  # guesses were given for the two [MASK] positions
    _png(fig)


def test_plot_masking_limits_guess_panels():
    flags = _masking(T, masked=[1, 2, 3, 4, 5], randomized=[], kept=[])
    fig = viz.plot_masking(TOKENS, flags, guesses={p: [("x", 0.5)] for p in range(1, 6)}, max_guesses=2)
    assert len(_panels(fig)) == 3
    _png(fig)


def test_plot_masking_validates_inputs():
    flags = _masking(T, masked=[2], randomized=[3], kept=[])
    with pytest.raises(ValueError, match="tokens has 6 entries"):
        viz.plot_masking(TOKENS[:-1], flags)
    with pytest.raises(ValueError, match="overlap"):
        viz.plot_masking(TOKENS, _masking(T, masked=[2], randomized=[2], kept=[]))
    with pytest.raises(ValueError, match="selected differs"):
        viz.plot_masking(TOKENS, {**flags, "selected": np.zeros(T, bool)})
    with pytest.raises(ValueError, match="no 'kept'"):
        viz.plot_masking(TOKENS, {"masked": flags["masked"], "randomized": flags["randomized"]})
    with pytest.raises(ValueError, match="guesses has 3 entries"):
        viz.plot_masking(TOKENS, flags, guesses=[[("a", 0.1)]] * 3)
    with pytest.raises(ValueError, match="batch size 2"):
        viz.plot_masking(TOKENS, {k: np.stack([v, v]) for k, v in flags.items()})
    with pytest.raises(ValueError, match="corrupted_tokens"):
        viz.plot_masking(TOKENS, flags, corrupted_tokens=["a"])


# ---------------------------------------------------------------------------------------
# Pretraining curves
# ---------------------------------------------------------------------------------------
@pytest.fixture
def history() -> History:
    steps = list(range(10, 410, 10))
    evals = steps[::8]
    return History(
        step=steps, time=[0.5 * s for s in steps], tokens=[512 * s for s in steps],
        train_loss=[8.0 * 0.995 ** s + 2 for s in steps], lr=[min(1.0, s / 100) * 1e-3 for s in steps],
        eval_step=evals, eval_time=[0.5 * s + 0.1 for s in evals], eval_loss=[8.0 * 0.995 ** s + 2.2 for s in evals],
        eval_perplexity=[0.0] * len(evals), eval_top1=[0.1 + s / 1000 for s in evals],
        eval_top5=[0.2 + s / 1000 for s in evals], unigram_loss=[6.5] * len(evals))


def test_plot_training(history):
    fig = viz.plot_training(history)
    loss_ax, lr_ax, acc_ax = _panels(fig)
    assert loss_ax.get_title() and loss_ax.get_ylabel() and lr_ax.get_ylabel() and acc_ax.get_ylabel()
    assert acc_ax.get_xlabel() == "optimizer step"
    texts = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert any("raw" in t for t in texts) and any("smoothed" in t for t in texts)
    assert any("held-out" in t for t in texts) and "unigram baseline (6.50)" in texts
    assert [t.get_text() for t in acc_ax.get_legend().get_texts()] == ["top-1", "top-5"]
    _png(fig)


@pytest.mark.parametrize("x", ["time", "tokens"])
def test_plot_training_from_dict_and_other_x_axes(history, x):
    fig = viz.plot_training(history.to_dict(), x=x, show_lr=False, unigram=7.0)
    panels = _panels(fig)
    assert len(panels) == 2  # loss and accuracy
    assert x.rstrip("s") in panels[-1].get_xlabel()
    assert any("7.00" in t for t in _legend_texts(fig))
    _png(fig)


def test_plot_training_minimal_history():
    fig = viz.plot_training({"step": [1, 2, 3], "train_loss": [3.0, 2.0, 1.5]}, smoothing=0.0)
    (ax,) = _panels(fig)
    assert len(ax.lines) == 1 and ax.get_xlabel() and ax.get_ylabel()
    _png(fig)


def test_plot_training_validates_inputs(history):
    with pytest.raises(ValueError, match="x='epoch'"):
        viz.plot_training(history, x="epoch")
    with pytest.raises(ValueError, match="nothing to plot"):
        viz.plot_training(History())
    with pytest.raises(ValueError, match="step has 2 entries but train_loss has 3"):
        viz.plot_training({"step": [1, 2], "train_loss": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="history.tokens, which is empty"):
        viz.plot_training({"step": [1, 2], "train_loss": [1.0, 2.0]}, x="tokens")


# ---------------------------------------------------------------------------------------
# Meta-learning results
# ---------------------------------------------------------------------------------------
CURVES = {
    "MAML": {"steps": [0, 1, 5, 10], "mean": [3.0, 1.0, 0.5, 0.4], "ci": [0.2, 0.1, 0.05, 0.05]},
    "FOMAML": {"steps": [0, 1, 5, 10], "mean": [3.0, 1.2, 0.6, 0.5], "ci": [0.2, 0.1, 0.05, 0.05]},
    "Reptile": {"steps": np.array([0, 1, 5, 10]), "mean": torch.tensor([3.1, 1.4, 0.7, 0.6])},  # no CI
}


def test_plot_adaptation():
    fig = viz.plot_adaptation(CURVES, metric_name="MSE")
    (ax,) = _panels(fig)
    assert ax.get_ylabel() == "MSE" and ax.get_xlabel() and ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(CURVES)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # Reptile has no CI
    _png(fig)


def test_plot_adaptation_chance_and_reference():
    reference = {"MAML (Finn et al.)": {1: 0.67, 5: 0.38, 10: 0.35}}
    fig = viz.plot_adaptation(CURVES, metric_name="accuracy", chance=0.2, reference=reference,
                              colors={"MAML": viz.OKABE_ITO["vermillion"]})
    (ax,) = _panels(fig)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == list(CURVES) + ["chance (0.2)", "MAML (Finn et al.)"]
    maml_line = next(line for line in ax.lines if line.get_label() == "MAML")
    assert maml_line.get_color() == viz.OKABE_ITO["vermillion"]
    ref = next(line for line in ax.lines if line.get_label() == "MAML (Finn et al.)")
    assert list(ref.get_xdata()) == [1, 5, 10] and ref.get_linestyle() == "None"
    _png(fig)


def test_plot_adaptation_validates_inputs():
    with pytest.raises(ValueError, match="curves is empty"):
        viz.plot_adaptation({})
    with pytest.raises(ValueError, match="has no \\['mean'\\]"):
        viz.plot_adaptation({"MAML": {"steps": [0, 1]}})
    with pytest.raises(ValueError, match="2 steps and 3 means"):
        viz.plot_adaptation({"MAML": {"steps": [0, 1], "mean": [1, 2, 3]}})
    with pytest.raises(ValueError, match="3 ci half-widths for 2 points"):
        viz.plot_adaptation({"MAML": {"steps": [0, 1], "mean": [1, 2], "ci": [0.1, 0.1, 0.1]}})
    with pytest.raises(ValueError, match="negative"):
        viz.plot_adaptation({"MAML": {"steps": [0, 1], "mean": [1, 2], "ci": [0.1, -0.1]}})


def test_plot_accuracy_vs_budget():
    results = {"MLM": {"budget": [1e6, 2e6, 4e6], "mean": [0.4, 0.5, 0.55], "ci": [0.02, 0.03, 0.02]},
               "MLM + MAML": {"budget": [1e6, 2e6, 4e6], "mean": [0.45, 0.5, 0.6], "ci": [0.03, 0.03, 0.02]}}
    fig = viz.plot_accuracy_vs_budget(results, "5-way accuracy", xlabel="pretraining tokens", chance=0.2, log_x=True)
    (ax,) = _panels(fig)
    assert ax.get_ylabel() == "5-way accuracy" and ax.get_xlabel() == "pretraining tokens" and ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["MLM", "MLM + MAML", "chance (0.2)"]
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 2
    assert ax.get_xscale() == "log"
    _png(fig)
    with pytest.raises(ValueError, match="results is empty"):
        viz.plot_accuracy_vs_budget({}, "accuracy")


def _sinusoid_task(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    xs = np.linspace(-5, 5, 50)
    sx = rng.uniform(-5, 5, 5)
    return {"x_grid": xs, "true_y": np.sin(xs), "support_x": sx, "support_y": np.sin(sx),
            "predictions": {0: 0.1 * xs, 10: torch.tensor(np.sin(xs) * 0.9)}}


def test_plot_sinusoid():
    task = _sinusoid_task()
    fig = viz.plot_sinusoid(**task, query_x=np.zeros(3), query_y=np.ones(3))
    (ax,) = _panels(fig)
    assert _labelled(ax) and "K=5" in ax.get_title()
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["true function", "before adaptation (θ)", "after 10 steps", "query (3)", "support (K=5)"]
    _png(fig)
    fig = viz.plot_sinusoid(**{**task, "predictions": {"MAML, 1 step": np.sin(task["x_grid"])}})
    assert "MAML, 1 step" in _legend_texts(fig)


def test_plot_sinusoid_panels():
    tasks = [_sinusoid_task(i) for i in range(5)]
    fig = viz.plot_sinusoid_panels(tasks, ncols=3)
    panels = _panels(fig)
    assert len(panels) == 5
    assert all(p.get_xlabel() and p.get_title() for p in panels)
    assert panels[0].get_ylabel() == "y"
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 4
    assert _title(fig)
    _png(fig)


def test_plot_sinusoid_validates_inputs():
    task = _sinusoid_task()
    with pytest.raises(ValueError, match="predictions\\[0\\] has 3 points"):
        viz.plot_sinusoid(**{**task, "predictions": {0: [1, 2, 3]}})
    with pytest.raises(ValueError, match="support_x has 5 points but support_y has 4"):
        viz.plot_sinusoid(**{**task, "support_y": task["support_y"][:4]})
    with pytest.raises(ValueError, match="tasks is empty"):
        viz.plot_sinusoid_panels([])
    with pytest.raises(ValueError, match="unknown keys \\['colour'\\]"):
        viz.plot_sinusoid_panels([{**task, "colour": "red"}])


def test_plot_line_tasks():
    centres = [np.zeros(2), np.array([0.0, 1.0])]
    normals = [np.array([0.0, 1.0]), np.array([1.0, 0.0])]
    path = np.array([[3.0, 3.0], [1.0, 1.0], [0.0, 1.0]])
    fig = viz.plot_line_tasks(centres, normals, ["flat", "upright"], points={"far": [9.0, 0.0]},
                              paths={"descent": path})
    (ax,) = _panels(fig)
    assert _labelled(ax)
    assert _legend_texts(fig) == ["flat", "upright", "descent", "far"]
    assert "outside the view: far at (9.0, 0.0)" in ax.get_title()
    assert ax.get_xlim() == (-4.0, 4.0)
    _png(fig)
    with pytest.raises(ValueError, match="centres, normals and labels differ in length"):
        viz.plot_line_tasks(centres, normals, ["one"])


def test_plot_cost():
    rows = []
    for method, time, memory in (("second-order", 10, 50), ("first-order", 5, 5), ("Reptile", 4, 4)):
        for k in (1, 2, 5):
            for adapt in ("all", "top"):
                rows.append({"method": method, "inner_steps": k, "time_ms": time * k, "memory_mb": 100 + memory * k,
                             "adapt": adapt})
    rows.append({"method": "higher", "inner_steps": 1, "time_ms": 30.0, "memory_mb": None})
    rows.append({"method": "higher", "inner_steps": 1, "time_ms": 50.0, "memory_mb": None})  # averaged
    fig = viz.plot_cost(rows)
    time_ax, mem_ax = _panels(fig)
    assert "time" in time_ax.get_ylabel() and "memory" in mem_ax.get_ylabel()
    assert time_ax.get_xlabel() == mem_ax.get_xlabel() == "inner steps K"
    legend = _legend_texts(fig)
    assert len(legend) == 7 and "second-order (adapt top)" in legend and "higher" in legend
    higher = next(line for line in time_ax.lines if line.get_label() == "higher")
    assert list(higher.get_ydata()) == [40.0]
    assert _title(fig)
    _png(fig)


def test_plot_cost_validates_inputs():
    with pytest.raises(ValueError, match="rows is empty"):
        viz.plot_cost([])
    with pytest.raises(ValueError, match="rows\\[0\\] has no \\['time_ms'\\]"):
        viz.plot_cost([{"method": "MAML", "inner_steps": 1}])


# ---------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------
def test_save_figure(tmp_path):
    fig = viz.plot_adaptation(CURVES)
    path = viz.save_figure(fig, tmp_path / "sub" / "adaptation")
    assert path.suffix == ".png" and path.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="cannot save as '.xyz'"):
        viz.save_figure(fig, tmp_path / "fig.xyz")
    with pytest.raises(ValueError, match="pass a matplotlib Figure"):
        viz.save_figure("not a figure", tmp_path / "fig.png")


# ---------------------------------------------------------------------------------------
# Layout: no empty band above aspect-locked panels, titles inside the figure, legends beside the data
# ---------------------------------------------------------------------------------------
def _renderer(fig: Figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if hasattr(fig.canvas, "get_renderer") else FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    return canvas.get_renderer()


def _band_above_panels(fig: Figure) -> float:
    """Inches between the bottom of the suptitle and the top of the highest panel (labels included)."""
    renderer = _renderer(fig)
    panels = [ax for ax in fig.axes if not hasattr(ax, "_colorbar")]
    top = max(ax.get_tightbbox(renderer).y1 for ax in panels)
    return (fig._suptitle.get_window_extent(renderer).y0 - top) / fig.dpi


@pytest.mark.parametrize("n_models, n_tokens", [(1, 30), (2, 13), (3, 13)])
def test_plot_attention_compare_has_no_empty_band_above_the_panels(gen, n_models, n_tokens):
    maps = {f"model {i}": _softmax_rows(gen, n_tokens, n_tokens) for i in range(n_models)}
    fig = viz.plot_attention_compare(maps, [f"t{i}" for i in range(n_tokens)])
    assert _band_above_panels(fig) < 0.3
    _png(fig)


def test_plot_attention_mean_and_grid_have_no_empty_band_above_the_panels(gen):
    attentions = [_softmax_rows(gen, 1, 4, 13, 13) for _ in range(4)]
    tokens = [f"t{i}" for i in range(13)]
    assert _band_above_panels(viz.plot_attention_mean(attentions, tokens)) < 0.3
    assert _band_above_panels(viz.plot_attention_grid(attentions, tokens)) < 0.3


def test_plot_masking_guess_titles_stay_inside_the_figure():
    tokens = ["[CLS]"] + [f"longword{i:02d}" for i in range(12)] + ["[SEP]"]
    flags = _masking(len(tokens), masked=[1, 4, 7, 12], randomized=[], kept=[])
    guesses = {p: [(tokens[p], 0.9), ("other", 0.1)] for p in (1, 4, 7, 12)}
    fig = viz.plot_masking(tokens, flags, guesses=guesses)
    renderer = _renderer(fig)
    width = fig.get_figwidth() * fig.dpi
    titles = [ax.title for ax in _panels(fig)[1:]]
    assert len(titles) == 4 and all("target 'longword" in t.get_text() for t in titles)
    for title in titles:
        box = title.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width, title.get_text()
    for left, right in zip(titles, titles[1:]):  # neighbouring titles do not overlap
        assert left.get_window_extent(renderer).x1 < right.get_window_extent(renderer).x0


def test_plot_adaptation_legend_is_beside_the_axes_and_log_ticks_are_plain_numbers():
    fig = viz.plot_adaptation(CURVES, log_y=True, reference={"MAML (Finn et al.)": {1: 0.67, 5: 0.38, 10: 0.35}})
    renderer = _renderer(fig)
    (ax,) = _panels(fig)
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1
    labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True) if t.get_text()]
    assert labels and not any("e" in t or "10^" in t or "times" in t for t in labels), labels


def test_plot_line_tasks_labels_where_each_run_ends():
    from metalearn_edu.meta.line_tasks import fixed_points, line_tasks

    tasks = line_tasks((2.0, 1.0, 0.1))
    ends = fixed_points(tasks, 0.4, 5)
    paths = {name: torch.stack([torch.tensor([3.0, -3.0]), theta]) for name, theta in ends.items()}
    fig = viz.plot_line_tasks([t.centre for t in tasks], [t.normal for t in tasks], ["a", "b", "c"], paths=paths)
    (ax,) = _panels(fig)
    labels = {t.get_text() for t in ax.texts}
    assert labels == {"θ* joint training", "θ* Reptile", "θ* MAML"}
    _png(fig)


def test_chinese_tokens_are_drawn_with_the_shipped_font():
    """Chapter 8 labels attention maps with Chinese characters: no glyph may fall back to an empty box."""
    import warnings

    from metalearn_edu.viz.style import HAS_CJK_FONT

    assert HAS_CJK_FONT
    fig = viz.plot_attention_head(np.eye(4), ["[CLS]", "北", "京", "[SEP]"], title="人民日报")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Glyph .* missing from font")
        _png(fig)
