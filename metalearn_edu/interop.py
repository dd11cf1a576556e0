"""Moving weights between our `BertEncoder` and `transformers`' BERT.

`load_hf_bert` takes a `transformers` ``BertModel`` or ``BertForMaskedLM`` (an
object or a local directory) and returns our model with the same weights;
`to_hf_bert` goes back. Tests check that both compute the same hidden states and
attention weights to 1e-5.

Our layout differs from BERT's in one place: we project Q, K and V with one fused
(3D, D) matrix, so the three HF matrices are concatenated on the way in and split
on the way out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .config import ModelConfig
from .model import AttentionImpl, BertEncoder

_HF_ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu"}
_OUR_ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu"}


def config_from_hf(hf_config: Any, n_labels: int = 2) -> ModelConfig:
    """Our `ModelConfig` for a `transformers.BertConfig`."""
    kind = getattr(hf_config, "position_embedding_type", "absolute") or "absolute"
    if kind != "absolute":
        raise ValueError(f"position_embedding_type={kind!r} is not supported; only 'absolute' (BERT's)")
    act = hf_config.hidden_act
    if act not in _HF_ACTIVATIONS:
        raise ValueError(f"hidden_act={act!r} is not supported; allowed: {sorted(_HF_ACTIVATIONS)}")
    return ModelConfig(
        vocab_size=hf_config.vocab_size, d_model=hf_config.hidden_size, n_layers=hf_config.num_hidden_layers,
        n_heads=hf_config.num_attention_heads, d_ff=hf_config.intermediate_size,
        max_len=hf_config.max_position_embeddings, n_segments=hf_config.type_vocab_size,
        dropout=hf_config.hidden_dropout_prob, attn_dropout=hf_config.attention_probs_dropout_prob,
        layer_norm_eps=hf_config.layer_norm_eps, pre_ln=False, activation=_HF_ACTIVATIONS[act],
        pad_token_id=hf_config.pad_token_id if hf_config.pad_token_id is not None else 0,
        n_labels=n_labels, init_std=hf_config.initializer_range,
    )


def config_to_hf(cfg: ModelConfig):
    """A `transformers.BertConfig` (eager attention) for our `ModelConfig`."""
    from transformers import BertConfig

    if cfg.pre_ln:
        raise ValueError("pre_ln=True has no transformers.BertModel equivalent (BERT is post-LN); "
                         "only post-LN models can be exported")
    return BertConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads, intermediate_size=cfg.d_ff, hidden_act=_OUR_ACTIVATIONS[cfg.activation],
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.attn_dropout,
        max_position_embeddings=cfg.max_len, type_vocab_size=cfg.n_segments, initializer_range=cfg.init_std,
        layer_norm_eps=cfg.layer_norm_eps, pad_token_id=cfg.pad_token_id, num_labels=cfg.n_labels,
        attn_implementation="eager",
    )


def _hf_from_path(path: str | Path):
    """Load a BertModel or BertForMaskedLM from a local directory, by its config's architecture."""
    from transformers import BertForMaskedLM, BertModel

    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise FileNotFoundError(f"{path} has no config.json; pass a transformers model directory "
                                "(e.g. metalearn_edu.data.minilm_path()) or a model object")
    architectures = json.loads(config_file.read_text()).get("architectures") or []
    cls = BertForMaskedLM if any("MaskedLM" in a or "PreTraining" in a for a in architectures) else BertModel
    return cls.from_pretrained(path, attn_implementation="eager")


def _bert_parts(hf_model):
    """Split a transformers model into (BertModel, MLM prediction head or None)."""
    from transformers import BertForMaskedLM, BertModel

    if isinstance(hf_model, BertForMaskedLM):
        return hf_model.bert, hf_model.cls.predictions
    if isinstance(hf_model, BertModel):
        return hf_model, None
    raise TypeError(f"expected a transformers BertModel or BertForMaskedLM (or a directory); "
                    f"got {type(hf_model).__name__}")


