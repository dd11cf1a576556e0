"""Loss functions for the inner loop: ``loss_fn(params, data) -> scalar``, through `functional_call`.

Every meta-learning algorithm takes a loss function of this shape; the model is never mutated,
its weights come in as a plain ``dict[str, Tensor]``. Three are built in:

* `RegressionLoss` (MSE, e.g. sinusoids) and `ClassificationLoss` (cross-entropy on a model's
  logits), both calling the model on ``data.x``;
* `TextClassifierLoss`: an encoder's pooled features, then an N-way linear head made afresh for
  every episode (its weights live in the same dict, ``"head.weight"``/``"head.bias"``).

Text losses are built by composition: `EncoderFeatures` is the one feature path f_θ(x) (token
ids through the whole encoder, or hidden states through its top blocks only, as the test
protocol does), and both `TextClassifierLoss` and `metalearn_edu.meta.ProtoNet` use it.

Shapes: M examples, T tokens, D d_model, N classes.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from ..checks import reading_values_allowed
from ..episodes import Episode
from ..model import BertEncoder, EncoderOutput

Params = dict[str, Tensor]

# The parameter names of the per-episode N-way head of `TextClassifierLoss`.
EPISODE_HEAD_NAMES: tuple[str, str] = ("head.weight", "head.bias")
POOLINGS = ("cls", "mean", "mask", "tokens")
HEAD_INITS = ("zero", "proto", "learned")


def call_with(model: nn.Module, params: Params, args: tuple, kwargs: dict[str, Any] | None = None) -> Any:
    """``model(*args, **kwargs)`` with the weights in `params`: `torch.func.functional_call`.

    functional_call looks for tied weights (one tensor registered under two names) on every call,
    which costs more than a small network's forward pass; it is only asked to when `model` has some.
    """
    return functional_call(model, params, args, kwargs, tie_weights=has_tied_weights(model))


@functools.lru_cache(maxsize=64)
def has_tied_weights(model: nn.Module) -> bool:
    """Whether a parameter of `model` is registered under two names."""
    return len(list(model.named_parameters(remove_duplicate=False))) != len(list(model.named_parameters()))


def unpack(data: Any) -> tuple[Tensor, Tensor, Tensor | None]:
    """(x, y, mask) from a `TaskData` or an (x, y) / (x, y, mask) tuple."""
    if isinstance(data, Episode):
        raise ValueError("loss functions take one side of an episode; pass episode.support or episode.query")
    if len(data) == 2:
        return data[0], data[1], None
    x, y, mask = data
    return x, y, mask


class FunctionalLoss:
    """Base of the library's loss functions: ``loss_fn(params, data) -> scalar tensor``.

    Subclasses define `loss` (and may override `outputs`). A loss function also knows its
    evaluation metric (`metric`, named `metric_name`) and may add per-episode parameters
    (`episode_params`), such as a freshly initialised head.

    Attributes:
        model: the module called through `functional_call`; never mutated.
    """

    metric_name = "loss"
    lower_is_better = True
    vectorizable_metric = True  # `metric_value` is a tensor function the batched path can vmap

    def __init__(self, model: nn.Module, **model_kwargs: Any):
        self.model = model
        self.model_kwargs = model_kwargs

    def outputs(self, params: Params, data: Any) -> Tensor:
        """The model's outputs (predictions or logits) on ``data.x``."""
        x, _, mask = unpack(data)
        kwargs = dict(self.model_kwargs)
        if mask is not None:
            kwargs["attention_mask"] = mask
        out = call_with(self.model, params, (x,), kwargs)
        return out.logits if isinstance(out, EncoderOutput) else out

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, params: Params, data: Any) -> Tensor:
        """The mean loss of the model with `params` on `data`."""
        return self.loss(self.outputs(params, data), unpack(data)[1])

    def metric_value(self, params: Params, data: Any) -> Tensor:
        """The evaluation metric as a 0-d tensor (the loss itself unless a subclass says otherwise)."""
        return self(params, data)

    @torch.no_grad()
    def metric(self, params: Params, data: Any) -> float:
        """`metric_value` as a float."""
        return float(self.metric_value(params, data))

    def episode_params(self, params: Params, episode: Episode) -> Params:
        """θ for this episode (the base class adds nothing)."""
        return dict(params)


class RegressionLoss(FunctionalLoss):
    """Mean squared error; the metric is the MSE.

    Shapes:
        data.x: whatever the model takes, e.g. (M, 1); data.y: the model's output shape.
    """

    metric_name = "mse"

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.mse_loss(outputs, targets)


