"""Widget callbacks are plain functions; panels re-render when a control changes."""

import pytest
import torch
from matplotlib.figure import Figure

from metalearn_edu.config import model_config
from metalearn_edu.model import BertEncoder
from metalearn_edu.widgets import attention_explorer, masking_playground, render_attention, render_masking


@pytest.fixture(scope="module")
def tiny(course_tokenizer):
    torch.manual_seed(0)
    return BertEncoder(model_config("nano", vocab_size=len(course_tokenizer), max_len=64)).eval(), course_tokenizer


def test_render_attention_views(tiny):
    model, tok = tiny
    for view, n_axes in (("head", 2), ("grid", None), ("summary", None)):
        fig = render_attention(model, tok, "the bank raised rates.", layer=1, head=0, view=view)
        assert isinstance(fig, Figure) and fig.axes
        if n_axes:
            assert len(fig.axes) == n_axes  # the map and its colour bar


def test_attention_views_reuse_the_forward_pass_and_figures(tiny, monkeypatch):
    """Moving layer/head in the mosaic or summary view, or coming back to a view, draws nothing new."""
    model, tok = tiny
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    text = "a sentence seen only by this test."
    grid = render_attention(model, tok, text, layer=0, head=0, view="grid")
    assert len(grid.axes) == 2  # one mosaic image and its colour bar, whatever the number of heads
    assert render_attention(model, tok, text, layer=1, head=1, view="grid") is grid
    head = render_attention(model, tok, text, layer=1, head=1, view="head")
    assert render_attention(model, tok, text, layer=1, head=1, view="head") is head
    assert len(calls) == 1  # one forward pass for all of it
    assert render_attention(model, tok, text + " more", layer=0, head=0, view="head") is not head


@pytest.mark.parametrize("kwargs,message", [
    (dict(text="  ", layer=0, head=0), "type a sentence"),
    (dict(text="a b", layer=5, head=0), "layer=5 is out of range: this model has layers 0..1"),
    (dict(text="a b", layer=0, head=9), "head=9 is out of range"),
])
def test_render_attention_messages(tiny, kwargs, message):
    model, tok = tiny
    assert message in render_attention(model, tok, **kwargs)


def test_attention_explorer_rerenders_on_change(tiny):
    model, tok = tiny
    panel = attention_explorer({"nano": (model, tok)})
    first = panel.last
    assert isinstance(first, Figure)
    panel.controls["head"].value = 1
    assert isinstance(panel.last, Figure) and panel.last is not first
    panel.controls["text"].value = ""
    assert panel.last == "type a sentence in the text box" and "type a sentence" in panel.status.value


def test_masking_playground(tiny):
    model, tok = tiny
    panel = masking_playground(model, tok)
    assert isinstance(panel.last, Figure)
    before = panel.last
    panel.controls["mask_prob"].value = 0.5
    assert isinstance(panel.last, Figure) and panel.last is not before
    panel.controls["random_token_frac"].value = 0.5  # 0.8 + 0.5 > 1: a message, not an exception
    assert "more than 100%" in panel.last
    assert "no token was selected" in render_masking(model, tok, "a b", 0.01, 0.8, 0.1, seed=0)


@pytest.fixture(scope="module")
def sine_models(tmp_path_factory):
    from metalearn_edu.checkpoint import save_checkpoint
    from metalearn_edu.meta import sinusoid_mlp
    from metalearn_edu.widgets import load_sinusoid_models

    folder = tmp_path_factory.mktemp("sine")
    for i, method in enumerate(("maml", "pretrained")):
        net = sinusoid_mlp(seed=i)
        save_checkpoint(folder / f"{method}.pt", {"model": net.state_dict(), "config": {"sizes": [1, 40, 40, 1]},
                                                  "test_lr": 0.01})
    return load_sinusoid_models(folder)


