"""Baselines that meta-learning must beat.

* **Fine-tuning** (`finetune`): the same inner loop from an ordinary initialisation
  (pretrained or multi-task trained) instead of a meta-learned one.
* **Multi-task pretraining** (`multitask_pretrain`): the "pretrained on all tasks"
  baseline of Finn et al. (2017): train one network by ordinary regression on
  data pooled from many tasks, then fine-tune it on each test task. On sinusoids
  it learns roughly the average sine wave (≈ 0, since phases cancel), which is why
  a few gradient steps from it barely help. It only makes sense for task families
  whose labels mean the same in every task (not for text episodes, whose labels
  are permuted per episode).
* **Prototypical networks** (`ProtoNet`, Snell et al. 2017): embed, average each
  class's support embeddings into a prototype c_k, classify a query f by
  softmax over −‖f − c_k‖². No inner loop at all: adaptation is computing means.

Example:
    >>> from metalearn_edu.episodes import SinusoidTasks
    >>> from metalearn_edu.meta.sinusoid import sinusoid_mlp
    >>> net, tasks = sinusoid_mlp(), SinusoidTasks(seed=0)
    >>> traj = finetune(functional_loss(net, "mse"), dict(net.named_parameters()), tasks.episode(0, 5), 0.01, 3)
    >>> len(traj.params), traj.adapted["0.weight"].requires_grad
    (4, False)
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..episodes import Episode
from ..model import BertEncoder
from .inner_loop import LossFn, Params, Trajectory, adapt, prepare_episode
from .losses import EncoderFeatures, call_with, functional_loss, prototypes, squared_distances  # noqa: F401
from .outer_loop import EpisodeFn, MetaHistory, check_budget, meta_batch, run_outer_loop


def finetune(loss_fn: LossFn, params: Params, episode: Episode, inner_lr: float | Mapping[str, Tensor | float],
             inner_steps: int, adapt_names: Iterable[str] | None = None,
             episode_params: Callable[[Params, Episode], Params] | None = None) -> Trajectory:
    """Plain fine-tuning on an episode's support set: `adapt` without any graph.

    Args:
        loss_fn: ``loss_fn(params, data)``.
        params: the initialisation (e.g. pretrained θ); not modified.
        episode: the task; its support set is used.
        inner_lr, inner_steps, adapt_names: as in `adapt`.
        episode_params: builds the episode's starting params (defaults to
            ``loss_fn.episode_params``, e.g. a fresh head).

    Returns:
        The `Trajectory` [θ, φ₁, …, φ_K] (detached tensors).
    """
    with torch.no_grad():
        start = prepare_episode(loss_fn, {n: p.detach() for n, p in params.items()}, episode, episode_params)
        return adapt(loss_fn, start, episode.support, inner_lr, inner_steps, adapt_names=adapt_names)


def _join(a: Any, b: Any) -> tuple[Tensor, ...]:
    """Concatenate a support and a query set (non-text data only)."""
    if (len(a) > 2 and a[2] is not None) or (len(b) > 2 and b[2] is not None):
        raise ValueError("multitask_pretrain pools support and query sets, which needs data without "
                         "attention masks (e.g. sinusoids)")
    return torch.cat([a[0], b[0]]), torch.cat([a[1], b[1]])


def multitask_pretrain(model: nn.Module, loss_fn: LossFn, episodes: EpisodeFn, steps: int | None = 1000,
                       tasks_per_step: int = 25, lr: float = 1e-3, seed: int = 0, time_budget: float | None = None,
                       progress: bool = False, first_index: int = 0, log_every: int = 1) -> MetaHistory:
    """The "pretrained on all tasks" baseline: ordinary training on data pooled across tasks.

    Each step draws `tasks_per_step` episodes (indexed as in `meta_train`),
    pools their support and query points, and takes one Adam step on the mean
    loss. There is no inner loop; test-time fine-tuning is `finetune`.

    Args:
        model: the network (updated in place).
        loss_fn: ``loss_fn(params, data)``.
        episodes: ``index -> Episode``.
        steps: the most steps (None: until the time budget is spent).
        tasks_per_step: tasks pooled per step.
        lr: Adam's learning rate.
        seed: seeds torch's RNG for the run; restored afterwards.
        time_budget: stop after this many seconds.
        progress: show a tqdm progress bar.
        first_index: the first episode index used.
        log_every: record every this many steps.

    Returns:
        A `MetaHistory` (``algorithm="multitask"``) of the training loss.
    """
    check_budget(steps, time_budget)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    history = MetaHistory("multitask", settings=dict(tasks_per_step=tasks_per_step, lr=lr, seed=seed,
                                                      first_index=first_index))

    def step_fn(step: int, elapsed: float) -> float:
        batch = meta_batch(episodes, first_index, step, tasks_per_step)
        x, y = zip(*(_join(ep.support, ep.query) for ep in batch))
        loss = loss_fn(params, (torch.cat(x), torch.cat(y)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    return run_outer_loop(history, step_fn, steps, time_budget, seed, progress, log_every)


# ---------------------------------------------------------------------------------------
# Prototypical networks
# ---------------------------------------------------------------------------------------
class ProtoNet:
    """A prototypical network over an encoder's pooled embeddings (Snell et al. 2017).

    logits_k(x) = −‖f_θ(x) − c_k‖²,  c_k = mean of f_θ over the support examples of class k.

    Args:
        model: a `BertEncoder` (features = `pool_features` of its last hidden
            states) or any module mapping x to (M, D) features.
        pooling: for a `BertEncoder`: ``"mean"``, ``"cls"`` or ``"mask"``.
        attention_impl: for a `BertEncoder`; ``"fused"`` is fine (no second order here).
        mask_token_id: the [MASK] id for ``pooling="mask"``.

    Example:
        >>> net = ProtoNet(nn.Identity())
        >>> ep = Episode(torch.tensor([[0.0], [10.0]]), torch.tensor([0, 1]),
        ...              torch.tensor([[1.0], [9.0]]), torch.tensor([0, 1]), classes=["a", "b"])
        >>> net.accuracy({}, ep)
        1.0
    """

    metric_name = "accuracy"

    def __init__(self, model: nn.Module, pooling: str = "mean", attention_impl: str = "fused",
                 mask_token_id: int | None = None):
        self.model, self.pooling = model, pooling
        self.attention_impl, self.mask_token_id = attention_impl, mask_token_id
        self._features = (EncoderFeatures(model, pooling, attention_impl, mask_token_id)
                          if isinstance(model, BertEncoder) else None)

    def features(self, params: Params, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(M, ...) inputs -> (M, D) embeddings (`EncoderFeatures` for a `BertEncoder`)."""
        if self._features is not None:
            return self._features(params, x, mask)
        return call_with(self.model, params, (x,))

    def logits(self, params: Params, episode: Episode) -> Tensor:
        """(N·Q, N) query logits: negative squared distances to the support prototypes."""
        n_way = episode.n_way or int(episode.support_y.max()) + 1
        c = prototypes(self.features(params, episode.support_x, episode.support_mask), episode.support_y, n_way)
        return -squared_distances(self.features(params, episode.query_x, episode.query_mask), c)

    def __call__(self, params: Params, episode: Episode) -> Tensor:
        """The query cross-entropy, the ProtoNet training loss."""
        return F.cross_entropy(self.logits(params, episode), episode.query_y)

    @torch.no_grad()
    def accuracy(self, params: Params, episode: Episode) -> float:
        """Query accuracy of the nearest-prototype classifier."""
        return float((self.logits(params, episode).argmax(-1) == episode.query_y).float().mean())