class ClassificationLoss(FunctionalLoss):
    """Cross-entropy on the model's logits; the metric is accuracy.

    For a `BertEncoder` give ``head="cls"`` and ``attention_impl="explicit"`` (needed
    for second-order gradients on CPU) as model keyword arguments; the episode's
    attention mask is passed as ``attention_mask``.

    Shapes:
        outputs: (M, N) logits; data.y: (M,) labels.
    """

    metric_name = "accuracy"
    lower_is_better = False

    def loss(self, outputs: Tensor, targets: Tensor) -> Tensor:
        return F.cross_entropy(outputs, targets)

    def metric_value(self, params: Params, data: Any) -> Tensor:
        """Accuracy: the share of examples whose arg-max logit is the label."""
        return (self.outputs(params, data).argmax(-1) == unpack(data)[1]).float().mean()


# ---------------------------------------------------------------------------------------
# The feature path of text losses
# ---------------------------------------------------------------------------------------
def pool_features(hidden: Tensor, input_ids: Tensor | None, attention_mask: Tensor | None, pooling: str = "mean",
                  mask_token_id: int | None = None) -> Tensor:
    """One vector per sequence from an encoder's last hidden states.

    Args:
        hidden: (M, T, D) hidden states.
        input_ids: (M, T) token ids (needed only for ``"mask"``).
        attention_mask: (M, T), 1 for real tokens; None = all real.
        pooling: ``"cls"`` (position 0), ``"mean"`` (mean over real tokens),
            ``"mask"`` (mean over the [MASK] positions, natural for SMLMT) or ``"tokens"``
            (no pooling: (M, T, D), for token-level tasks such as NER).
        mask_token_id: the [MASK] id, needed for ``"mask"``.

    Returns:
        (M, D) features ((M, T, D) for ``"tokens"``).
    """
    if pooling == "tokens":
        return hidden  # one feature per token, for token-level tasks
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        if attention_mask is None:
            return hidden.mean(1)
        weights = attention_mask
    elif pooling == "mask":
        if mask_token_id is None or input_ids is None:
            raise ValueError("pooling='mask' needs the token ids and mask_token_id (e.g. tokenizer.mask_token_id)")
        weights = input_ids == mask_token_id
        if reading_values_allowed() and not bool(weights.any(dim=1).all()):
            raise ValueError("pooling='mask' but some sequences have no [MASK] token; use pooling='mean' or 'cls'")
    else:
        raise ValueError(f"pooling={pooling!r} is not allowed; choose one of {POOLINGS}")
    w = weights.to(hidden.dtype).unsqueeze(-1)  # (M, T, 1)
    return (hidden * w).sum(1) / w.sum(1).clamp_min(1.0)  # (M, D)


class _TopBlocksView(nn.Module):
    """The top blocks and final norm of an encoder as a module of its own (the same submodules, so
    the same parameter names); `functional_call` on it reruns only those blocks (`BertEncoder.run_blocks`)."""

    def __init__(self, model: BertEncoder, start: int):
        super().__init__()
        self.blocks = model.blocks
        self.final_norm = model.final_norm
        object.__setattr__(self, "encoder", model)  # not a submodule: its other weights stay out of the view
        self.start = start

    def forward(self, hidden: Tensor, key_mask: Tensor | None, attention_impl: str) -> Tensor:
        return self.encoder.run_blocks(hidden, key_mask, self.start, attention_impl=attention_impl)[0]


