"""Black-box meta-learning: networks that read the support set as input and predict the query.

MAML adapts weights (φ = θ − α∇L_support(θ)); ProtoNet compares a query with class means; a
black-box learner is one function ŷ = f_θ(D_support, x) whose forward pass *is* the
adaptation (Santoro et al. 2016; Mishra et al. 2018; Garg et al. 2022). Meta-training is
ordinary supervised training over tasks: the outer loop is gradient descent on θ, the inner
loop is the forward pass.

The learners here are **set encoders** built from the course's own Transformer blocks
(`metalearn_edu.model.TransformerBlock`): every support example is one token, every query is one
token, and each block's keys and values come from the support tokens only. So

* support tokens attend to each other (the network "reads the task");
* each query attends to the support set and never to the other queries, so its prediction does
  not depend on which other queries were asked;
* there are no positions: permuting the support examples leaves every prediction unchanged.

`InContextRegressor` reads (x, y) pairs (sinusoids); `InContextClassifier` reads feature
vectors with label embeddings (few-shot text over a frozen encoder's features).

The module also holds the mechanism chapter: `AttentionOnlyLM`, a tiny causal attention-only
Transformer, trained on `repeated_segments` to form an induction head (Olsson et al. 2022), and
`head_scores`, the per-head attention mass on the token that followed the previous occurrence.

Shape letters: B tasks (or sequences), K support examples, M queries, D d_model, F feature width,
N classes, H heads, T sequence length.

Example:
    >>> from metalearn_edu.episodes import SinusoidTasks
    >>> model = InContextRegressor(InContextConfig(d_model=32, n_layers=1, n_heads=2, d_ff=64))
    >>> ep = SinusoidTasks(seed=0).episode(0, k_shot=5, k_query=7)
    >>> model(ep.support_x, ep.support_y, ep.query_x).shape
    torch.Size([7, 1])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checkpoint import load_checkpoint, save_checkpoint
from ..checks import check_int
from ..config import ModelConfig
from ..episodes import Episode, SinusoidTasks
from ..model import MultiHeadSelfAttention, TransformerBlock, causal_mask
from ..runtime import clock
from .losses import pool_features
from .outer_loop import MetaHistory, check_budget, run_outer_loop


# ---------------------------------------------------------------------------------------
# The set encoder
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InContextConfig:
    """Sizes of an in-context learner's set encoder."""

    d_model: int = 64  # width of every token
    n_layers: int = 3  # Transformer blocks
    n_heads: int = 4  # attention heads per block; must divide d_model
    d_ff: int = 128  # feed-forward width

    def __post_init__(self) -> None:
        self.block_config()  # validates the sizes (names the parameter on error)

    def block_config(self) -> ModelConfig:
        """The `ModelConfig` of the blocks: pre-LN, no dropout (vocab and positions unused)."""
        return ModelConfig(vocab_size=1, d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
                           d_ff=self.d_ff, max_len=1, dropout=0.0, attn_dropout=0.0, pre_ln=True,
                           layer_norm_eps=1e-5)