def test_sinusoid_playground(sine_models):
    from metalearn_edu.widgets import render_sinusoid, sinusoid_playground

    assert set(sine_models) == {"maml", "pretrained"}
    fig = render_sinusoid(sine_models, "maml", k_shot=5, inner_lr=0.01, inner_steps=3)
    assert isinstance(fig, Figure)
    # The title reports the error on the 10 query points and on the whole curve (a dense grid), each
    # recomputed here from the same episode and trajectory.
    from metalearn_edu.episodes import SinusoidTasks
    from metalearn_edu.meta import finetune, functional_loss

    net = sine_models["maml"][0]
    tasks = SinusoidTasks(seed=12345)
    episode = tasks.episode(0, 5, k_query=10)
    trajectory = finetune(functional_loss(net, "mse"), dict(net.named_parameters()), episode, 0.01, 3)
    grid = torch.linspace(-5, 5, 200).unsqueeze(1)
    on_grid = trajectory.outputs(net, grid, [3])[3]
    curve_mse = float(((on_grid - tasks.true_curve(episode, grid)) ** 2).mean())
    query_mse = float(((trajectory.outputs(net, episode.query_x, [3])[3] - episode.query_y) ** 2).mean())
    assert f"MSE {query_mse:.2f} on the 10 query points, {curve_mse:.2f} on the whole curve" in fig.axes[0].get_title()
    assert "no trained model" in render_sinusoid(sine_models, "reptile", 5, 0.01, 1)
    diverged = render_sinusoid(sine_models, "maml", k_shot=5, inner_lr=1e4, inner_steps=10)
    assert isinstance(diverged, str) and "inner" in diverged and "lr" in diverged.lower()

    panel = sinusoid_playground(sine_models)
    before = panel.last
    panel.controls["inner_steps"].value = 5
    assert isinstance(panel.last, Figure) and panel.last is not before


def test_line_tasks_playground_marks_fixed_points_and_explains_divergence():
    from metalearn_edu.meta.line_tasks import line_tasks, maml_fixed_point
    from metalearn_edu.widgets import line_tasks_playground, render_line_tasks

    fig = render_line_tasks(0.4, 5, 2.0, 1.0, 0.1)
    (ax,) = fig.axes
    markers = [line for line in ax.get_lines() if line.get_marker() not in ("None", None, "")]
    assert len(markers) == 3 and "MAML (k = 5)" in markers[2].get_label()
    maml = maml_fixed_point(line_tasks((2.0, 1.0, 0.1)), 0.4, 5)
    assert markers[2].get_xydata()[0] == pytest.approx(maml.tolist(), abs=1e-6)

    panel = line_tasks_playground()
    assert isinstance(panel.last, Figure)
    panel.controls["inner_lr"].value = 1.0          # 1.0 × λ1 = 2: SGD on task 1 diverges
    assert isinstance(panel.last, str) and "inner_lr=1" in panel.last and "diverges" in panel.last
    panel.controls["inner_lr"].value = 0.4
    panel.controls["inner_steps"].value = 10
    assert isinstance(panel.last, Figure) and "k = 10" in panel.last.axes[0].get_title()


