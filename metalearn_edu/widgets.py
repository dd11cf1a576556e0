"""ipywidgets panels for the notebooks: wiring only.

Each panel is a `Playground`: some controls, an output area, and a *render* function — a plain
function of the control values that returns a matplotlib Figure, or a string message when the
values do not make sense for the data (shown in the panel instead of a traceback). Tests call the
render functions directly and drive the panels by setting control values; no browser needed.

The maths lives in the library (`masking`, `analysis`, `viz`); nothing here computes anything
a test would need to check.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Mapping

import torch

from . import viz
from .analysis import model_attention_stats
from .masking import MaskingConfig, MaskingVocab, mask_tokens
from .pretrained import mask_guesses

ATTENTION_VIEWS = ("head", "grid", "summary")


class Playground:
    """Controls + an output area + a render function.

    Light panels re-render whenever a control changes. Heavy panels (``run_button=True``: the
    few-shot playground, the hybrid-pretraining panel) render only when their Run button is
    pressed, so dragging a slider does not queue a dozen reruns; their sliders report a value
    only on release (``continuous_update=False``), and a progress bar moves while they work when
    the render function accepts a ``progress`` callback (``progress(fraction)``).

    Attributes:
        controls: name -> widget; their ``.value`` s are passed to `render` as keyword arguments.
        last: what the latest render returned (a Figure, or a message string).
        widget: the `ipywidgets.VBox` to display (CSS class ``metalearn-panel``; the output area has
            ``metalearn-output``, the status line ``metalearn-status``, the button ``metalearn-run``).
    """

    def __init__(self, render: Callable[..., Any], controls: Mapping[str, Any], title: str = "",
                 run_button: bool = False):
        import inspect

        import ipywidgets as w

        self.render = render
        self.controls = dict(controls)
        self.output = w.Output()
        self.output.add_class("metalearn-output")
        self.status = w.HTML()
        self.status.add_class("metalearn-status")
        self.last: Any = None
        self.renders = 0
        self._takes_progress = "progress" in inspect.signature(render).parameters
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        row = list(self.controls.values())
        self.button = self.bar = None
        if run_button:
            self.button = w.Button(description="Run", button_style="primary", icon="play")
            self.button.add_class("metalearn-run")
            self.button.on_click(lambda _: self.update())
            self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, layout=w.Layout(width="200px", visibility="hidden"))
            row += [self.button, self.bar]
            for control in self.controls.values():
                if hasattr(control, "continuous_update"):
                    control.continuous_update = False
                control.observe(lambda change: self._stale(), names="value")
        else:
            for control in self.controls.values():
                control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([*header, w.HBox(row, layout=w.Layout(flex_flow="row wrap")), self.status, self.output])
        self.widget.add_class("metalearn-panel")
        self.update()

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def _stale(self) -> None:
        self.status.value = "<i>settings changed: press Run</i>"

    def _progress(self, fraction: float) -> None:
        if self.bar is not None:
            self.bar.value = min(max(float(fraction), 0.0), 1.0)

    def update(self) -> Any:
        """Re-render with the current control values.

        A `ValueError` from the library (bad settings for the data) becomes a ⚠ message in the
        panel; any other exception shows its traceback in the output area (and is kept in `last`)
        so the panel never hangs on "working…". Either way the previous figure is cleared.
        """
        import traceback

        from IPython.display import display

        self.status.value = "<i>working…</i>"
        if self.button is not None:
            self.button.disabled = True
            self.bar.value, self.bar.layout.visibility = 0.0, "visible"
        error = None
        try:
            kwargs = self.values()
            if self._takes_progress:
                kwargs["progress"] = self._progress
            result = self.render(**kwargs)
        except ValueError as err:  # the library's clear errors become a message in the panel
            result = str(err)
        except Exception as err:  # noqa: BLE001 - a bug: show it where the user is looking
            result, error = err, traceback.format_exc()
        finally:
            if self.button is not None:
                self.button.disabled = False
                self.bar.layout.visibility = "hidden"
        self.last = result
        self.renders += 1
        # A new figure replaces the old one without a flicker (wait=True); a message or an error sends
        # no output that would trigger that delayed clear, so then the old figure goes at once.
        self.output.clear_output(wait=not (error is not None or isinstance(result, str)))
        if error is not None:
            self.status.value = f"<span style='color:#D55E00'>⚠ error: {type(result).__name__}: {result}</span>"
            with self.output:
                print(error)
        elif isinstance(result, str):
            self.status.value = f"<span style='color:#D55E00'>⚠ {result}</span>"
        else:
            self.status.value = ""
            with self.output:
                display(result)
        return result

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# ---------------------------------------------------------------------------------------
# Attention explorer
# ---------------------------------------------------------------------------------------
class _Cache:
    """A small least-recently-used cache (the explorer keeps forward passes and figures of recent texts)."""

    def __init__(self, size: int = 16):
        self.size, self.items = size, {}

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self.items:
            self.items[key] = self.items.pop(key)  # most recently used last
            return self.items[key]
        value = self.items[key] = make()
        while len(self.items) > self.size:
            self.items.pop(next(iter(self.items)))
        return value


_ATTENTION = _Cache(8)  # (model, tokenizer, text, max_tokens) -> (attentions, tokens)
_VIEWS = _Cache(24)  # (model, tokenizer, text, max_tokens, view[, layer, head]) -> Figure


def render_attention(model: Any, tokenizer: Any, text: str, layer: int, head: int, view: str = "head",
                     max_tokens: int = 32):
    """The picture behind the attention explorer: one head, a layers × heads mosaic, or the summary.

    The forward pass of a (model, text) is computed once and kept, and so are the figures: the
    mosaic and the summary do not depend on layer and head, so moving those sliders in those views
    costs nothing, and going back to a view already drawn shows it at once.

    Returns:
        A Figure, or a message string when `text`, `layer`, `head` or `view` is out of range.
    """
    if not text or not text.strip():
        return "type a sentence in the text box"
    cfg = model.cfg
    if not 0 <= layer < cfg.n_layers:
        return f"layer={layer} is out of range: this model has layers 0..{cfg.n_layers - 1}"
    if not 0 <= head < cfg.n_heads:
        return f"head={head} is out of range: this model has heads 0..{cfg.n_heads - 1}"
    if view not in ATTENTION_VIEWS:
        return f"view={view!r}; choose one of {ATTENTION_VIEWS}"
    base = (id(model), id(tokenizer), text, max_tokens)

    def forward():
        enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=min(max_tokens, cfg.max_len))
        with torch.no_grad():
            attentions = model(enc["input_ids"], return_attention=True).attentions
        return [a.detach() for a in attentions], tokenizer.convert_ids_to_tokens(enc["input_ids"][0])

    attentions, tokens = _ATTENTION.get(base, forward)
    if view == "head":
        return _VIEWS.get((*base, view, layer, head), lambda: viz.plot_attention_head(
            attentions[layer][0, head], tokens, title=f"layer {layer}, head {head}", max_tokens=max_tokens))
    if view == "grid":
        return _VIEWS.get((*base, view), lambda: viz.plot_attention_mosaic(attentions, tokens, index=0,
                                                                           max_tokens=max_tokens))

    def summary():
        stats = model_attention_stats(model, tokenizer, [text], max_len=max_tokens)
        # four statistics, colours only: the explorer's view must draw in well under a second
        return viz.plot_head_summary(stats, keys=("cls", "sep", "prev", "next"), annotate=False,
                                     title="pattern statistics on this text (all seven: chapter 1)")

    return _VIEWS.get((*base, view), summary)


def attention_explorer(models: Mapping[str, tuple[Any, Any]], text: str = "The minister said the new tax would hurt small firms.") -> Playground:
    """A text box, a model selector, layer and head sliders and a view selector.

    Args:
        models: display name -> (model, tokenizer), e.g. {"ours (pretrained)": (m, tok), "MiniLM": (mm, mtok)}.
    """
    import ipywidgets as w

    if not models:
        raise ValueError("models is empty; pass at least one {name: (model, tokenizer)}")
    names = list(models)
    max_layers = max(m.cfg.n_layers for m, _ in models.values())
    max_heads = max(m.cfg.n_heads for m, _ in models.values())
    controls = {
        "text": w.Text(value=text, description="text", layout=w.Layout(width="60%")),
        "model_name": w.Dropdown(options=names, value=names[0], description="model"),
        "layer": w.IntSlider(value=0, min=0, max=max_layers - 1, description="layer"),
        "head": w.IntSlider(value=0, min=0, max=max_heads - 1, description="head"),
        "view": w.ToggleButtons(options=ATTENTION_VIEWS, value="head", description="view"),
    }

    def render(text, model_name, layer, head, view):
        model, tokenizer = models[model_name]
        return render_attention(model, tokenizer, text, layer, head, view)

    return Playground(render, controls, title="Attention explorer")


# ---------------------------------------------------------------------------------------
# Masking playground
# ---------------------------------------------------------------------------------------
def render_masking(model: Any, tokenizer: Any, text: str, mask_prob: float, mask_token_frac: float,
                   random_token_frac: float, seed: int = 0, top_k: int = 5):
    """Corrupt `text` with the given rates and show the model's top-k guesses at every target."""
    if not text or not text.strip():
        return "type a sentence in the text box"
    if mask_token_frac + random_token_frac > 1:
        return (f"[MASK] {mask_token_frac:.0%} + random {random_token_frac:.0%} is more than 100% of the "
                "selected tokens; lower one of them (the rest are kept unchanged)")
    config = MaskingConfig(mask_prob=mask_prob, mask_token_frac=mask_token_frac, random_token_frac=random_token_frac)
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=min(64, model.cfg.max_len))
    masked = mask_tokens(enc["input_ids"], MaskingVocab.from_tokenizer(tokenizer), config,
                         generator=torch.Generator().manual_seed(seed))
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    if not masked.selected.any():
        return f"no token was selected at mask rate {mask_prob:.0%}; raise the rate or change the seed"
    with torch.no_grad():
        logits = model(masked.input_ids, head="mlm", mlm_mask=masked.selected).logits
    guesses = mask_guesses(logits, tokenizer, top_k)
    return viz.plot_masking(tokens, masked, index=0, corrupted_tokens=tokenizer.convert_ids_to_tokens(masked.input_ids[0]),
                            guesses=guesses)