def protonet_train(model: nn.Module, protonet: ProtoNet, episodes: EpisodeFn, steps: int | None = 1000,
                   meta_batch_size: int = 4, lr: float = 1e-4, seed: int = 0, time_budget: float | None = None,
                   progress: bool = False, first_index: int = 0, log_every: int = 1) -> MetaHistory:
    """Train a prototypical network episodically with Adam (mean query loss over a meta-batch).

    Args:
        model: the embedding network (updated in place); ``protonet.model``.
        protonet: the `ProtoNet` wrapping it.
        episodes: ``index -> Episode`` (indexed as in `meta_train`).
        steps, meta_batch_size, lr, seed, time_budget, progress, first_index, log_every:
            as in `meta_train`.

    Returns:
        A `MetaHistory` (``algorithm="protonet"``) of the query loss.
    """
    check_budget(steps, time_budget)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.Adam(params.values(), lr=lr)
    history = MetaHistory("protonet", settings=dict(meta_batch_size=meta_batch_size, lr=lr, seed=seed,
                                                     pooling=protonet.pooling, first_index=first_index))

    def step_fn(step: int, elapsed: float) -> float:
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for episode in meta_batch(episodes, first_index, step, meta_batch_size):
            loss = protonet(params, episode) / meta_batch_size
            loss.backward()
            total += float(loss.detach())
        optimizer.step()
        return total

    return run_outer_loop(history, step_fn, steps, time_budget, seed, progress, log_every)