@pytest.mark.slow
def test_few_shot_playground_updates_and_explains_bad_values(mlm_micro, course_tokenizer):
    from metalearn_edu.widgets import few_shot_playground, render_few_shot

    models = {"MLM (ours)": (mlm_micro, course_tokenizer)}
    fig = render_few_shot(models, "MLM (ours)", "bbc", n_way=3, k_shot=2, inner_steps=2, inner_lr=0.05, n_episodes=3)
    assert isinstance(fig, Figure) and "3-way 2-shot" in fig.axes[0].get_title()
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "MLM (ours)" in labels and any("bag of words" in x for x in labels)
    assert "not loaded" in render_few_shot(models, "MiniLM", "bbc", 5, 5, 1, 0.05)

    from metalearn_edu.meta.text import held_out_sampler
    from metalearn_edu.model import BertEncoder
    from metalearn_edu.widgets import _TRUNK_CACHES

    other = BertEncoder(mlm_micro.cfg).eval()
    panel = few_shot_playground({**models, "random init": (other, course_tokenizer)}, n_episodes=2)
    before, renders = panel.last, panel.renders
    # built with the panel: the other model's features of the shown episodes' texts, the SMLMT sampler
    assert _TRUNK_CACHES[other].misses == 2 * (5 * 5 + 5 * 5) - _TRUNK_CACHES[other].hits > 0
    hits = held_out_sampler.cache_info().hits
    held_out_sampler(course_tokenizer, "smlmt", 5, 5, 5)
    assert held_out_sampler.cache_info().hits == hits + 1
    panel.controls["inner_steps"].value = 3  # a heavy panel: a slider alone does not rerun it ...
    assert panel.last is before and panel.renders == renders and "press Run" in panel.status.value
    computed = _TRUNK_CACHES[mlm_micro].misses
    panel.button.click()  # ... the Run button does
    assert isinstance(panel.last, Figure) and panel.last is not before and panel.renders == renders + 1
    assert _TRUNK_CACHES[mlm_micro].misses == computed  # the same episodes: no lower block is rerun
    panel.controls["n_way"].value = 8  # BBC has five topics
    panel.button.click()
    assert isinstance(panel.last, str) and "n_way=8" in panel.last and not panel.button.disabled


def test_playground_shows_messages_and_bugs_in_the_panel(monkeypatch, capsys):
    """A ⚠ message replaces the previous figure at once; an unexpected error shows its traceback in the
    panel instead of leaving it on "working…". (Outside a kernel an Output widget captures nothing,
    so the test records how the output area is cleared and what is printed.)"""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from metalearn_edu.widgets import Playground

    def render(x):
        if x == 1:
            return "x = 1 is not allowed here"
        if x == 2:
            raise ZeroDivisionError("a bug in the render function")
        fig = plt.figure()
        plt.close(fig)
        return fig

    panel = Playground(render, {"x": w.IntSlider(value=0, min=0, max=2)})
    clears = []
    monkeypatch.setattr(panel.output, "clear_output", lambda wait=False: clears.append(wait))
    assert isinstance(panel.last, Figure)
    panel.controls["x"].value = 1
    assert "not allowed" in panel.status.value and clears[-1] is False  # the old figure goes at once
    panel.controls["x"].value = 2
    assert isinstance(panel.last, ZeroDivisionError) and "working" not in panel.status.value
    assert "ZeroDivisionError" in panel.status.value and clears[-1] is False
    assert "Traceback" in capsys.readouterr().out
    panel.controls["x"].value = 0
    assert isinstance(panel.last, Figure) and panel.status.value == "" and clears[-1] is True  # no flicker


@pytest.mark.slow
def test_hybrid_panel_trains_a_copy_and_reports_both_terms(mlm_micro, course_tokenizer):
    from metalearn_edu.widgets import hybrid_playground, render_hybrid

    before = {n: p.detach().clone() for n, p in mlm_micro.named_parameters()}
    moves = []
    fig = render_hybrid(mlm_micro, course_tokenizer, 0.5, 1, 3, 2, steps=2, progress=moves.append)
    assert isinstance(fig, Figure) and "λ = 0.5: 2 steps" in fig._suptitle.get_text()
    assert moves == sorted(moves) and moves[-1] < 1.0 and len(moves) == 3  # before, after each of 2 steps
    assert all(torch.equal(p, before[n]) for n, p in mlm_micro.named_parameters())  # the shown model is untouched
    assert "λ must lie in [0, 1]" in render_hybrid(mlm_micro, course_tokenizer, 1.5, 1, 3, 2)
    panel = hybrid_playground(mlm_micro, course_tokenizer, steps=1)
    assert isinstance(panel.last, Figure)
    panel.controls["meta_weight"].value = 0.0
    assert "press Run" in panel.status.value
    panel.button.click()
    assert isinstance(panel.last, Figure) and "λ = 0:" in panel.last._suptitle.get_text()
