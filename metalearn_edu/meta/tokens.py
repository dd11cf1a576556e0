"""Token-level few-shot tasks (named-entity recognition): a per-tag head, span F1, the test protocol.

A token-level episode (`metalearn_edu.ner.NEREpisodes`) labels every token with one of 2N + 1 tags
(``O``, then ``B-type``/``I-type`` for the N entity types drawn for that episode). The model is the
same encoder; what changes is the head and the metric:

* `TokenClassifierLoss`: the encoder's per-token features (`EncoderFeatures` with
  ``pooling="tokens"``), then a (2N + 1)-way linear head made afresh for every episode, trained
  with cross-entropy at every labelled position, ``O`` included (−100 marks [CLS], [SEP] and
  padding). Its prototype initialisation makes step 0 a **nearest-prototype tagger**: each token
  takes the tag whose mean support feature is closest.
* The metric is entity-level micro F1 with exact span matching (`metalearn_edu.ner.span_f1`):
  a predicted entity counts only when its type and both ends equal a gold entity's.
* `evaluate_token_adaptation`: chapter 5's test protocol at the token level — prototype head, then
  a few gradient steps on the top block and the head, span F1 after every step.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..episodes import Episode
from ..model import BertEncoder
from ..ner import IGNORE_INDEX, span_f1, tag_sequences
from ..runtime import eval_mode
from .evaluation import AdaptationCurve, evaluate_adaptation
from .inner_loop import select_params
from .losses import EPISODE_HEAD_NAMES, ClassificationLoss, EncoderFeatures, Params, unpack

MISSING_TAG_BIAS = -1e3  # a tag with no support token starts never chosen; gradient steps may revive it


class TokenClassifierLoss(ClassificationLoss):
    """Per-token features and a per-episode (2N + 1)-way tag head; mean cross-entropy over labelled tokens.

    Args:
        model: a `BertEncoder`.
        head_init: ``"proto"`` (W_k = 2c_k, b_k = −‖c_k‖², c_k the mean support feature of tag k: a
            nearest-prototype tagger before any step; a tag absent from the support set gets W = 0 and
            a very negative bias) or ``"zero"``.
        attention_impl: ``"fused"`` or ``"explicit"`` (second-order MAML on CPU).
        features: a ready `EncoderFeatures` with ``pooling="tokens"`` (e.g. over the top blocks only).

    Shapes:
        data.x: (M, T) ids (or (M, T, D) hidden states with top-block features); data.y: (M, T) tag
        ids with −100 where nothing is predicted; outputs: (M, T, 2N + 1).
    """

    metric_name = "span F1"
    vectorizable_metric = False  # span F1 is computed on tag strings

    def __init__(self, model: BertEncoder, head_init: str = "proto", attention_impl: str = "fused",
                 features: EncoderFeatures | None = None):
        if head_init not in ("zero", "proto"):
            raise ValueError(f"head_init={head_init!r} is not allowed; choose 'zero' or 'proto'")
        self.features = features or EncoderFeatures(model, "tokens", attention_impl)
        if self.features.pooling != "tokens":
            raise ValueError("TokenClassifierLoss needs token features: EncoderFeatures(..., pooling='tokens')")
        super().__init__(model, attention_impl=self.features.attention_impl)
        self.head_init = head_init

    def outputs(self, params: Params, data: Any) -> Tensor:
        x, _, mask = unpack(data)
        return F.linear(self.features(params, x, mask), params["head.weight"], params["head.bias"])

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(outputs.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)

    def metric_value(self, params: Params, data: Any) -> Tensor:
        """Token accuracy over labelled positions (a tensor); `metric` is the span F1 reported."""
        logits, y = self.outputs(params, data), unpack(data)[1]
        keep = y != IGNORE_INDEX
        return (logits.argmax(-1)[keep] == y[keep]).float().mean()

    @torch.no_grad()
    def metric(self, params: Params, data: Any, classes: Sequence[str] | None = None) -> float:
        """Entity-level micro F1 (exact spans) of the predicted tags; `classes` names the tag ids."""
        logits, y = self.outputs(params, data), unpack(data)[1]
        names = list(classes) if classes is not None else self._classes
        gold, predicted = tag_sequences(y, logits.argmax(-1), names)
        return float(span_f1(gold, predicted)["f1"])

    def episode_params(self, params: Params, episode: Episode) -> Params:
        """θ plus this episode's tag head: (2N + 1, D) weights and (2N + 1,) biases."""
        self._classes = list(episode.classes)  # the tag names `metric` needs
        n_tags, d = len(episode.classes), self.model.cfg.d_model
        ref = next(iter(params.values()))
        if self.head_init == "zero":
            weight = torch.zeros(n_tags, d, dtype=ref.dtype, device=ref.device)
            bias = torch.zeros(n_tags, dtype=ref.dtype, device=ref.device)
            return {**params, EPISODE_HEAD_NAMES[0]: weight, EPISODE_HEAD_NAMES[1]: bias}
        feats = self.features(params, episode.support_x, episode.support_mask)  # (M, T, D)
        y = episode.support_y
        keep = y != IGNORE_INDEX
        one_hot = F.one_hot(y[keep], n_tags).to(feats.dtype)  # (P, C)
        counts = one_hot.sum(0)  # (C,)
        c = (one_hot.T @ feats[keep]) / counts.clamp_min(1).unsqueeze(1)  # (C, D) tag prototypes
        present = counts > 0
        weight = torch.where(present[:, None], 2 * c, torch.zeros_like(c))
        bias = torch.where(present, -(c * c).sum(-1), torch.full_like(counts, MISSING_TAG_BIAS))
        return {**params, EPISODE_HEAD_NAMES[0]: weight, EPISODE_HEAD_NAMES[1]: bias}


def token_top_blocks_loss(model: BertEncoder, top_k: int = 1, head_init: str = "proto") -> TokenClassifierLoss:
    """`TokenClassifierLoss` over hidden states entering the top `top_k` blocks (see `text.trunk_episode`)."""
    features = EncoderFeatures(model, "tokens", "fused", start_block=model.cfg.n_layers - top_k)
    return TokenClassifierLoss(model, head_init=head_init, features=features)


def evaluate_token_adaptation(model: BertEncoder, episodes: Sequence[Episode], inner_lr: float = 0.05,
                              inner_steps: int = 5, top_k: int = 1, head_init: str = "proto",
                              progress: bool = False) -> AdaptationCurve:
    """Span F1 after 0..`inner_steps` steps of the token-level test protocol.

    Every episode: a fresh tag head (prototypes: step 0 is a nearest-prototype tagger), then plain
    gradient descent with rate `inner_lr` on the top `top_k` blocks and the head; the lower blocks run
    once per episode.
    """
    from .text import trunk_episode

    with eval_mode(model):
        loss_fn = token_top_blocks_loss(model, top_k, head_init)
        names = select_params(model, f"top{top_k}")
        params = {n: p.detach() for n, p in model.named_parameters()}
        return evaluate_adaptation(loss_fn, params, episodes, inner_lr, inner_steps, adapt_names=names,
                                   progress=progress, transform=lambda ep: trunk_episode(model, ep, top_k))