class EncoderFeatures:
    """f_θ(x): the pooled features of a `BertEncoder` under a params dict.

    With ``start_block=0`` the input is token ids and the whole encoder runs. With
    ``start_block=k`` the input is the hidden states entering block k (see
    `metalearn_edu.meta.text.trunk_episode`) and only blocks k … L−1 and the final norm run:
    the few-shot test protocol adapts the top block, so the blocks below it are computed once
    per episode instead of at every inner step.

    Args:
        model: the encoder (never mutated).
        pooling: ``"mean"``, ``"cls"`` or ``"mask"`` (token-id inputs only), see `pool_features`.
        attention_impl: ``"fused"`` or ``"explicit"`` (second-order MAML needs it on CPU).
        mask_token_id: the [MASK] id for ``pooling="mask"``.
        start_block: the first block to run.

    Shapes:
        x: (M, T) ids or (M, T, D) hidden states; mask: (M, T); result: (M, D).
    """

    def __init__(self, model: BertEncoder, pooling: str = "mean", attention_impl: str = "fused",
                 mask_token_id: int | None = None, start_block: int = 0):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling={pooling!r} is not allowed; choose one of {POOLINGS}")
        if not isinstance(start_block, int) or not 0 <= start_block < model.cfg.n_layers:
            raise ValueError(f"start_block={start_block!r} is not allowed; give 0..{model.cfg.n_layers - 1}")
        if start_block and pooling == "mask":
            raise ValueError("pooling='mask' needs token ids; with start_block > 0 use pooling='mean' or 'cls'")
        self.model, self.pooling, self.attention_impl = model, pooling, attention_impl
        self.mask_token_id, self.start_block = mask_token_id, start_block
        self._view = _TopBlocksView(model, start_block) if start_block else None
        self._names = frozenset(n for n, _ in self._view.named_parameters()) if self._view is not None else None

    def __call__(self, params: Params, x: Tensor, mask: Tensor | None) -> Tensor:
        if self._view is None:
            body = {n: p for n, p in params.items() if n not in EPISODE_HEAD_NAMES}
            kwargs: dict[str, Any] = {"attention_impl": self.attention_impl}
            if mask is not None:
                kwargs["attention_mask"] = mask
            hidden = call_with(self.model, body, (x,), kwargs).hidden_states
        else:
            top = {n: p for n, p in params.items() if n in self._names}
            key_mask = None if mask is None else mask.bool()
            hidden = call_with(self._view, top, (x, key_mask, self.attention_impl))
        return pool_features(hidden, x if self._view is None else None, mask, self.pooling, self.mask_token_id)