def masking_playground(model: Any, tokenizer: Any,
                       text: str = "Shares in the bank fell sharply after it warned that profits would be lower.") -> Playground:
    """Sliders for the mask rate and the 80/10/10 split over a sentence, with the model's guesses."""
    import ipywidgets as w

    controls = {
        "text": w.Text(value=text, description="text", layout=w.Layout(width="60%")),
        "mask_prob": w.FloatSlider(value=0.15, min=0.05, max=0.6, step=0.05, description="mask rate"),
        "mask_token_frac": w.FloatSlider(value=0.8, min=0.0, max=1.0, step=0.1, description="[MASK]"),
        "random_token_frac": w.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.1, description="random"),
        "seed": w.IntSlider(value=0, min=0, max=20, description="seed"),
    }

    def render(text, mask_prob, mask_token_frac, random_token_frac, seed):
        return render_masking(model, tokenizer, text, mask_prob, mask_token_frac, random_token_frac, seed)

    return Playground(render, controls, title="Masking playground")


# ---------------------------------------------------------------------------------------
# Sinusoid playground
# ---------------------------------------------------------------------------------------
from .meta.sinusoid import SINUSOID_METHODS, load_sinusoid_models  # noqa: F401 (notebooks import it from here)


def render_sinusoid(models: Mapping[str, tuple[Any, float]], method: str, k_shot: int, inner_lr: float,
                    inner_steps: int, task: int = 0, seed: int = 12345):
    """Adapt one meta-trained network to a fresh sine task and draw before/after.

    Returns:
        A Figure, or a message when the method is missing or the inner loop diverges.
    """
    from .episodes import SinusoidTasks
    from .meta import InnerLoopDivergedError, finetune, functional_loss

    if method not in models:
        return f"method={method!r} has no trained model here; available: {sorted(models)}"
    if k_shot < 1:
        return f"K={k_shot}: give the model at least one support point"
    net, _ = models[method]
    tasks = SinusoidTasks(seed=seed)
    episode = tasks.episode(task, k_shot, k_query=10)
    loss_fn = functional_loss(net, "mse")
    try:
        trajectory = finetune(loss_fn, dict(net.named_parameters()), episode, inner_lr, inner_steps)
    except InnerLoopDivergedError as err:
        return str(err)
    grid = torch.linspace(-5, 5, 200).unsqueeze(1)
    shown = {0, 1, inner_steps} if inner_steps > 1 else {0, inner_steps}
    predictions = {k: y.squeeze(1) for k, y in trajectory.outputs(net, grid, shown).items()}
    query = trajectory.outputs(net, episode.query_x, [inner_steps])[inner_steps]
    mse = ((query - episode.query_y) ** 2).mean()
    true_curve = tasks.true_curve(episode, grid).squeeze(1)
    curve_mse = ((predictions[inner_steps].squeeze() - true_curve) ** 2).mean()  # the whole of [−5, 5], not 10 points
    return viz.plot_sinusoid(grid.squeeze(1), true_curve, episode.support_x,
                             episode.support_y, predictions, query_x=episode.query_x, query_y=episode.query_y,
                             title=f"{method}: K={k_shot}, α={inner_lr:g}, {inner_steps} step(s) — MSE "
                                   f"{float(mse):.2f} on the 10 query points, {float(curve_mse):.2f} on the whole curve")