def load_hf_bert(model_or_path: Any, attention_impl: AttentionImpl = "fused", n_labels: int = 2) -> BertEncoder:
    """Our `BertEncoder` with the weights of a `transformers` BERT.

    Args:
        model_or_path: a ``BertModel`` / ``BertForMaskedLM`` object, or a local
            directory holding one (e.g. `metalearn_edu.data.minilm_path()`).
        attention_impl: the default attention path of the returned model.
        n_labels: outputs of our (freshly initialised) classification layer.

    Returns:
        A `BertEncoder` in eval mode. Parts the source lacks stay at their
        initialisation: the MLM transform for a plain ``BertModel`` (the decoder is
        the tied embedding, so it is always there), the pooler for a
        ``BertForMaskedLM``, and always the final classification layer.

    Example:
        >>> from metalearn_edu.data import minilm_path
        >>> model = load_hf_bert(minilm_path())        # doctest: +SKIP
    """
    hf_model = _hf_from_path(model_or_path) if isinstance(model_or_path, (str, Path)) else model_or_path
    bert, mlm = _bert_parts(hf_model)
    cfg = config_from_hf(bert.config, n_labels=n_labels)
    ours = BertEncoder(cfg, attention_impl=attention_impl)

    hf = {k: v.detach() for k, v in bert.state_dict().items()}
    state = {
        "embeddings.tok_emb.weight": hf["embeddings.word_embeddings.weight"],
        "embeddings.pos_emb.weight": hf["embeddings.position_embeddings.weight"],
        "embeddings.seg_emb.weight": hf["embeddings.token_type_embeddings.weight"],
        "embeddings.norm.weight": hf["embeddings.LayerNorm.weight"],
        "embeddings.norm.bias": hf["embeddings.LayerNorm.bias"],
    }
    for i in range(cfg.n_layers):
        src, dst = f"encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            state[dst + f"attn.qkv.{kind}"] = torch.cat(
                [hf[src + f"attention.self.{name}.{kind}"] for name in ("query", "key", "value")])
            state[dst + f"attn.out_proj.{kind}"] = hf[src + f"attention.output.dense.{kind}"]
            state[dst + f"attn_norm.{kind}"] = hf[src + f"attention.output.LayerNorm.{kind}"]
            state[dst + f"ffn.up.{kind}"] = hf[src + f"intermediate.dense.{kind}"]
            state[dst + f"ffn.down.{kind}"] = hf[src + f"output.dense.{kind}"]
            state[dst + f"ffn_norm.{kind}"] = hf[src + f"output.LayerNorm.{kind}"]
    if "pooler.dense.weight" in hf:
        state["cls_head.pool.weight"] = hf["pooler.dense.weight"]
        state["cls_head.pool.bias"] = hf["pooler.dense.bias"]
    if mlm is not None:
        state["mlm_head.dense.weight"] = mlm.transform.dense.weight.detach()
        state["mlm_head.dense.bias"] = mlm.transform.dense.bias.detach()
        state["mlm_head.norm.weight"] = mlm.transform.LayerNorm.weight.detach()
        state["mlm_head.norm.bias"] = mlm.transform.LayerNorm.bias.detach()
        state["mlm_head.bias"] = mlm.bias.detach()
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    return ours.eval()


def to_hf_bert(model: BertEncoder, with_mlm_head: bool = True):
    """A `transformers` BERT with our model's weights (eager attention, eval mode).

    Args:
        model: a post-LN `BertEncoder`.
        with_mlm_head: return ``BertForMaskedLM`` (True) or ``BertModel`` with our
            pooler (False).
    """
    from transformers import BertForMaskedLM, BertModel

    cfg = model.cfg
    hf_config = config_to_hf(cfg)
    hf_model = BertForMaskedLM(hf_config) if with_mlm_head else BertModel(hf_config)
    bert, mlm = _bert_parts(hf_model)
    ours = {k: v.detach() for k, v in model.state_dict().items()}
    D = cfg.d_model
    state = {
        "embeddings.word_embeddings.weight": ours["embeddings.tok_emb.weight"],
        "embeddings.position_embeddings.weight": ours["embeddings.pos_emb.weight"],
        "embeddings.token_type_embeddings.weight": ours["embeddings.seg_emb.weight"],
        "embeddings.LayerNorm.weight": ours["embeddings.norm.weight"],
        "embeddings.LayerNorm.bias": ours["embeddings.norm.bias"],
    }
    for i in range(cfg.n_layers):
        src, dst = f"blocks.{i}.", f"encoder.layer.{i}."
        for kind in ("weight", "bias"):
            q, k, v = ours[src + f"attn.qkv.{kind}"].split(D)
            state.update({dst + f"attention.self.query.{kind}": q, dst + f"attention.self.key.{kind}": k,
                          dst + f"attention.self.value.{kind}": v})
            state[dst + f"attention.output.dense.{kind}"] = ours[src + f"attn.out_proj.{kind}"]
            state[dst + f"attention.output.LayerNorm.{kind}"] = ours[src + f"attn_norm.{kind}"]
            state[dst + f"intermediate.dense.{kind}"] = ours[src + f"ffn.up.{kind}"]
            state[dst + f"output.dense.{kind}"] = ours[src + f"ffn.down.{kind}"]
            state[dst + f"output.LayerNorm.{kind}"] = ours[src + f"ffn_norm.{kind}"]
    if not with_mlm_head:
        state["pooler.dense.weight"] = ours["cls_head.pool.weight"]
        state["pooler.dense.bias"] = ours["cls_head.pool.bias"]
    missing, unexpected = bert.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
    assert not missing and not unexpected, (missing, unexpected)
    if mlm is not None:
        with torch.no_grad():
            mlm.transform.dense.weight.copy_(ours["mlm_head.dense.weight"])
            mlm.transform.dense.bias.copy_(ours["mlm_head.dense.bias"])
            mlm.transform.LayerNorm.weight.copy_(ours["mlm_head.norm.weight"])
            mlm.transform.LayerNorm.bias.copy_(ours["mlm_head.norm.bias"])
            mlm.bias.copy_(ours["mlm_head.bias"])
        hf_model.tie_weights()
    return hf_model.eval()