def prototypes(features: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """Class means c_k = mean of the features with label k.

    Shapes:
        features: (M, D); labels: (M,) in 0..N−1; result: (N, D).

    Example:
        >>> prototypes(torch.tensor([[0.0], [2.0], [5.0]]), torch.tensor([0, 0, 1]), 2)
        tensor([[1.],
                [5.]])
    """
    one_hot = F.one_hot(labels, n_way).to(features.dtype)  # (M, N): one matmul, so it also works under vmap
    counts = one_hot.sum(0)  # (N,)
    if reading_values_allowed() and bool((counts == 0).any()):
        raise ValueError(f"labels has no example of class(es) {torch.nonzero(counts == 0).flatten().tolist()}; "
                         "every class needs at least one support example")
    return (one_hot.T @ features) / counts.unsqueeze(1)


def squared_distances(features: Tensor, centres: Tensor) -> Tensor:
    """‖f_m − c_k‖² for every pair.

    Shapes:
        features: (M, D); centres: (N, D); result: (M, N).

    Example:
        >>> squared_distances(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
        tensor([[25.,  1.]])
    """
    return (features.unsqueeze(1) - centres.unsqueeze(0)).pow(2).sum(-1)


class TextClassifierLoss(ClassificationLoss):
    """An encoder's features plus an N-way linear head that is made afresh for every episode.

    logits = W · f_θ(x) + b with W (N, D), b (N,) stored in the params dict as
    ``"head.weight"`` / ``"head.bias"`` (`EPISODE_HEAD_NAMES`). By default the head is not
    meta-learned (labels are permuted per episode, so a learned head would have nothing
    stable to learn); `episode_params` initialises it:

    * ``head_init="zero"``: W = 0, b = 0. Every episode starts at the uniform
      prediction, and the first inner step moves W towards the support class
      means of the features, which is what the meta-learned encoder shapes.
    * ``head_init="proto"``: W_k = 2 c_k, b_k = −‖c_k‖² with c_k the support
      prototype of class k (Triantafillou et al. 2020, "Proto-MAML"). Then
      logits_k = −‖f − c_k‖² + ‖f‖², so before any step the head classifies like a
      prototypical network. With grad mode on, the meta-gradient flows through
      the prototypes into the encoder.
    * ``head_init="learned"``: the head is part of θ (``params`` already holds ``head.weight``
      and ``head.bias``, e.g. an ``nn.Linear(D, N)`` registered as ``model.head``), so its
      starting weights are meta-learned and shared by every episode, as in the original MAML.
      With labels fixed across episodes such a head can *memorise* the tasks
      (`metalearn_edu.meta.memorisation`).

    Args:
        model: a `BertEncoder` (its MLM and classification heads are not used).
        pooling: ``"mean"`` (default), ``"cls"`` or ``"mask"`` (see `pool_features`).
        head_init: ``"zero"``, ``"proto"`` or ``"learned"``.
        attention_impl: ``"explicit"`` (default; second-order MAML needs it on CPU)
            or ``"fused"`` (faster, for first-order, Reptile and evaluation).
        mask_token_id: the [MASK] id, for ``pooling="mask"``.
        features: a ready `EncoderFeatures` (e.g. over the top blocks only); overrides
            `pooling`, `attention_impl` and `mask_token_id`.

    Example:
        >>> from metalearn_edu.config import ModelConfig
        >>> enc = BertEncoder(ModelConfig(vocab_size=30, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=8))
        >>> loss_fn = TextClassifierLoss(enc, head_init="zero")
        >>> ep = Episode(torch.randint(5, 30, (4, 6)), torch.tensor([0, 0, 1, 1]),
        ...              torch.randint(5, 30, (2, 6)), torch.tensor([0, 1]), classes=["a", "b"])
        >>> theta = loss_fn.episode_params(dict(enc.named_parameters()), ep)
        >>> theta["head.weight"].shape, round(loss_fn(theta, ep.query).item(), 4)
        (torch.Size([2, 8]), 0.6931)
    """

    def __init__(self, model: BertEncoder, pooling: str = "mean", head_init: str = "zero",
                 attention_impl: str = "explicit", mask_token_id: int | None = None,
                 features: EncoderFeatures | None = None):
        if head_init not in HEAD_INITS:
            raise ValueError(f"head_init={head_init!r} is not allowed; choose one of {HEAD_INITS}")
        self.features = features or EncoderFeatures(model, pooling, attention_impl, mask_token_id)
        super().__init__(model, attention_impl=self.features.attention_impl)
        self.pooling, self.head_init = self.features.pooling, head_init

    def outputs(self, params: Params, data: Any) -> Tensor:
        """(M, N) logits."""
        if EPISODE_HEAD_NAMES[0] not in params:
            raise ValueError("params has no 'head.weight'; build the episode's params with "
                             "loss_fn.episode_params(params, episode) first")
        x, _, mask = unpack(data)
        return F.linear(self.features(params, x, mask), params["head.weight"], params["head.bias"])

    def episode_params(self, params: Params, episode: Episode) -> Params:
        """θ plus this episode's N-way head, initialised by `head_init`.

        Shapes:
            head.weight: (N, D); head.bias: (N,), N = ``episode.n_way``.
        """
        n_way = episode.n_way or int(episode.support_y.max()) + 1
        if self.head_init == "learned":
            if EPISODE_HEAD_NAMES[0] not in params or params[EPISODE_HEAD_NAMES[0]].shape[0] != n_way:
                raise ValueError(f"head_init='learned' needs params['head.weight'] of shape ({n_way}, D) in θ; "
                                 "register the head as model.head = nn.Linear(D, N)")
            return dict(params)
        if self.head_init == "zero":
            d = self.model.cfg.d_model
            ref = next(iter(params.values()))
            weight = torch.zeros(n_way, d, dtype=ref.dtype, device=ref.device)
            bias = torch.zeros(n_way, dtype=ref.dtype, device=ref.device)
        else:
            c = prototypes(self.features(params, episode.support_x, episode.support_mask), episode.support_y, n_way)
            weight, bias = 2 * c, -(c * c).sum(-1)
        return {**params, EPISODE_HEAD_NAMES[0]: weight, EPISODE_HEAD_NAMES[1]: bias}


def functional_loss(model: nn.Module, kind: str = "mse", **kwargs: Any) -> FunctionalLoss:
    """A loss function ``loss_fn(params, data)`` for `model`, by name.

    Args:
        model: the network (called through `functional_call`; never mutated).
        kind: ``"mse"`` (`RegressionLoss`), ``"cross_entropy"`` (`ClassificationLoss`;
            extra keyword arguments go to the model, e.g. ``head="cls"``) or
            ``"text"`` (`TextClassifierLoss`; keyword arguments go to it).

    Example:
        >>> functional_loss(nn.Linear(3, 2), "cross_entropy").metric_name
        'accuracy'
    """
    if kind == "mse":
        return RegressionLoss(model, **kwargs)
    if kind == "cross_entropy":
        return ClassificationLoss(model, **kwargs)
    if kind == "text":
        return TextClassifierLoss(model, **kwargs)
    raise ValueError(f"kind={kind!r} is not allowed; choose 'mse', 'cross_entropy' or 'text'")