def sinusoid_playground(models: Mapping[str, tuple[Any, float]]) -> Playground:
    """Sliders for K, the inner learning rate, the inner steps and the algorithm, over pre-trained nets."""
    import ipywidgets as w

    names = [m for m in SINUSOID_METHODS if m in models]
    controls = {
        "method": w.Dropdown(options=names, value=names[0], description="algorithm"),
        "k_shot": w.IntSlider(value=5, min=1, max=20, description="K"),
        "inner_lr": w.FloatLogSlider(value=0.01, base=10, min=-3, max=0, step=0.25, description="inner lr"),
        "inner_steps": w.IntSlider(value=1, min=0, max=20, description="inner steps"),
        "task": w.IntSlider(value=0, min=0, max=50, description="task"),
    }
    return Playground(lambda **v: render_sinusoid(models, **v), controls, title="Sinusoid playground")


# ---------------------------------------------------------------------------------------
# In context versus gradient steps (chapter 9)
# ---------------------------------------------------------------------------------------
def render_in_context(learner: Any, models: Mapping[str, tuple[Any, float]], method: str, k_shot: int,
                      amplitude: float, task: int = 0, inner_steps: int = 10, seed: int = 12345):
    """The in-context learner and one MAML-family network on the same sine task, side by side.

    The task is episode `task` of ``SinusoidTasks(amplitude=(A, A), seed=seed)``: its phase and points
    do not depend on A, so moving the amplitude slider scales one wave. The network takes
    `inner_steps` SGD steps at its own test learning rate (fewer, and said so in its title, when a
    step diverges); the in-context learner one forward pass.

    Returns:
        A Figure, or a message when the method is missing or the settings make no task.
    """
    from .episodes import SinusoidTasks
    from .meta import adapt, functional_loss

    if method not in models:
        return f"method={method!r} has no trained network here; available: {sorted(models)}"
    if k_shot < 1:
        return f"K={k_shot}: give the learners at least one support point"
    if not amplitude > 0:
        return f"amplitude={amplitude}: choose an amplitude above 0"
    tasks = SinusoidTasks(amplitude=(amplitude, amplitude), seed=seed)
    episode = tasks.episode(task, k_shot, k_query=100)
    grid = torch.linspace(-5, 5, 200).unsqueeze(1)
    true_y = tasks.true_curve(episode, grid).squeeze(1)
    with torch.no_grad():
        in_context = learner(episode.support_x, episode.support_y, torch.cat([grid, episode.query_x]))
    icl_mse = float(((in_context[200:] - episode.query_y) ** 2).mean())
    net, lr = models[method]
    params = {n: p.detach() for n, p in net.named_parameters()}
    with torch.enable_grad():  # the inner loop stops before a diverging step and keeps what it had
        trajectory = adapt(functional_loss(net, "mse"), params, episode.support, lr, inner_steps,
                           stop_on_divergence=True)
    steps = trajectory.steps
    outputs = trajectory.outputs(net, torch.cat([grid, episode.query_x]), [0, steps])
    net_mse = float(((outputs[steps][200:] - episode.query_y) ** 2).mean())
    diverged = " (then diverged)" if steps < inner_steps else ""
    common = dict(x_grid=grid.squeeze(1), true_y=true_y, support_x=episode.support_x, support_y=episode.support_y)
    beyond = "  (beyond training: A ≤ 5)" if amplitude > 5 else ""
    fig = viz.plot_sinusoid_panels([
        dict(common, predictions={"in context (one forward pass)": in_context[:200].squeeze(1)},
             title=f"in context: query MSE {icl_mse:.2f}"),
        dict(common, predictions={0: outputs[0][:200].squeeze(1), steps: outputs[steps][:200].squeeze(1)},
             title=f"{method}, {steps} steps{diverged}: query MSE {net_mse:.3g}"),
    ], title=f"One sine task, A = {amplitude:.1f}, K = {k_shot}{beyond}; {method} steps at α = {lr:g}")
    for ax in fig.axes:  # a diverging network's curve would squash the wave
        ax.set_ylim(-1.6 * amplitude - 0.5, 1.6 * amplitude + 0.5)
    return fig


