"""ipywidgets panels for the notebooks: wiring only.

Each panel is a `Playground`: some controls, an output area, and a *render* function — a plain
function of the control values that returns a matplotlib Figure, or a string message when the
values do not make sense for the data (shown in the panel instead of a traceback). Tests call the
render functions directly and drive the panels by setting control values; no browser needed.

The maths lives in the library (`masking`, `analysis`, `viz`); nothing here computes anything
a test would need to check.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from . import viz
from .analysis import model_attention_stats
from .masking import MaskingConfig, MaskingVocab, mask_tokens
from .pretrained import mask_guesses

ATTENTION_VIEWS = ("head", "grid", "summary")


class Playground:
    """Controls + an output area + a render function, re-rendered whenever a control changes.

    Attributes:
        controls: name -> widget; their ``.value`` s are passed to `render` as keyword arguments.
        last: what the latest render returned (a Figure, or a message string).
        widget: the `ipywidgets.VBox` to display.
    """

    def __init__(self, render: Callable[..., Any], controls: Mapping[str, Any], title: str = ""):
        import ipywidgets as w

        self.render = render
        self.controls = dict(controls)
        self.output = w.Output()
        self.status = w.HTML()
        self.last: Any = None
        header = [w.HTML(f"<b>{title}</b>")] if title else []
        self.widget = w.VBox([*header, w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap")),
                              self.status, self.output])
        for control in self.controls.values():
            control.observe(lambda change: self.update(), names="value")
        self.update()

    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.controls.items()}

    def update(self) -> Any:
        """Re-render with the current control values; show a message instead of raising on bad input."""
        from IPython.display import display

        self.status.value = "<i>working…</i>"
        try:
            result = self.render(**self.values())
        except ValueError as err:  # the library's clear errors become a message in the panel
            result = str(err)
        self.last = result
        self.output.clear_output(wait=True)
        with self.output:
            if isinstance(result, str):
                self.status.value = f"<span style='color:#D55E00'>⚠ {result}</span>"
            else:
                self.status.value = ""
                display(result)
        return result

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


# ---------------------------------------------------------------------------------------
# Attention explorer
# ---------------------------------------------------------------------------------------
def render_attention(model: Any, tokenizer: Any, text: str, layer: int, head: int, view: str = "head",
                     max_tokens: int = 32):
    """The picture behind the attention explorer: one head, a layers × heads grid, or the summary.

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
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=min(max_tokens, cfg.max_len))
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    with torch.no_grad():
        attentions = model(enc["input_ids"], return_attention=True).attentions
    if view == "head":
        return viz.plot_attention_head(attentions[layer][0, head], tokens, title=f"layer {layer}, head {head}",
                                       max_tokens=max_tokens)
    if view == "grid":
        return viz.plot_attention_grid(attentions, tokens, index=0, max_tokens=max_tokens)
    stats = model_attention_stats(model, tokenizer, [text])
    return viz.plot_head_summary(stats, title="pattern statistics on this text")


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
    return viz.plot_sinusoid(grid.squeeze(1), tasks.true_curve(episode, grid).squeeze(1), episode.support_x,
                             episode.support_y, predictions, query_x=episode.query_x, query_y=episode.query_y,
                             title=f"{method}: K={k_shot}, α={inner_lr:g}, {inner_steps} step(s) — "
                                   f"query MSE {float(mse):.2f}")


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


def render_few_shot(models: Mapping[str, tuple[Any, Any]], model_name: str, task: str, n_way: int, k_shot: int,
                    inner_steps: int, inner_lr: float, n_episodes: int = 8, first_episode: int = 0):
    """Fresh test episodes, the test-time inner loop, and the adaptation curve (with bag of words).

    Runs `metalearn_edu.meta.text.evaluate_text_adaptation` (prototype head, top block + head
    adapt) on `n_episodes` held-out episodes starting at `first_episode`.

    Args:
        models: display name -> (encoder, tokenizer).
        model_name, task (``"bbc"`` | ``"smlmt"``), n_way, k_shot, inner_steps, inner_lr: the controls.

    Returns:
        A Figure, or a message string when a value does not fit the data (e.g. K above
        what the smallest class can supply).
    """
    from .meta.text import bag_of_words_accuracy, evaluate_text_adaptation, text_task_suites

    if model_name not in models:
        return f"model {model_name!r} is not loaded; choose one of {list(models)}"
    if task not in FEW_SHOT_TASKS:
        return f"task={task!r}; choose one of {FEW_SHOT_TASKS}"
    if n_way < 2:
        return f"n_way={n_way}: a classification episode needs at least 2 classes"
    model, tokenizer = models[model_name]
    suites = text_task_suites(tokenizer, n_way=n_way, k_shot=k_shot, q_query=5)  # cached
    episodes = suites.test_episodes(task, n_episodes, first_episode)
    curve = evaluate_text_adaptation(model, episodes, inner_lr, inner_steps)
    bow = sum(bag_of_words_accuracy(ep) for ep in episodes) / len(episodes)
    title = (f"{model_name}: {n_way}-way {k_shot}-shot {'BBC topics' if task == 'bbc' else 'held-out SMLMT'}, "
             f"episodes {first_episode}–{first_episode + n_episodes - 1} (95% CI)")
    return viz.plot_adaptation({model_name: curve.to_dict()}, metric_name="query accuracy", chance=1.0 / n_way,
                               reference={"bag of words (step 0 only)": {0: bow}}, title=title)


def few_shot_playground(models: Mapping[str, tuple[Any, Any]], n_episodes: int = 8) -> Playground:
    """Model, task, N, K, inner steps and inner learning rate; each change runs fresh episodes.

    Args:
        models: display name -> (encoder, tokenizer), e.g. ``{"MLM (ours)": (model, tok)}``.
        n_episodes: episodes per update (8 keeps an update under ten seconds on a laptop CPU).
    """
    import ipywidgets as w

    if not models:
        raise ValueError("models is empty; pass at least one {name: (model, tokenizer)}")
    names = list(models)
    controls = {
        "model_name": w.Dropdown(options=names, value=names[0], description="model"),
        "task": w.Dropdown(options=list(FEW_SHOT_TASKS), value="bbc", description="task"),
        "n_way": w.IntSlider(value=5, min=2, max=8, description="N (classes)"),
        "k_shot": w.IntSlider(value=5, min=1, max=40, description="K (shots)"),
        "inner_steps": w.IntSlider(value=5, min=0, max=20, description="inner steps"),
        "inner_lr": w.FloatLogSlider(value=0.05, base=10, min=-3, max=0, step=0.25, description="inner lr"),
        "first_episode": w.IntSlider(value=0, min=0, max=500, step=n_episodes, description="episodes from"),
    }
    return Playground(lambda **v: render_few_shot(models, n_episodes=n_episodes, **v), controls,
                      title="Few-shot playground")
