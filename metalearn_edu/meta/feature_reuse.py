"""Rapid learning or feature reuse? What test-time adaptation changes in a text encoder.

Raghu et al. (2020, "Rapid learning or feature reuse?") asked of MAML on images whether the
meta-learned network *learns to adapt fast* (the inner loop changes its features a lot) or *learns
features that need no adapting* (the inner loop only moves the head). Two measurements answer it,
and this module computes both for the course's text encoders:

* accuracy after test-time adaptation of different parameter sets on the same episodes
  (`evaluate_adapted_set`: the head only, the top block and head, or every parameter). If adapting
  the head alone is as good as adapting everything, the features are being reused;
* how much the inner loop changes each layer's representation of the query texts
  (`adaptation_cka`): linear CKA (Kornblith et al. 2019) between a layer's features before and
  after adaptation; 1 means the layer's representation did not change (up to rotation and scale).

Both use the course's test protocol otherwise (`metalearn_edu.meta.text`): a prototype-initialised
5-way head and plain gradient descent with rate α on the support set.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..episodes import Episode
from ..model import BertEncoder
from .evaluation import AdaptationCurve, evaluate_adaptation
from .inner_loop import adapt, select_params
from ..runtime import eval_mode
from .losses import EPISODE_HEAD_NAMES, TextClassifierLoss
from .text import evaluate_text_adaptation, top_blocks_loss, trunk_episode

ADAPTED_SETS = ("head", "top1", "all")


def _check_adapted(adapted: str) -> None:
    if adapted not in ADAPTED_SETS:
        raise ValueError(f"adapted={adapted!r} is not allowed; choose one of {ADAPTED_SETS}")


def evaluate_adapted_set(model: BertEncoder, episodes: Sequence[Episode], adapted: str = "top1",
                         inner_lr: float = 0.05, inner_steps: int = 5) -> AdaptationCurve:
    """Query accuracy after 0..`inner_steps` test-time steps that move only the set `adapted`.

    * ``"head"``: the 5-way head (the whole encoder is a frozen feature extractor);
    * ``"top1"``: the top block, the final norm and the head (the course's protocol,
      `evaluate_text_adaptation`);
    * ``"all"``: every parameter: embeddings, all blocks, final norm and head.

    Step 0 (the prototype head) is the same for all three, so the curves differ only by what
    the steps are allowed to move.

    Raises:
        ValueError: for an unknown `adapted`.
    """
    _check_adapted(adapted)
    if adapted == "top1":
        return evaluate_text_adaptation(model, episodes, inner_lr, inner_steps, top_k=1)
    with eval_mode(model):
        params = {n: p.detach() for n, p in model.named_parameters()}
        if adapted == "head":
            loss_fn, transform = top_blocks_loss(model, 1), (lambda ep: trunk_episode(model, ep, 1))
            names = list(EPISODE_HEAD_NAMES)
        else:
            loss_fn, transform = TextClassifierLoss(model, head_init="proto", attention_impl="fused"), None
            names = select_params(model, "all")
        return evaluate_adaptation(loss_fn, params, episodes, inner_lr, inner_steps, adapt_names=names,
                                   transform=transform)


def linear_cka(x: Tensor, y: Tensor) -> float:
    """Linear centred kernel alignment of two representations of the same n examples.

    CKA(X, Y) = ‖Yᵀ X‖²_F / (‖Xᵀ X‖_F ‖Yᵀ Y‖_F) with X and Y centred over the examples
    (Kornblith et al. 2019, eq. for the linear kernel). It is 1 when Y is X up to an orthogonal
    transform and a scale, and does not depend on the feature dimension of either.

    Shapes:
        x: (n, d₁); y: (n, d₂), the same n ≥ 2 examples in the same order.

    Example:
        >>> x = torch.randn(50, 8)
        >>> q, _ = torch.linalg.qr(torch.randn(8, 8))
        >>> round(linear_cka(x, 3 * x @ q), 6)
        1.0
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"x and y must be (n, d) with the same n ≥ 2 rows; got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.double(), y.double()
    x, y = x - x.mean(0), y - y.mean(0)
    cross = (y.T @ x).pow(2).sum()
    return float(cross / ((x.T @ x).norm() * (y.T @ y).norm()))


class _Layers(nn.Module):
    """The encoder up to its top block, returning every layer's states (for `functional_call`)."""

    def __init__(self, model: BertEncoder):
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor, mask: Tensor) -> list[Tensor]:
        x, key_mask = self.model.embed(ids, mask)
        _, hidden, _ = self.model.run_blocks(x, key_mask, attention_impl="fused")
        return [x, *hidden]


@torch.no_grad()
def layer_features(model: BertEncoder, params: dict[str, Tensor], ids: Tensor, mask: Tensor) -> list[Tensor]:
    """Mean-pooled features of every layer under the weights `params` (the model is not modified).

    Shapes:
        ids, mask: (M, T). Returns L + 1 tensors of shape (M, D): after the embeddings, then after
        each block (the last one after the final norm: the features the head reads).
    """
    body = {f"model.{n}": p for n, p in params.items() if n not in EPISODE_HEAD_NAMES}
    states = torch.func.functional_call(_Layers(model), body, (ids, mask), strict=False)
    weights = mask.unsqueeze(-1).to(states[0].dtype)  # (M, T, 1): mean over real tokens
    return [(h * weights).sum(1) / weights.sum(1) for h in states]


def adaptation_cka(model: BertEncoder, episodes: Sequence[Episode], inner_lr: float = 0.05,
                   inner_steps: int = 5, adapted: str = "all") -> list[list[float]]:
    """Per episode and layer: linear CKA between the query features before and after the inner loop.

    The inner loop is `evaluate_adapted_set`'s (prototype head, `inner_steps` steps of rate
    `inner_lr` on the support set, moving the set `adapted`; default every parameter, so that
    every layer *can* change).

    Returns:
        One row per episode of L + 1 values (embeddings, block 1 … block L), each in [0, 1].
    """
    _check_adapted(adapted)
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
    names = select_params(model, adapted)
    rows = []
    with eval_mode(model):
        theta = {n: p.detach() for n, p in model.named_parameters()}
        for episode in episodes:
            start = loss_fn.episode_params(theta, episode)
            with torch.enable_grad():
                phi = adapt(loss_fn, start, episode.support, inner_lr, inner_steps, first_order=True,
                            adapt_names=names, track_loss=False).params[-1]
            before = layer_features(model, theta, episode.query_x, episode.query_mask)
            after = layer_features(model, {n: p.detach() for n, p in phi.items()}, episode.query_x,
                                   episode.query_mask)
            rows.append([linear_cka(b, a) for b, a in zip(before, after)])
    return rows