def in_context_playground(learner: Any, models: Mapping[str, tuple[Any, float]]) -> Playground:
    """Sliders for K, the amplitude (up to twice the training range) and the task; a dropdown for the network."""
    import ipywidgets as w

    names = [m for m in SINUSOID_METHODS if m in models]
    controls = {
        "method": w.Dropdown(options=names, value=names[0], description="network"),
        "k_shot": w.IntSlider(value=5, min=1, max=40, description="K"),
        "amplitude": w.FloatSlider(value=3.0, min=0.1, max=10.0, step=0.1, description="amplitude"),
        "task": w.IntSlider(value=0, min=0, max=50, description="task"),
    }
    return Playground(lambda **v: render_in_context(learner, models, **v), controls,
                      title="In context vs gradient steps (training amplitudes: 0.1–5)")


# ---------------------------------------------------------------------------------------
# Line-task geometry (chapter 4)
# ---------------------------------------------------------------------------------------
def render_line_tasks(inner_lr: float, inner_steps: int, steepness_1: float, steepness_2: float,
                      steepness_3: float):
    """The chapter-4 triangle with the given steepnesses, and the three methods' fixed points.

    Returns:
        A Figure (each method's mean loss after ``inner_steps`` SGD steps in its legend entry), or a
        message when the inner loop would diverge or the fixed point is not unique.
    """
    from .meta.line_tasks import fixed_points, line_tasks, loss_after_adaptation

    tasks = line_tasks((steepness_1, steepness_2, steepness_3))
    points = fixed_points(tasks, inner_lr, inner_steps)
    labelled = {f"{name}: loss after {inner_steps} step(s) {loss_after_adaptation(theta, tasks, inner_lr, inner_steps):.3g}":
                theta for name, theta in points.items()}
    return viz.plot_line_tasks([t.centre for t in tasks], [t.normal for t in tasks],
                               [f"task {i + 1}, λ = {t.steepness:g}" for i, t in enumerate(tasks)],
                               points=labelled, title=f"α = {inner_lr:g}, k = {inner_steps}")


