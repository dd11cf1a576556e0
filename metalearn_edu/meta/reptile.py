"""Reptile (Nichol, Achiam & Schulman 2018): move θ towards the weights adapted on each task.

For a meta-batch of B tasks, run the inner loop (plain SGD, no graph) on each
task's support set to get φ̃_i, then

    θ ← θ + ε · ( (1/B) Σ_i φ̃_i − θ )

No second derivatives, no query set in the update: with one inner step the
direction φ̃ − θ is just the negative support gradient (joint training); with
more steps it picks up a term that, like MAML's, rewards gradients that agree
within a task. ε is the outer step size (``outer_lr``), annealed linearly to 0
in the paper's sine experiment.

The update works on the parameter tensors themselves, so the encoder's tied
embedding, which is one parameter (``embeddings.tok_emb.weight``) read by both
the input embedding and the MLM decoder, moves once and stays tied.

Example:
    >>> from metalearn_edu.episodes import SinusoidTasks
    >>> from metalearn_edu.meta.sinusoid import sinusoid_mlp
    >>> net, tasks = sinusoid_mlp(), SinusoidTasks(seed=0)
    >>> before = net[0].bias.clone()
    >>> loss, delta = reptile_step(functional_loss(net, "mse"), dict(net.named_parameters()),
    ...                            tasks.batch(0, 2, k_shot=10), inner_lr=0.02, inner_steps=5, outer_lr=0.1)
    >>> torch.allclose(net[0].bias, before + 0.1 * delta["0.bias"])
    True
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..checks import check_int, check_number
from ..episodes import Episode
from .inner_loop import LossFn, Params, adapt, check_loss, initial_loss, prepare_episode
from .losses import functional_loss  # noqa: F401 (doctest)
from .outer_loop import EpisodeFn, MetaHistory, check_budget, meta_batch, run_outer_loop
from .vectorized import reptile_step_batched, stack_for


def reptile_step(loss_fn: LossFn, params: Params, episodes: Sequence[Episode],
                 inner_lr: float | Mapping[str, Tensor | float], inner_steps: int, outer_lr: float,
                 adapt_names: Iterable[str] | None = None,
                 episode_params: Callable[[Params, Episode], Params] | None = None,
                 vectorize: bool | None = None) -> tuple[float, dict[str, Tensor]]:
    """One Reptile outer step: θ ← θ + ε·(mean_i φ̃_i − θ), applied to `params` in place.

    Args:
        loss_fn: ``loss_fn(params, data) -> scalar``.
        params: θ, e.g. ``dict(model.named_parameters())``. This is the outer step:
            its tensors are updated in place (under `torch.no_grad`).
        episodes: the meta-batch; each adapts on its support set.
        inner_lr, inner_steps, adapt_names: as in `adapt` (the loop runs without graph).
        outer_lr: ε, the step towards the adapted weights (1 = jump to their mean).
        episode_params: builds each episode's θ_i (e.g. adds a fresh head, which
            is then dropped); defaults to ``loss_fn.episode_params``.
        vectorize: None (default) adapts all episodes at once when they stack
            (`metalearn_edu.meta.vectorized`), True insists, False runs the loop.

    Returns:
        ``(query_loss, delta)``: the mean query loss at the adapted weights (for
        logging; the update does not use it) and ``delta[n] = mean_i φ̃_i[n] − θ[n]``
        for every name of `params`, taken before the update.
    """
    if len(episodes) == 0:
        raise ValueError("episodes is empty; a meta-batch needs at least one episode")
    check_number("outer_lr", outer_lr, low=0.0, hint=" (ε, e.g. 0.1)")
    theta = {n: p.detach() for n, p in params.items()}
    stacked = stack_for(loss_fn, episodes, vectorize)
    if stacked is not None:
        query_loss, delta = reptile_step_batched(loss_fn, theta, stacked, inner_lr, inner_steps, adapt_names,
                                                 episode_params)
        with torch.no_grad():
            for n, p in params.items():
                p.add_(delta[n], alpha=outer_lr)
        return query_loss, delta
    delta = {n: torch.zeros_like(p) for n, p in theta.items()}
    query_loss = 0.0
    with torch.no_grad():
        for episode in episodes:
            start = prepare_episode(loss_fn, theta, episode, episode_params)
            trajectory = adapt(loss_fn, start, episode.support, inner_lr, inner_steps, first_order=True,
                               adapt_names=adapt_names, track_loss=False)
            adapted = trajectory.adapted
            value = check_loss(loss_fn(adapted, episode.query), inner_steps, inner_steps, initial_loss(trajectory),
                               inner_lr, which="query")
            for n in delta:
                delta[n] += (adapted[n] - theta[n]) / len(episodes)
            query_loss += value / len(episodes)
        for n, p in params.items():
            p.add_(delta[n], alpha=outer_lr)
    return query_loss, delta


def reptile_train(model: nn.Module, loss_fn: LossFn, episodes: EpisodeFn, steps: int | None = 1000,
                  meta_batch_size: int = 1, inner_lr: float = 0.02, inner_steps: int = 5, outer_lr: float = 0.1,
                  anneal: bool = True, adapt_names: Iterable[str] | None = None, seed: int = 0,
                  time_budget: float | None = None, progress: bool = False, first_index: int = 0,
                  log_every: int = 1, vectorize: bool | None = None, on_divergence: str = "raise") -> MetaHistory:
    """Meta-train `model` with Reptile (plain SGD steps towards the adapted weights).

    ε at step s is ``outer_lr · (1 − f)`` with f the fraction of the run done
    (the larger of s / steps and elapsed / time_budget) when `anneal`, as in
    Nichol et al.'s sine experiment; else constant. Episodes are indexed as in
    `meta_train`.

    Args:
        model: the network (updated in place).
        loss_fn: ``loss_fn(params, data)``.
        episodes: ``index -> Episode``.
        steps: the most outer steps (None: until the time budget is spent).
        meta_batch_size: tasks per outer step (1 in the sine experiment).
        inner_lr, inner_steps, adapt_names: the inner SGD loop on each support set.
        outer_lr: ε at the start.
        anneal: decay ε linearly to 0 over the run.
        seed: seeds torch's RNG for the run (dropout); restored afterwards.
        time_budget: stop after this many seconds.
        progress: show a tqdm progress bar.
        first_index: the first episode index used.
        log_every: record every this many steps.
        vectorize: as in `reptile_step`.
        on_divergence: "raise" (default) stops when an inner loop diverges; "skip" drops that
            outer step (θ unchanged) and lists it in ``history.skipped`` (`run_outer_loop`).

    Returns:
        A `MetaHistory`; ``meta_loss`` is the mean query loss at the adapted weights.
    """
    check_budget(steps, time_budget)
    check_int("meta_batch_size", meta_batch_size)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    history = MetaHistory("reptile", settings=dict(
        meta_batch_size=meta_batch_size, inner_lr=inner_lr, inner_steps=inner_steps, outer_lr=outer_lr,
        anneal=anneal, seed=seed, first_index=first_index, on_divergence=on_divergence))

    def step_fn(step: int, elapsed: float) -> float:
        done = max(step / steps if steps else 0.0, elapsed / time_budget if time_budget else 0.0)
        epsilon = outer_lr * max(0.0, 1.0 - done) if anneal else outer_lr  # ε annealed linearly to 0
        batch = meta_batch(episodes, first_index, step, meta_batch_size)
        loss, _ = reptile_step(loss_fn, params, batch, inner_lr, inner_steps, epsilon, adapt_names,
                               vectorize=vectorize)
        return loss

    return run_outer_loop(history, step_fn, steps, time_budget, seed, progress, log_every, on_divergence)
