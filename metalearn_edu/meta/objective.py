"""The meta-learning term of hybrid pretraining: MAML on self-supervised SMLMT tasks.

Bansal et al. (2020) pretrain with a mix of the two objectives,

    L(θ) = (1 − λ) · L_MLM(θ) + λ · (1/B) Σ_i L_query,i(φ_K,i(θ)),

where the second term is the MAML meta-loss over a meta-batch of B SMLMT
episodes (`metalearn_edu.episodes.SMLMTEpisodes`). `SMLMTObjective` computes
that term and its gradient with the library's one inner loop; the pretraining
loop (`metalearn_edu.pretrain.pretrain` with ``objective="smlmt"`` or
``"hybrid"``) adds the MLM term and takes the optimiser step, so checkpoints,
resume, history and the command line are the same as for MLM.

Outer step s uses episodes ``s·B … s·B + B − 1`` of the sampler, so a resumed run
sees exactly the episodes an uninterrupted one would.

Example:
    >>> from metalearn_edu.config import ModelConfig
    >>> from metalearn_edu.data import load_tokenizer
    >>> from metalearn_edu.episodes import SMLMTEpisodes
    >>> from metalearn_edu.model import BertEncoder
    >>> tok = load_tokenizer()
    >>> sents = [f"The {w} stood near item {i} today." for w in ("cat", "dog", "fox") for i in range(4)]
    >>> sampler = SMLMTEpisodes(sents, tok, n_way=2, k_shot=1, q_query=1, min_sentences=3)
    >>> model = BertEncoder(ModelConfig(vocab_size=len(tok), d_model=16, n_layers=2, n_heads=2, d_ff=32, max_len=48))
    >>> loss, tokens = SMLMTObjective(sampler, meta_batch_size=2).backward(model, step=0, weight=1.0)
    >>> model.blocks[1].ffn.up.weight.grad is not None, tokens > 0
    (True, True)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..episodes import SMLMTEpisodes
from .inner_loop import TextClassifierLoss, adapt, select_params


class SMLMTObjective:
    """The SMLMT meta-loss of one outer step, backpropagated into the model's ``.grad``.

    Args:
        sampler: meta-training episodes (e.g. ``text_task_suites(tok).smlmt_train``).
        meta_batch_size: B, episodes per outer step.
        inner_lr, inner_steps: α and K of the inner loop.
        first_order: first-order MAML (default; fast, fused attention) or full
            second-order MAML (explicit attention, slower).
        adapt: which parameters adapt: ``"all"``, ``"head"`` or ``"top{k}"`` (see `select_params`).
        head_init, pooling: the per-episode head, as in `TextClassifierLoss`.
    """

    def __init__(self, sampler: SMLMTEpisodes, meta_batch_size: int = 4, inner_lr: float = 0.05,
                 inner_steps: int = 3, first_order: bool = True, adapt: str = "top1", head_init: str = "proto",
                 pooling: str = "mean"):
        if not isinstance(sampler, SMLMTEpisodes):
            raise ValueError(f"sampler must be an SMLMTEpisodes, got {type(sampler).__name__}")
        if isinstance(meta_batch_size, bool) or not isinstance(meta_batch_size, int) or meta_batch_size < 1:
            raise ValueError(f"meta_batch_size={meta_batch_size!r} is not allowed; it must be a positive integer")
        if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 0:
            raise ValueError(f"inner_steps={inner_steps!r} is not allowed; it must be an integer ≥ 0")
        if not (isinstance(inner_lr, (int, float)) and math.isfinite(inner_lr) and inner_lr >= 0):
            raise ValueError(f"inner_lr={inner_lr!r} is not allowed; give a finite number ≥ 0 (e.g. 0.05)")
        self.sampler, self.meta_batch_size = sampler, meta_batch_size
        self.inner_lr, self.inner_steps, self.first_order = float(inner_lr), inner_steps, first_order
        self.adapt, self.head_init, self.pooling = adapt, head_init, pooling

    def settings(self) -> dict[str, Any]:
        """The hyper-parameters, for a run's record."""
        return dict(n_way=self.sampler.n_way, k_shot=self.sampler.k_shot, q_query=self.sampler.q_query,
                    meta_batch_size=self.meta_batch_size, inner_lr=self.inner_lr, inner_steps=self.inner_steps,
                    first_order=self.first_order, adapt=self.adapt, head_init=self.head_init, pooling=self.pooling)

    def backward(self, model: nn.Module, step: int, weight: float = 1.0) -> tuple[float, int]:
        """Accumulate ``weight`` × the meta-gradient of outer step `step` into ``model``'s ``.grad``.

        Gradients are taken one episode at a time (only one episode's graph is alive).

        Returns:
            ``(meta_loss, tokens)``: the mean query loss after adaptation and the
            number of real (non-padding) tokens in the episodes' support and query sets.
        """
        loss_fn = TextClassifierLoss(model, pooling=self.pooling, head_init=self.head_init,
                                     attention_impl="fused" if self.first_order else "explicit",
                                     mask_token_id=self.sampler.tokenizer.mask_token_id)
        params = dict(model.named_parameters())
        names = select_params(model, self.adapt)
        device = next(model.parameters()).device
        total, tokens = 0.0, 0
        for b in range(self.meta_batch_size):
            episode = self.sampler.episode(step * self.meta_batch_size + b).to(device)
            theta = loss_fn.episode_params(params, episode)
            trajectory = adapt(loss_fn, theta, episode.support, self.inner_lr, self.inner_steps,
                               self.first_order, names, track_loss=False)
            query_loss = loss_fn(trajectory.adapted, episode.query) / self.meta_batch_size
            (query_loss * weight).backward()
            total += float(query_loss.detach())
            tokens += int(episode.support_mask.sum()) + int(episode.query_mask.sum())
        return total, tokens