def line_tasks_playground() -> Playground:
    """Sliders for the inner step size, the inner steps and each task's steepness."""
    import ipywidgets as w

    def steepness(value: float, i: int) -> Any:
        return w.FloatLogSlider(value=value, base=10, min=-2, max=1, step=0.1, description=f"λ{i}")

    controls = {
        "inner_lr": w.FloatSlider(value=0.4, min=0.02, max=1.0, step=0.02, description="α (inner lr)"),
        "inner_steps": w.IntSlider(value=5, min=1, max=20, description="k (steps)"),
        "steepness_1": steepness(2.0, 1),
        "steepness_2": steepness(1.0, 2),
        "steepness_3": steepness(0.1, 3),
    }
    return Playground(lambda **v: render_line_tasks(**v), controls, title="Where do joint training, Reptile and MAML put θ?")


# ---------------------------------------------------------------------------------------
# Few-shot playground
# ---------------------------------------------------------------------------------------
FEW_SHOT_TASKS = ("bbc", "smlmt")


# Each model's lower-block features of the texts it has seen (`TrunkCache`): a change of the
# inner loop or of N, K or the episodes re-runs only the top block on the texts that come back.
_TRUNK_CACHES: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()


def _trunk_cache(model: Any) -> Any:
    from .meta.text import TrunkCache

    if model not in _TRUNK_CACHES:
        _TRUNK_CACHES[model] = TrunkCache(model)
    return _TRUNK_CACHES[model]


