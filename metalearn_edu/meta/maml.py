"""MAML and first-order MAML (Finn, Abbeel & Levine, ICML 2017).

The meta-objective is the query loss *after* adaptation, averaged over a
meta-batch of tasks i:

    min_θ  (1/B) Σ_i L_query,i(φ_K,i(θ)),    φ_K,i = adapt(θ, support_i)

`maml_step` computes it and its gradient with the library's one inner loop
(`metalearn_edu.meta.inner_loop.adapt`); `meta_train` feeds those gradients to
an Adam outer optimiser. MAML and first-order MAML (FOMAML) share everything
but the ``first_order`` flag: second order differentiates through the inner
gradients, first order treats them as constants, so its meta-gradient is the
query gradient at φ_K.

Example:
    >>> from metalearn_edu.episodes import SinusoidTasks
    >>> net = sinusoid_mlp(seed=0)
    >>> loss_fn = functional_loss(net, "mse")
    >>> tasks = SinusoidTasks(seed=0)
    >>> meta_loss, grads = maml_step(loss_fn, dict(net.named_parameters()), tasks.batch(0, 4, k_shot=10),
    ...                              inner_lr=0.01, inner_steps=1)
    >>> sorted(grads) == sorted(n for n, _ in net.named_parameters())
    True
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..checks import check_int, check_number
from ..episodes import Episode
from .inner_loop import LossFn, Params, adapt, check_loss, initial_loss, prepare_episode
from .losses import functional_loss  # noqa: F401 (doctest)
from .outer_loop import EpisodeFn, MetaHistory, check_budget, meta_batch, outer_adam, run_outer_loop
from .sinusoid import sinusoid_mlp  # noqa: F401 (doctest)
from .vectorized import maml_step_batched, stack_for


def _meta_tensors(params: Params, inner_lr: float | Mapping[str, Any]) -> dict[str, Tensor]:
    """The tensors that get a meta-gradient: θ entries and learned inner LRs that require grad."""
    wrt = {n: p for n, p in params.items() if p.requires_grad}
    if isinstance(inner_lr, Mapping):
        wrt.update({f"inner_lr.{n}": lr for n, lr in inner_lr.items() if isinstance(lr, Tensor) and lr.requires_grad})
    return wrt


def maml_step(loss_fn: LossFn, params: Params, episodes: Sequence[Episode],
              inner_lr: float | Mapping[str, Tensor | float], inner_steps: int, first_order: bool = False,
              adapt_names: Iterable[str] | None = None,
              episode_params: Callable[[Params, Episode], Params] | None = None,
              vectorize: bool | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """The meta-loss and meta-gradient of one meta-batch.

    For each episode: θ_i = episode_params(θ, episode) (e.g. add a fresh head),
    φ_K = adapt(θ_i, support), then the query loss at φ_K; the meta-loss is
    the mean over episodes. The loop below takes gradients one episode at a time (only one
    episode's graph is alive at once); when the episodes stack, the same computation runs for
    all of them at once (`metalearn_edu.meta.vectorized`), with the same results.

    Args:
        loss_fn: ``loss_fn(params, data) -> scalar``, e.g. from `functional_loss`.
        params: θ; entries that require grad get meta-gradients. Not modified.
        episodes: the meta-batch (B ≥ 1 episodes).
        inner_lr, inner_steps, first_order, adapt_names: as in `adapt`.
        episode_params: builds each episode's θ_i; defaults to
            ``loss_fn.episode_params`` when the loss function has one.
        vectorize: None (default) batches the meta-batch when it can
            (`metalearn_edu.meta.vectorized.can_vectorize`), True insists, False runs the loop.

    Raises:
        InnerLoopDivergedError: when a support loss or a query loss after adaptation diverges
            (`metalearn_edu.meta.inner_loop.has_diverged`).

    Returns:
        ``(meta_loss, meta_grads)``: the mean query loss (a detached scalar
        tensor) and the mean gradient for every tensor of `params` that requires
        grad and influenced some query loss; learned inner learning rates (tensors
        in an `inner_lr` dict that require grad) appear as ``"inner_lr.<name>"``.

    Example:
        >>> net = nn.Linear(1, 1)
        >>> ep = Episode(torch.ones(2, 1), torch.ones(2, 1), torch.ones(2, 1), torch.ones(2, 1))
        >>> loss, grads = maml_step(functional_loss(net, "mse"), dict(net.named_parameters()), [ep], 0.1, 1)
        >>> sorted(grads)
        ['bias', 'weight']
    """
    if len(episodes) == 0:
        raise ValueError("episodes is empty; a meta-batch needs at least one episode")
    wrt = _meta_tensors(params, inner_lr)
    if not wrt:
        raise ValueError("no tensor in params requires grad, so there is nothing to meta-learn; "
                         "pass dict(model.named_parameters()) of a model whose parameters require grad")
    stacked = stack_for(loss_fn, episodes, vectorize)
    if stacked is not None:
        return _with_attention_hint(lambda: maml_step_batched(loss_fn, params, stacked, wrt, inner_lr, inner_steps,
                                                              first_order, adapt_names, episode_params))
    names, tensors = list(wrt), list(wrt.values())
    total = torch.zeros(())
    grads: dict[str, Tensor] = {}
    for episode in episodes:
        theta = prepare_episode(loss_fn, params, episode, episode_params)
        trajectory = adapt(loss_fn, theta, episode.support, inner_lr, inner_steps, first_order, adapt_names,
                           track_loss=False)
        query_loss = loss_fn(trajectory.adapted, episode.query)
        check_loss(query_loss, inner_steps, inner_steps, initial_loss(trajectory), inner_lr, which="query")
        query_loss = query_loss / len(episodes)
        episode_grads = _with_attention_hint(lambda: torch.autograd.grad(query_loss, tensors, allow_unused=True))
        for name, g in zip(names, episode_grads):
            if g is not None:
                grads[name] = g if name not in grads else grads[name] + g
        total = total + query_loss.detach().cpu()
    return total, grads


def _with_attention_hint(compute: Callable[[], Any]) -> Any:
    """Run `compute`; turn the missing double backward of fused attention into an error that says what to do."""
    try:
        return compute()
    except RuntimeError as err:
        if "scaled_dot_product" in str(err) and "not implemented" in str(err):
            raise ValueError(
                "second-order MAML needs the double backward of attention, which the fused "
                "scaled_dot_product_attention lacks on this device; call the encoder with "
                "attention_impl='explicit' (e.g. TextClassifierLoss(model, attention_impl='explicit')) "
                "or use first_order=True"
            ) from err
        raise


def meta_train(model: nn.Module, loss_fn: LossFn, episodes: EpisodeFn, steps: int | None = 1000,
               meta_batch_size: int = 25, inner_lr: float | Mapping[str, Tensor] = 0.01, inner_steps: int = 1,
               outer_lr: float = 1e-3, first_order: bool = False, adapt_names: Iterable[str] | None = None,
               seed: int = 0, time_budget: float | None = None, progress: bool = False, first_index: int = 0,
               log_every: int = 1, vectorize: bool | None = None, on_divergence: str = "raise") -> MetaHistory:
    """Meta-train `model` with MAML (or FOMAML with ``first_order=True``) and Adam.

    Outer step s uses episodes ``first_index + s·B, …, first_index + s·B + B − 1``
    of `episodes`, so a run is fixed by the sampler's seed and `first_index`;
    `seed` seeds torch's random state inside the run (dropout), which is restored
    afterwards. Only the Adam step changes the model's parameters.

    Args:
        model: the network whose parameters are θ (updated in place).
        loss_fn: ``loss_fn(params, data)``, e.g. ``functional_loss(model, "mse")``.
        episodes: ``index -> Episode``, e.g. ``lambda i: tasks.episode(i, k_shot=10)``
            or ``sampler.episode``.
        steps: the most outer steps (None: until the time budget is spent).
        meta_batch_size: B, episodes per outer step.
        inner_lr, inner_steps, first_order, adapt_names: as in `adapt`. Learned
            inner learning rates (a dict of tensors that require grad) are
            optimised by the same Adam and kept ≥ 0 (clamped after each step).
        outer_lr: Adam's learning rate (β in the MAML paper).
        seed: seeds torch's RNG for the run.
        time_budget: stop after this many seconds (checked after each step).
        progress: show a tqdm progress bar.
        first_index: the first episode index used.
        log_every: record the meta-loss every this many steps.
        vectorize: as in `maml_step` (None: batch the meta-batch when possible).
        on_divergence: "raise" (default) stops when an inner loop diverges; "skip" drops that
            outer step (no Adam step) and lists it in ``history.skipped`` (`run_outer_loop`).

    Returns:
        A `MetaHistory` of the meta-loss per recorded step.

    Example:
        >>> from metalearn_edu.episodes import SinusoidTasks
        >>> net, tasks = sinusoid_mlp(), SinusoidTasks(seed=0)
        >>> history = meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, 10),
        ...                      steps=3, meta_batch_size=2)
        >>> history.steps
        [1, 2, 3]
    """
    check_budget(steps, time_budget)
    check_int("meta_batch_size", meta_batch_size)
    check_number("outer_lr", outer_lr, low=0.0, low_open=True, hint=" (e.g. 1e-3)")
    params = dict(model.named_parameters())
    rates = dict(inner_lr) if isinstance(inner_lr, Mapping) else {}
    learned = [lr for lr in rates.values() if isinstance(lr, Tensor) and lr.requires_grad]
    optimizer = outer_adam([p for p in params.values() if p.requires_grad] + learned, outer_lr)
    by_name = {**params, **{f"inner_lr.{n}": lr for n, lr in rates.items()}}
    algorithm = "fomaml" if first_order else "maml"
    history = MetaHistory(algorithm, settings=dict(
        meta_batch_size=meta_batch_size, inner_lr=inner_lr if not isinstance(inner_lr, Mapping) else "learned",
        inner_steps=inner_steps, outer_lr=outer_lr, first_order=first_order, seed=seed, first_index=first_index,
        on_divergence=on_divergence))

    def step_fn(step: int, elapsed: float) -> float:
        batch = meta_batch(episodes, first_index, step, meta_batch_size)
        meta_loss, grads = maml_step(loss_fn, params, batch, inner_lr, inner_steps, first_order, adapt_names,
                                     vectorize=vectorize)
        optimizer.zero_grad(set_to_none=True)
        for name, g in grads.items():
            by_name[name].grad = g
        optimizer.step()
        with torch.no_grad():  # a learning rate is ≥ 0: project learned rates back after each Adam step
            for lr in learned:
                lr.clamp_(min=0.0)
        return float(meta_loss)

    return run_outer_loop(history, step_fn, steps, time_budget, seed, progress, log_every, on_divergence)