class SetEncoder(nn.Module):
    """Blocks whose keys and values are the support tokens only.

    h_support ← Block(h_support attends to h_support);  h_query ← Block(h_query attends to h_support),
    both with the same weights, computed in one call of the block (``x_q`` = all tokens, ``x`` = the
    support tokens).
    """

    def __init__(self, cfg: InContextConfig):
        super().__init__()
        block_cfg = cfg.block_config()
        self.blocks = nn.ModuleList(TransformerBlock(block_cfg) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(cfg.d_model, eps=block_cfg.layer_norm_eps)

    def forward(self, support: Tensor, query: Tensor, support_mask: Tensor | None = None,
                return_attention: bool = False) -> tuple[Tensor, list[Tensor]]:
        """Encode the queries in the context of the support set.

        Args:
            support: (B, K, D) support tokens.
            query: (B, M, D) query tokens.
            support_mask: (B, K) bool, True for real support tokens (None: all real).
            return_attention: also return each block's (B, H, K + M, K) attention weights.

        Returns:
            The (B, M, D) query states after the final norm, and the attention weights (empty list
            unless asked).
        """
        K = support.shape[1]
        x = torch.cat([support, query], dim=1)  # (B, K + M, D)
        attentions = []
        for block in self.blocks:
            x, weights = block(x[:, :K], support_mask, "explicit" if return_attention else "fused",
                               return_attention, x_q=x)  # (B, K + M, D): every token reads the support set
            if return_attention:
                attentions.append(weights)
        return self.final_norm(x[:, K:]), attentions


def _batched(name: str, t: Tensor, dims: int) -> tuple[Tensor, bool]:
    """Add a leading task dimension to an unbatched tensor; check the number of dimensions."""
    if not isinstance(t, Tensor):
        raise ValueError(f"{name} must be a tensor; got {type(t).__name__}")
    if t.dim() == dims - 1:
        return t.unsqueeze(0), True
    if t.dim() != dims:
        raise ValueError(f"{name} has shape {tuple(t.shape)}; expected {dims - 1} or {dims} dimensions "
                         f"(with a leading task dimension)")
    return t, False


# ---------------------------------------------------------------------------------------
# Regression in context (sinusoids)
# ---------------------------------------------------------------------------------------
def context_tokens(support_x: Tensor, support_y: Tensor, query_x: Tensor, x_scale: float = 5.0,
                   y_scale: float = 5.0) -> tuple[Tensor, Tensor]:
    """The regressor's input rows: [x/s_x, y/s_y, 1] per support pair, [x/s_x, 0, 0] per query.

    The third entry says "this token carries a label"; without it a query at x would look like a
    support point at x whose y happens to be 0.

    Shapes:
        support_x, support_y: (..., K, 1); query_x: (..., M, 1) -> (..., K, 3) and (..., M, 3).
    """
    sx, sy = support_x / x_scale, support_y / y_scale
    support = torch.cat([sx, sy, torch.ones_like(sx)], dim=-1)  # (..., K, 3)
    qx = query_x / x_scale
    query = torch.cat([qx, torch.zeros_like(qx), torch.zeros_like(qx)], dim=-1)  # (..., M, 3)
    return support, query


class InContextRegressor(nn.Module):
    """ŷ_query = f_θ({(x_i, y_i)}_{i≤K}, x_query) for one-dimensional regression.

    Each support pair becomes the token e([x/s_x, y/s_y, 1]), each query the token e([x/s_x, 0, 0])
    (the last entry says "this token carries a label"), with e a small MLP; a `SetEncoder` mixes
    them; a linear read-out of each query state, times s_y, is its prediction. The scales s_x, s_y
    (5 and 5: the training range of x and of the amplitude) only put the inputs near unit size;
    they are fixed, not fitted to a task.

    Args:
        cfg: the set encoder's sizes.
        x_scale, y_scale: s_x and s_y.
        max_support: the largest K accepted (a guard against passing the queries as support).

    Shapes:
        support_x, support_y: (B, K, 1) or (K, 1); query_x: (B, M, 1) or (M, 1); result like query_x.
    """

    def __init__(self, cfg: InContextConfig = InContextConfig(), x_scale: float = 5.0, y_scale: float = 5.0,
                 max_support: int = 1000):
        super().__init__()
        self.cfg, self.x_scale, self.y_scale, self.max_support = cfg, float(x_scale), float(y_scale), max_support
        self.embed = nn.Sequential(nn.Linear(3, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model))
        self.encoder = SetEncoder(cfg)
        self.readout = nn.Linear(cfg.d_model, 1)

    def tokens(self, support_x: Tensor, support_y: Tensor, query_x: Tensor) -> tuple[Tensor, Tensor]:
        """The (B, K, 3) support and (B, M, 3) query inputs of the embedding (`context_tokens`)."""
        return context_tokens(support_x, support_y, query_x, self.x_scale, self.y_scale)

    def forward(self, support_x: Tensor, support_y: Tensor, query_x: Tensor,
                return_attention: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Predict the queries' y from the support pairs (see the class docstring for shapes)."""
        support_x, unbatched = _batched("support_x", support_x, 3)
        support_y, _ = _batched("support_y", support_y, 3)
        query_x, _ = _batched("query_x", query_x, 3)
        B, K, one = support_x.shape
        if one != 1 or tuple(support_y.shape) != (B, K, 1):
            raise ValueError(f"support_x and support_y must both have shape (B, K, 1); got {tuple(support_x.shape)} "
                             f"and {tuple(support_y.shape)}")
        if query_x.shape[0] != B or query_x.shape[2] != 1 or query_x.shape[1] < 1:
            raise ValueError(f"query_x has shape {tuple(query_x.shape)}; expected ({B}, M, 1) with M ≥ 1")
        if not 1 <= K <= self.max_support:
            raise ValueError(f"the support set has K={K} points; allowed: 1 ≤ K ≤ max_support={self.max_support}")
        support, query = self.tokens(support_x, support_y, query_x)
        h, attentions = self.encoder(self.embed(support), self.embed(query), return_attention=return_attention)
        y = self.readout(h) * self.y_scale  # (B, M, 1)
        y = y[0] if unbatched else y
        return (y, attentions) if return_attention else y

    def predict(self, episode: Episode, x: Tensor | None = None) -> Tensor:
        """The (M, 1) predictions at `x` (default: the episode's query points), without a graph."""
        with torch.no_grad():
            return self(episode.support_x, episode.support_y, episode.query_x if x is None else x)


def regression_mse(model: InContextRegressor, episodes: Sequence[Episode], chunk_size: int = 100) -> list[float]:
    """Per-episode query MSE of an in-context regressor (episodes with equal sizes run as one batch).

    Returns:
        One float per episode, in order.
    """
    out: list[float] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for first in range(0, len(episodes), chunk_size):
                chunk = episodes[first:first + chunk_size]
                shapes = {(e.support_x.shape, e.query_x.shape) for e in chunk}
                if len(shapes) == 1:
                    pred = model(torch.stack([e.support_x for e in chunk]), torch.stack([e.support_y for e in chunk]),
                                 torch.stack([e.query_x for e in chunk]))  # (C, M, 1)
                    target = torch.stack([e.query_y for e in chunk])
                    out += ((pred - target) ** 2).mean(dim=(1, 2)).tolist()
                else:
                    out += [float(((model.predict(e) - e.query_y) ** 2).mean()) for e in chunk]
    finally:
        model.train(was_training)
    return out


def train_in_context_regressor(model: InContextRegressor, tasks: SinusoidTasks, steps: int | None = 2000,
                               time_budget: float | None = None, batch_size: int = 64,
                               k_range: tuple[int, int] = (1, 20), k_query: int = 20, lr: float = 1e-3,
                               seed: int = 0, progress: bool = False, log_every: int = 50) -> MetaHistory:
    """Meta-train an in-context regressor: Adam on the query MSE over meta-batches of tasks.

    Step s uses tasks ``s·B … s·B + B − 1`` of `tasks`, all with the same support size K, drawn
    uniformly from `k_range` (inclusive) at every step, so one network serves every K in the range.
    The learning rate decays with a cosine schedule to 10% over `steps` (constant with a time budget
    only).

    Args:
        model: trained in place.
        tasks: the task distribution (its seed fixes the stream of training tasks).
        steps, time_budget: stop after this many steps or CPU/wall seconds (`metalearn_edu.runtime.clock`).
        batch_size: tasks per step.
        k_range: (K_min, K_max) support sizes seen in training.
        k_query: query points per task.
        lr: Adam's learning rate.
        seed: seeds the choice of K and torch's RNG.

    Returns:
        A `MetaHistory` (algorithm ``"in-context"``) of the mean query MSE.
    """
    check_budget(steps, time_budget)
    k_lo, k_hi = k_range
    check_int("k_range[0]", k_lo)
    check_int("k_range[1]", k_hi, minimum=k_lo, hint=f" (at least k_range[0]={k_lo})")
    check_int("batch_size", batch_size)
    check_int("k_query", k_query)
    history = MetaHistory("in-context", settings={"batch_size": batch_size, "k_range": [k_lo, k_hi],
                                                  "k_query": k_query, "lr": lr, "seed": seed,
                                                  "config": asdict(model.cfg)})
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = None
    if steps is not None:
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    shots = torch.Generator().manual_seed(seed)
    model.train()

    def step_fn(step: int, _elapsed: float) -> float:
        k = int(torch.randint(k_lo, k_hi + 1, (1,), generator=shots))
        batch = tasks.batch(step * batch_size, batch_size, k_shot=k, k_query=k_query, stacked=True).stacked
        loss = F.mse_loss(model(batch.support_x, batch.support_y, batch.query_x), batch.query_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()
        return loss.item()

    run_outer_loop(history, step_fn, steps, time_budget, seed, progress, log_every)
    model.eval()
    return history


# ---------------------------------------------------------------------------------------
# Classification in context (few-shot text over frozen features)
# ---------------------------------------------------------------------------------------
class InContextClassifier(nn.Module):
    """logits(x_query) = f_θ({(h_i, e_{y_i})}, h_query): N-way classification by reading labelled examples.

    A support token is W·LN(h_i) + e_{y_i}, with h_i an example's feature vector (e.g. a frozen
    encoder's pooled output) and e_c a learned embedding of label c; a query token is W·LN(h) +
    e_?, a "no label" embedding. After the `SetEncoder`, a linear read-out gives N logits. Labels
    are arbitrary per episode (train with `permute_labels`), so the only way to know which logit is
    which class is to read the support set.

    Args:
        d_feature: F, the width of the feature vectors.
        n_labels: the largest N the read-out serves (episodes may use fewer classes).
        cfg: the set encoder's sizes.

    Shapes:
        support_f (B, K, F) or (K, F); support_y (B, K) or (K,) int64 in 0..N−1; query_f (B, M, F)
        or (M, F); logits (B, M, N) or (M, N), N = `n_way` (default `n_labels`).
    """

    def __init__(self, d_feature: int, n_labels: int = 5, cfg: InContextConfig = InContextConfig()):
        super().__init__()
        check_int("d_feature", d_feature)
        check_int("n_labels", n_labels, minimum=2, hint="; classification needs at least two labels")
        self.cfg, self.d_feature, self.n_labels = cfg, d_feature, n_labels
        self.feature_norm = nn.LayerNorm(d_feature)
        self.feature_proj = nn.Linear(d_feature, cfg.d_model)
        self.label_emb = nn.Embedding(n_labels + 1, cfg.d_model)  # row n_labels: "no label" (queries)
        self.encoder = SetEncoder(cfg)
        self.readout = nn.Linear(cfg.d_model, n_labels)

    def forward(self, support_f: Tensor, support_y: Tensor, query_f: Tensor, n_way: int | None = None,
                return_attention: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Query logits over the first `n_way` labels (see the class docstring for shapes)."""
        support_f, unbatched = _batched("support_f", support_f, 3)
        support_y, _ = _batched("support_y", support_y, 2)
        query_f, _ = _batched("query_f", query_f, 3)
        n_way = self.n_labels if n_way is None else n_way
        if isinstance(n_way, bool) or not isinstance(n_way, int) or not 2 <= n_way <= self.n_labels:
            raise ValueError(f"n_way={n_way!r} is not allowed; this classifier serves 2 ≤ n_way ≤ {self.n_labels}")
        B, K, Fdim = support_f.shape
        if Fdim != self.d_feature or query_f.shape[-1] != self.d_feature:
            raise ValueError(f"features must have width d_feature={self.d_feature}; got support {Fdim}, "
                             f"query {query_f.shape[-1]}")
        if tuple(support_y.shape) != (B, K) or query_f.shape[0] != B:
            raise ValueError(f"support_y has shape {tuple(support_y.shape)} and query_f {tuple(query_f.shape)}; "
                             f"expected ({B}, {K}) and ({B}, M, {self.d_feature})")
        if K < 1:
            raise ValueError("the support set is empty; give at least one labelled example (K ≥ 1)")
        if support_y.numel() and (int(support_y.min()) < 0 or int(support_y.max()) >= n_way):
            raise ValueError(f"support_y holds labels {int(support_y.min())}..{int(support_y.max())}; "
                             f"allowed: 0..n_way−1 = 0..{n_way - 1}")
        support = self.feature_proj(self.feature_norm(support_f)) + self.label_emb(support_y)  # (B, K, D)
        query = self.feature_proj(self.feature_norm(query_f)) + self.label_emb.weight[self.n_labels]  # (B, M, D)
        h, attentions = self.encoder(support, query, return_attention=return_attention)
        logits = self.readout(h)[..., :n_way]  # (B, M, N)
        logits = logits[0] if unbatched else logits
        return (logits, attentions) if return_attention else logits


def permute_labels(support_y: Tensor, query_y: Tensor, n_way: int,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Rename the classes of each task by a fresh random permutation of 0..N−1 (same for support and query).

    Shapes:
        support_y (B, K), query_y (B, M) int64 -> the same shapes.
    """
    perm = torch.argsort(torch.rand(support_y.shape[0], n_way, generator=generator), dim=1)  # (B, N)
    return perm.gather(1, support_y), perm.gather(1, query_y)


@dataclass
class FeatureEpisodes:
    """A pool of N-way episodes as pooled features: every class with its examples, support and query together.

    Attributes:
        features: (E, N, P, F): episode, class, example (K + Q of them), feature.
    """

    features: Tensor

    @property
    def n_way(self) -> int:
        return self.features.shape[1]

    def sample(self, episodes: Tensor, k_shot: int, q_query: int,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Re-split episodes `episodes` (B indices) into K support and Q query examples per class at random.

        Returns:
            support_f (B, N·K, F), support_y (B, N·K), query_f (B, N·Q, F), query_y (B, N·Q); labels in
            class order (permute them with `permute_labels`).
        """
        E, N, P, Fdim = self.features.shape
        check_int("k_shot", k_shot)
        check_int("q_query", q_query)
        if k_shot + q_query > P:
            raise ValueError(f"k_shot + q_query = {k_shot + q_query} but the pool has {P} examples per class")
        B = episodes.shape[0]
        order = torch.argsort(torch.rand(B, N, P, generator=generator), dim=2)  # (B, N, P)
        feats = self.features[episodes]  # (B, N, P, F)
        picked = feats.gather(2, order[..., None].expand(-1, -1, -1, Fdim))
        labels = torch.arange(N)[None, :, None]  # (1, N, 1)
        support = picked[:, :, :k_shot].reshape(B, N * k_shot, Fdim)
        query = picked[:, :, k_shot:k_shot + q_query].reshape(B, N * q_query, Fdim)
        return (support, labels.expand(B, N, k_shot).reshape(B, -1), query,
                labels.expand(B, N, q_query).reshape(B, -1))


def train_in_context_classifier(model: InContextClassifier, pool: FeatureEpisodes, steps: int | None = 2000,
                                time_budget: float | None = None, batch_size: int = 32,
                                k_range: tuple[int, int] = (1, 5), q_query: int = 5, lr: float = 1e-3,
                                seed: int = 0, progress: bool = False, log_every: int = 50) -> MetaHistory:
    """Meta-train an in-context classifier on a pool of feature episodes (cross-entropy on the queries).

    Every step draws `batch_size` episodes of the pool, a K from `k_range` (inclusive), re-splits each
    episode's examples into K support and `q_query` query examples per class, and renames the classes
    by a fresh permutation (`permute_labels`).

    Returns:
        A `MetaHistory` (algorithm ``"in-context"``) of the query cross-entropy.
    """
    check_budget(steps, time_budget)
    k_lo, k_hi = k_range
    check_int("k_range[0]", k_lo)
    check_int("k_range[1]", k_hi, minimum=k_lo, hint=f" (at least k_range[0]={k_lo})")
    history = MetaHistory("in-context", settings={"batch_size": batch_size, "k_range": [k_lo, k_hi],
                                                  "q_query": q_query, "lr": lr, "seed": seed,
                                                  "config": asdict(model.cfg)})
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    n_pool, n_way = pool.features.shape[0], pool.n_way
    model.train()

    def step_fn(step: int, _elapsed: float) -> float:
        k = int(torch.randint(k_lo, k_hi + 1, (1,), generator=g))
        episodes = torch.randint(0, n_pool, (batch_size,), generator=g)
        sf, sy, qf, qy = pool.sample(episodes, k, q_query, g)
        sy, qy = permute_labels(sy, qy, n_way, g)
        logits = model(sf, sy, qf, n_way=n_way)  # (B, N·Q, N)
        loss = F.cross_entropy(logits.reshape(-1, n_way), qy.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    run_outer_loop(history, step_fn, steps, time_budget, seed, progress, log_every)
    model.eval()
    return history


def encoder_features(encoder: Any, ids: Tensor, mask: Tensor | None, batch_size: int = 256) -> Tensor:
    """Frozen features: the mean of a `BertEncoder`'s last hidden states over real tokens (as ProtoNet's).

    Shapes:
        ids, mask: (M, T) -> (M, D).
    """
    out = []
    with torch.no_grad():
        for first in range(0, ids.shape[0], batch_size):
            i = ids[first:first + batch_size]
            m = None if mask is None else mask[first:first + batch_size]
            hidden = encoder(i, attention_mask=m).hidden_states  # (b, T, D)
            out.append(pool_features(hidden, i, m, "mean"))
    return torch.cat(out)


def feature_episode(encoder: Any, episode: Episode) -> Episode:
    """The episode with its texts replaced by frozen features: support_x (K, D), query_x (M, D)."""
    n_support = episode.support_x.shape[0]
    ids, mask = _cat_padded(episode.support_x, episode.query_x, episode.support_mask, episode.query_mask)
    feats = encoder_features(encoder, ids, mask)
    return Episode(feats[:n_support], episode.support_y, feats[n_support:], episode.query_y,
                   classes=list(episode.classes), info=dict(episode.info))


def _cat_padded(a: Tensor, b: Tensor, mask_a: Tensor | None, mask_b: Tensor | None) -> tuple[Tensor, Tensor]:
    """Stack two (M, T) id tensors of possibly different T, right-padding with 0 (mask 0)."""
    T = max(a.shape[1], b.shape[1])
    mask_a = torch.ones_like(a) if mask_a is None else mask_a
    mask_b = torch.ones_like(b) if mask_b is None else mask_b
    pad = lambda t: F.pad(t, (0, T - t.shape[1]))  # noqa: E731
    return torch.cat([pad(a), pad(b)]), torch.cat([pad(mask_a), pad(mask_b)])


def classification_accuracy(model: InContextClassifier, episodes: Sequence[Episode]) -> list[float]:
    """Per-episode query accuracy; each episode's ``support_x``/``query_x`` hold (K, F)/(M, F) features.

    N is the number of the episode's class names, or (without names) the largest label + 1.
    """
    out = []
    with torch.no_grad():
        for ep in episodes:
            n_way = ep.n_way or int(torch.cat([ep.support_y, ep.query_y]).max()) + 1  # classes named, or labels seen
            logits = model(ep.support_x, ep.support_y, ep.query_x, n_way=n_way)
            out.append(float((logits.argmax(-1) == ep.query_y).float().mean()))
    return out


# ---------------------------------------------------------------------------------------
# Saving and loading
# ---------------------------------------------------------------------------------------
def save_in_context_model(model: InContextRegressor | InContextClassifier, path: str | Path,
                          half: bool = True, **extra: Any) -> Path:
    """Write a learner with its sizes (weights in fp16 when `half`: a few hundred kB become half that)."""
    state = {n: (t.half() if half and t.is_floating_point() else t) for n, t in model.state_dict().items()}
    if isinstance(model, InContextRegressor):
        kind, kwargs = "regressor", {"x_scale": model.x_scale, "y_scale": model.y_scale}
    else:
        kind, kwargs = "classifier", {"d_feature": model.d_feature, "n_labels": model.n_labels}
    return save_checkpoint(path, {"model": state, "config": {"kind": kind, "sizes": asdict(model.cfg), **kwargs},
                                  "extra": dict(extra)})


def load_in_context_model(path: str | Path) -> InContextRegressor | InContextClassifier:
    """A learner written by `save_in_context_model`, in fp32 and eval mode."""
    state = load_checkpoint(path)
    config = dict(state["config"])
    kind, cfg = config.pop("kind"), InContextConfig(**config.pop("sizes"))
    model = InContextRegressor(cfg, **config) if kind == "regressor" else InContextClassifier(cfg=cfg, **config)
    model.load_state_dict({n: t.float() if t.is_floating_point() else t for n, t in state["model"].items()})
    return model.eval()


# ---------------------------------------------------------------------------------------
# The mechanism: induction heads in an attention-only Transformer (Olsson et al. 2022)
# ---------------------------------------------------------------------------------------
class AttentionOnlyLM(nn.Module):
    """A causal language model of attention layers only: x ← x + Attn_l(x), no MLPs, no LayerNorm.

    logits = (E[tokens] + P[positions] + Σ_l Attn_l) W_U, each attention layer the course's
    `MultiHeadSelfAttention` under a causal mask. Two layers can form an induction head: a
    layer-0 head copies "the previous token was A" into each position, and a layer-1 head whose
    query is the current token A looks for positions whose previous token was A (K-composition),
    then copies the token found there.

    Shapes:
        input_ids (B, T) -> logits (B, T, V); attentions: n_layers × (B, H, T, T).
    """

    def __init__(self, vocab_size: int = 64, d_model: int = 64, n_layers: int = 2, n_heads: int = 4,
                 max_len: int = 64):
        super().__init__()
        self.cfg = ModelConfig(vocab_size=vocab_size, d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                               d_ff=1, max_len=max_len, dropout=0.0, attn_dropout=0.0)
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(max_len, d_model)
        self.layers = nn.ModuleList(MultiHeadSelfAttention(self.cfg) for _ in range(n_layers))
        self.unembed = nn.Linear(d_model, vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, input_ids: Tensor, return_attention: bool = False) -> Tensor | tuple[Tensor, list[Tensor]]:
        if input_ids.dim() != 2 or input_ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"input_ids must be a (batch, seq_len) tensor of token ids; got {tuple(input_ids.shape)} "
                             f"{input_ids.dtype}")
        B, T = input_ids.shape
        if not 1 <= T <= self.cfg.max_len:
            raise ValueError(f"input_ids has seq_len={T}; allowed: 1 ≤ seq_len ≤ max_len={self.cfg.max_len}")
        x = self.tok_emb(input_ids) + self.pos_emb(torch.arange(T, device=input_ids.device))  # (B, T, D)
        mask = causal_mask(B, T, input_ids.device)  # (B, T, T)
        attentions = []
        for layer in self.layers:
            a, weights = layer(x, key_mask=mask, impl="explicit" if return_attention else "fused",
                               return_attention=return_attention)
            x = x + a
            if return_attention:
                attentions.append(weights)
        logits = self.unembed(x)
        return (logits, attentions) if return_attention else logits


def repeated_segments(batch: int, seq_len: int, vocab_size: int, segment_range: tuple[int, int],
                      generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Sequences that repeat a random segment: s₁…s_L s₁…s_L s₁… up to `seq_len` tokens.

    The segment length L varies per sequence (uniform in `segment_range`, inclusive), so "copy the
    token L positions back" is not a fixed positional rule: a model that predicts the repeats must
    find the previous occurrence of the current token and read what followed it.

    Returns:
        ids (B, T) int64 and lengths (B,) int64, the L of each sequence.
    """
    lo, hi = segment_range
    check_int("segment_range[0]", lo, minimum=2)
    check_int("segment_range[1]", hi, minimum=lo, hint=f" (at least segment_range[0]={lo})")
    if hi > seq_len // 2:
        raise ValueError(f"segment_range[1]={hi} is too long for seq_len={seq_len}: a segment must fit twice "
                         f"(≤ {seq_len // 2})")
    lengths = torch.randint(lo, hi + 1, (batch,), generator=generator)  # (B,)
    # Distinct tokens inside a segment (first hi of a random permutation), so "the previous occurrence" is unique.
    segments = torch.argsort(torch.rand(batch, vocab_size, generator=generator), dim=1)[:, :hi]  # (B, hi)
    positions = torch.arange(seq_len)[None, :] % lengths[:, None]  # (B, T): t mod L
    return segments.gather(1, positions), lengths


def head_scores(attentions: Sequence[Tensor], lengths: Tensor, offset: int) -> Tensor:
    """Mean attention from each token of a repeat to the key at ``t − L + offset``, per layer and head.

    ``offset=1`` is the **induction** score (the token *after* the previous occurrence of the current
    token, L positions back); ``offset=0`` the duplicate-token score. The mean runs over the
    positions t ≥ L (tokens that have a previous occurrence).

    Args:
        attentions: n_layers tensors (B, H, T, T).
        lengths: (B,) the segment length L of each sequence.

    Returns:
        (n_layers, H) scores in [0, 1].
    """
    B, H, T, _ = attentions[0].shape
    t = torch.arange(T)
    key = t[None, :] - lengths[:, None] + offset  # (B, T)
    valid = (t[None, :] >= lengths[:, None]) & (key >= 0) & (key <= t[None, :])  # (B, T)
    key = key.clamp(0, T - 1)
    scores = []
    for a in attentions:
        picked = a.gather(3, key[:, None, :, None].expand(B, H, T, 1)).squeeze(3)  # (B, H, T)
        scores.append((picked * valid[:, None]).sum(dim=(0, 2)) / valid.sum())
    return torch.stack(scores)


def previous_token_scores(attentions: Sequence[Tensor]) -> Tensor:
    """Mean attention from each position t ≥ 1 to t − 1, per layer and head: (n_layers, H)."""
    return torch.stack([a.diagonal(offset=-1, dim1=2, dim2=3).mean(dim=(0, 2)) for a in attentions])


def train_induction_model(model: AttentionOnlyLM, steps: int = 800, batch_size: int = 32, seq_len: int = 48,
                          segment_range: tuple[int, int] = (6, 24), lr: float = 1e-2, seed: int = 0,
                          eval_every: int = 25, progress: bool = False,
                          on_eval: Callable[[int, dict[str, float]], None] | None = None) -> dict[str, list[float]]:
    """Next-token training on `repeated_segments`; records the loss on the repeats and the best induction score.

    Returns:
        ``{"step", "loss", "repeat_loss", "induction", "seconds"}`` lists: the training loss, the loss on
        held-out sequences at positions t ≥ L (what an induction head makes predictable), and the
        largest per-head induction score on them, every `eval_every` steps.
    """
    check_int("steps", steps)
    g = torch.Generator().manual_seed(seed)
    held_out, held_lengths = repeated_segments(64, seq_len, model.cfg.vocab_size, segment_range,
                                               torch.Generator().manual_seed(seed + 10_000))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"step": [], "loss": [], "repeat_loss": [], "induction": [], "seconds": []}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="induction")
    start = clock()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(1, steps + 1):
            ids, _ = repeated_segments(batch_size, seq_len, model.cfg.vocab_size, segment_range, g)
            logits = model(ids[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if bar is not None:
                bar.update(1)
            if step % eval_every == 0 or step == steps:
                repeat_loss, induction = evaluate_induction(model, held_out, held_lengths)
                for key, value in (("step", step), ("loss", loss.item()), ("repeat_loss", repeat_loss),
                                   ("induction", float(induction.max())), ("seconds", clock() - start)):
                    history[key].append(value)
                if on_eval is not None:
                    on_eval(step, {k: v[-1] for k, v in history.items()})
    if bar is not None:
        bar.close()
    model.eval()
    return history


def evaluate_induction(model: AttentionOnlyLM, ids: Tensor, lengths: Tensor) -> tuple[float, Tensor]:
    """The next-token loss at repeated positions (t ≥ L) and the (n_layers, H) induction scores."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits, attentions = model(ids[:, :-1], return_attention=True)
        losses = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")  # (B, T−1)
        target_pos = torch.arange(1, ids.shape[1])[None, :]  # position of the predicted token
        repeats = target_pos >= lengths[:, None]
        repeat_loss = float(losses[repeats].mean())
        scores = head_scores(attentions, lengths, offset=1)
    model.train(was_training)
    return repeat_loss, scores