@functools.lru_cache(maxsize=1024)
def _episode_and_bag_of_words(sampler: Any, index: int) -> tuple[Any, float]:
    """Episode `index` of `sampler` and the bag-of-words accuracy on it (both fixed, so drawn once)."""
    from .meta.text import bag_of_words_accuracy

    episode = sampler.episode(index)
    return episode, bag_of_words_accuracy(episode)


def render_few_shot(models: Mapping[str, tuple[Any, Any]], model_name: str, task: str, n_way: int, k_shot: int,
                    inner_steps: int, inner_lr: float, n_episodes: int = 8, first_episode: int = 0,
                    progress: Callable[[float], None] | None = None):
    """Fresh test episodes, the test-time inner loop, and the adaptation curve (with bag of words).

    Runs `metalearn_edu.meta.text.evaluate_text_adaptation` (prototype head, top block + head
    adapt) on `n_episodes` held-out episodes starting at `first_episode`: on a CPU, one episode per
    core at a time (``workers``), with each model's lower-block features kept between updates
    (`TrunkCache`) and every episode's bag-of-words accuracy computed once.

    Args:
        models: display name -> (encoder, tokenizer).
        model_name, task (``"bbc"`` | ``"smlmt"``), n_way, k_shot, inner_steps, inner_lr: the controls.

    Returns:
        A Figure, or a message string when a value does not fit the data (e.g. K above
        what the smallest class can supply).
    """
    from .meta.text import evaluate_text_adaptation, held_out_sampler

    if model_name not in models:
        return f"model {model_name!r} is not loaded; choose one of {list(models)}"
    if task not in FEW_SHOT_TASKS:
        return f"task={task!r}; choose one of {FEW_SHOT_TASKS}"
    if n_way < 2:
        return f"n_way={n_way}: a classification episode needs at least 2 classes"
    model, tokenizer = models[model_name]
    sampler = held_out_sampler(tokenizer, task, n_way, k_shot, 5)  # cached; only the test split is indexed
    drawn = [_episode_and_bag_of_words(sampler, first_episode + i) for i in range(n_episodes)]
    episodes = [episode for episode, _ in drawn]
    if progress is not None:
        progress(0.1)
    on_cpu = next(model.parameters()).device.type == "cpu"
    workers = min(torch.get_num_threads(), len(episodes)) if on_cpu else 1  # episodes side by side
    curve = evaluate_text_adaptation(model, episodes, inner_lr, inner_steps, trunk=_trunk_cache(model),
                                     workers=workers)
    if progress is not None:
        progress(0.9)
    bow = sum(accuracy for _, accuracy in drawn) / len(drawn)
    title = (f"{model_name}: {n_way}-way {k_shot}-shot {'BBC topics' if task == 'bbc' else 'held-out SMLMT'}, "
             f"episodes {first_episode}–{first_episode + n_episodes - 1} (95% CI)")
    return viz.plot_adaptation({model_name: curve.to_dict()}, metric_name="query accuracy", chance=1.0 / n_way,
                               reference={"bag of words (step 0 only)": {0: bow}}, title=title)


def few_shot_playground(models: Mapping[str, tuple[Any, Any]], n_episodes: int = 8) -> Playground:
    """Model, task, N, K, inner steps and inner learning rate; each change runs fresh episodes.

    Args:
        models: display name -> (encoder, tokenizer), e.g. ``{"MLM (ours)": (model, tok)}``.
        n_episodes: episodes per update (8: about a second per update on a 2-core CPU,
            `benchmarks/playground_speed.py`).
    """
    import ipywidgets as w

    if not models:
        raise ValueError("models is empty; pass at least one {name: (model, tokenizer)}")
    names = list(models)
    controls = {
        "model_name": w.Dropdown(options=names, value=names[0], description="model"),
        "task": w.Dropdown(options=list(FEW_SHOT_TASKS), value="bbc", description="task"),
        "n_way": w.IntSlider(value=5, min=2, max=8, description="N (classes)"),
        "k_shot": w.IntSlider(value=5, min=1, max=20, description="K (shots)"),
        "inner_steps": w.IntSlider(value=5, min=0, max=20, description="inner steps"),
        "inner_lr": w.FloatLogSlider(value=0.05, base=10, min=-3, max=0, step=0.25, description="inner lr"),
        "first_episode": w.IntSlider(value=0, min=0, max=500, step=n_episodes, description="episodes from"),
    }
    for control in controls.values():
        control.style.description_width = "initial"  # "episodes from" in full, not "episodes f…"
    def render(progress=None, **values):
        return render_few_shot(models, n_episodes=n_episodes, progress=progress, **values)

    panel = Playground(render, controls, title="Few-shot playground: set the sliders, then press Run",
                       run_button=True)
    _warm_up_few_shot(models, controls["n_way"].value, controls["k_shot"].value, n_episodes)
    return panel


