"""The meta-learning term of hybrid pretraining: MAML on self-supervised SMLMT tasks.

Bansal et al. (2020) meta-train a pretrained BERT on SMLMT tasks (and, in their Hybrid-SMLMT, on
SMLMT tasks mixed with *supervised* tasks). This course also mixes the meta-loss with the MLM loss,

    L(θ) = (1 − λ) · L_MLM(θ) + λ · (1/B) Σ_i L_query,i(φ_K,i(θ)),

an MLM-regularised variant of our own (not Bansal et al.'s), where the second term is the MAML
meta-loss over a meta-batch of B SMLMT episodes (`metalearn_edu.episodes.SMLMTEpisodes`). `SMLMTObjective` computes
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

from torch import nn

from ..episodes import SMLMTEpisodes
from .baselines import ProtoNet
from .inner_loop import select_params
from .losses import TextClassifierLoss
from .maml import maml_step


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
        learner: ``"maml"`` (default: the MAML meta-loss above) or ``"protonet"``: the
            prototypical-network query loss on the same episodes, −log softmax(−‖f(x) − c_k‖²)
            (no inner loop; `inner_lr`, `inner_steps`, `first_order`, `adapt` and `head_init`
            are then unused).
    """

    LEARNERS = ("maml", "protonet")

    def __init__(self, sampler: SMLMTEpisodes, meta_batch_size: int = 4, inner_lr: float = 0.05,
                 inner_steps: int = 3, first_order: bool = True, adapt: str = "top1", head_init: str = "proto",
                 pooling: str = "mean", learner: str = "maml"):
        if not isinstance(sampler, SMLMTEpisodes):
            raise ValueError(f"sampler must be an SMLMTEpisodes, got {type(sampler).__name__}")
        if learner not in self.LEARNERS:
            raise ValueError(f"learner={learner!r} is not allowed; choose one of {self.LEARNERS}")
        if isinstance(meta_batch_size, bool) or not isinstance(meta_batch_size, int) or meta_batch_size < 1:
            raise ValueError(f"meta_batch_size={meta_batch_size!r} is not allowed; it must be a positive integer")
        if isinstance(inner_steps, bool) or not isinstance(inner_steps, int) or inner_steps < 0:
            raise ValueError(f"inner_steps={inner_steps!r} is not allowed; it must be an integer ≥ 0")
        if not (isinstance(inner_lr, (int, float)) and math.isfinite(inner_lr) and inner_lr >= 0):
            raise ValueError(f"inner_lr={inner_lr!r} is not allowed; give a finite number ≥ 0 (e.g. 0.05)")
        self.sampler, self.meta_batch_size = sampler, meta_batch_size
        self.inner_lr, self.inner_steps, self.first_order = float(inner_lr), inner_steps, first_order
        self.adapt, self.head_init, self.pooling, self.learner = adapt, head_init, pooling, learner

    def settings(self) -> dict[str, Any]:
        """The hyper-parameters, for a run's record."""
        return dict(n_way=self.sampler.n_way, k_shot=self.sampler.k_shot, q_query=self.sampler.q_query,
                    meta_batch_size=self.meta_batch_size, inner_lr=self.inner_lr, inner_steps=self.inner_steps,
                    first_order=self.first_order, adapt=self.adapt, head_init=self.head_init, pooling=self.pooling,
                    learner=self.learner)

    def backward(self, model: nn.Module, step: int, weight: float = 1.0) -> tuple[float, int]:
        """Accumulate ``weight`` × the meta-gradient of outer step `step` into ``model``'s ``.grad``.

        The meta-loss and its gradient are `maml_step`'s (one episode's graph alive at a time),
        so divergence of the inner loop or of a query loss raises `InnerLoopDivergedError`.

        Returns:
            ``(meta_loss, tokens)``: the mean query loss after adaptation and the
            number of real (non-padding) tokens in the episodes' support and query sets.
        """
        params = dict(model.named_parameters())
        device = next(model.parameters()).device
        episodes = [self.sampler.episode(step * self.meta_batch_size + b).to(device)
                    for b in range(self.meta_batch_size)]
        tokens = sum(int(ep.support_mask.sum()) + int(ep.query_mask.sum()) for ep in episodes)
        if self.learner == "protonet":
            protonet = ProtoNet(model, self.pooling, mask_token_id=self.sampler.tokenizer.mask_token_id)
            total = 0.0
            for episode in episodes:  # one episode's graph alive at a time; .grad accumulates weight × the mean
                loss = protonet(params, episode)
                (loss * (weight / len(episodes))).backward()
                total += float(loss.detach()) / len(episodes)
            return total, tokens
        loss_fn = TextClassifierLoss(model, pooling=self.pooling, head_init=self.head_init,
                                     attention_impl="fused" if self.first_order else "explicit",
                                     mask_token_id=self.sampler.tokenizer.mask_token_id)
        meta_loss, grads = maml_step(loss_fn, params, episodes, self.inner_lr, self.inner_steps, self.first_order,
                                     select_params(model, self.adapt))
        for name, g in grads.items():
            p = params[name]
            p.grad = weight * g if p.grad is None else p.grad.add_(g, alpha=weight)
        return float(meta_loss), tokens