def _warm_up_few_shot(models: Mapping[str, tuple[Any, Any]], n_way: int, k_shot: int, n_episodes: int) -> None:
    """Build, with the panel, what a first change of task or model would otherwise wait for.

    The held-out SMLMT words (about a second, once per tokenizer) and every model's lower-block
    features of the default episodes' texts.
    """
    from .meta.text import held_out_sampler

    for model, tokenizer in models.values():
        held_out_sampler(tokenizer, "smlmt", n_way, k_shot, 5)
        sampler = held_out_sampler(tokenizer, "bbc", n_way, k_shot, 5)
        cache = _trunk_cache(model)
        for i in range(n_episodes):
            cache(_episode_and_bag_of_words(sampler, i)[0])


# ---------------------------------------------------------------------------------------
# Hybrid pretraining (chapter 6)
# ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _hybrid_data(tokenizer: Any) -> tuple:
    """Blocks, masking ids, unigram baseline and the SMLMT word split for `render_hybrid` (built once)."""
    from . import analysis
    from .data import bbc_splits
    from .meta.text import text_task_suites
    from .pretrain import pack_blocks

    splits = bbc_splits()
    train_blocks = pack_blocks([d.text for d in splits["train"][:300]], tokenizer, 64)
    eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, 64)[:32]
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    log_uni = analysis.unigram_log_probs(analysis.count_tokens(train_blocks, vocab.vocab_size,
                                                               ignore_ids=vocab.special_ids))
    suites = text_task_suites(tokenizer)  # only for its disjoint train / held-out word lists
    return train_blocks, eval_blocks, vocab, log_uni, suites.train_words, suites.test_words


@functools.lru_cache(maxsize=16)
def _smlmt_samplers(tokenizer: Any, n_way: int, k_shot: int) -> tuple:
    """Meta-training and held-out SMLMT samplers for N words × K shots (and K query sentences)."""
    from .episodes import SMLMTEpisodes
    from .meta.text import SMLMT_TEST_SEED, TRAIN_SEED, _sentences

    *_, train_words, test_words = _hybrid_data(tokenizer)
    train = SMLMTEpisodes(_sentences("train"), tokenizer, n_way, k_shot, k_shot, words=train_words, max_len=48,
                          seed=TRAIN_SEED, min_sentences=20)
    test = SMLMTEpisodes(_sentences("test"), tokenizer, n_way, k_shot, k_shot, words=test_words, max_len=48,
                         seed=SMLMT_TEST_SEED)
    return train, test


def render_hybrid(model: Any, tokenizer: Any, meta_weight: float, inner_steps: int, n_way: int, k_shot: int,
                  steps: int = 6, seed: int = 0, progress: Callable[[float], None] | None = None):
    """A short hybrid run from `model` (a copy: the model is not changed), and what it did.

    Trains ``steps`` steps of (1 − λ)·MLM + λ·SMLMT (`metalearn_edu.pretrain.pretrain` with
    `metalearn_edu.meta.SMLMTObjective`; 8 blocks of 64 tokens per MLM batch, 2 SMLMT episodes of
    N words × K sentences per meta-batch), then measures held-out MLM loss (32 validation blocks)
    and held-out SMLMT accuracy of the prototype head (8 episodes of held-out words from the test
    articles, no test-time step) before and after.

    Returns:
        A Figure (`viz.plot_hybrid_run`), or a message when the settings do not fit the corpus.
    """
    import copy

    from .meta import SMLMTObjective
    from .meta.text import evaluate_text_adaptation
    from .pretrain import PretrainConfig, evaluate_mlm, pretrain

    if not 0.0 <= meta_weight <= 1.0:
        return f"meta_weight={meta_weight} is not allowed; λ must lie in [0, 1]"
    train_blocks, eval_blocks, vocab, log_uni, _, _ = _hybrid_data(tokenizer)
    train_sampler, test_sampler = _smlmt_samplers(tokenizer, n_way, k_shot)  # ValueError: shown as a message
    held_out = [test_sampler.episode(i) for i in range(8)]
    student = copy.deepcopy(model).eval()

    def smlmt_accuracy(m: Any) -> float:
        return evaluate_text_adaptation(m, held_out, 0.05, 0).mean[0]

    before = {"held-out MLM loss": evaluate_mlm(student, eval_blocks, vocab, log_uni, precision="fp32")["loss"],
              "held-out SMLMT accuracy": smlmt_accuracy(student)}
    if progress is not None:
        progress(0.1)
    objective = SMLMTObjective(train_sampler, meta_batch_size=2, inner_lr=0.05, inner_steps=inner_steps)
    objective_name = "mlm" if meta_weight == 0 else "smlmt" if meta_weight == 1 else "hybrid"
    cfg = PretrainConfig(steps=steps, batch_size=8, lr=2e-4, warmup_steps=1, min_lr_ratio=1.0, precision="fp32",
                         eval_every=steps, seed=seed, objective=objective_name, meta_weight=meta_weight)
    history = pretrain(student.train(), train_blocks, eval_blocks, vocab, cfg, progress=False, log=None,
                       meta_objective=objective if meta_weight > 0 else None,
                       on_step=None if progress is None else (lambda step: progress(0.1 + 0.8 * step / steps)))
    after = {"held-out MLM loss": history.eval_loss[-1],  # pretrain's own final evaluation, same blocks
             "held-out SMLMT accuracy": smlmt_accuracy(student.eval())}
    return viz.plot_hybrid_run(history, before, after, note=_hybrid_study_note(meta_weight, steps),
                               title=f"λ = {meta_weight:g}: {steps} steps of (1 − λ)·MLM + λ·SMLMT "
                                     f"({n_way}-way {k_shot}-shot, {inner_steps} inner step(s))\n"
                                     f"held out: MLM loss on {len(eval_blocks)} blocks, SMLMT accuracy on "
                                     f"{len(held_out)} episodes")


@functools.lru_cache(maxsize=1)
def _equal_compute_rows() -> dict[str, Any]:
    """Chapter 6's stored λ sweep (`studies.equal_compute_table`), read once; {} when it is not there."""
    from . import studies

    try:
        study = studies.load_study("equal_compute")
    except FileNotFoundError:
        return {}
    return {"sweep": studies.equal_compute_table(study), "budget": study["settings"]["budget"]}


def _hybrid_study_note(meta_weight: float, steps: int) -> str:
    """What a run of `steps` steps can show, next to what the stored study measured at the nearest λ."""
    stored = _equal_compute_rows()
    if not stored:
        return ""
    weight = min(stored["sweep"], key=lambda w: abs(float(w) - meta_weight))
    row = stored["sweep"][weight]
    mean_steps = sum(row["steps"]) / len(row["steps"])
    return (f"{steps} steps show how the two training losses move; they are far fewer than the study's runs took, so "
            f"the held-out bars say little. The stored study, λ = {weight} for {stored['budget']:g} CPU s (~{mean_steps:.0f} steps, "
            f"{len(row['steps'])} seeds): held-out MLM loss {row['mlm_loss']['diff']:+.3f} nats vs the start, "
            f"BBC 5-shot accuracy {row['bbc_k5']['diff']:+.3f} ± {row['bbc_k5']['diff_half']:.3f} (chapter 6, section 4).")


def hybrid_playground(model: Any, tokenizer: Any, steps: int = 6) -> Playground:
    """λ, inner steps, N and K for a short hybrid run from `model`; press Run to train and measure."""
    import ipywidgets as w

    controls = {
        "meta_weight": w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.25, description="λ (meta weight)"),
        "inner_steps": w.IntSlider(value=1, min=1, max=3, description="inner steps"),
        "n_way": w.IntSlider(value=3, min=2, max=6, description="N (words)"),
        "k_shot": w.IntSlider(value=2, min=1, max=5, description="K (shots)"),
    }

    def render(progress=None, **values):
        return render_hybrid(model, tokenizer, steps=steps, progress=progress, **values)

    return Playground(render, controls, title="Hybrid pretraining: set λ and the task, then press Run",
                      run_button=True)
