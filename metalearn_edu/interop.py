"""Moving weights between our `BertEncoder` and `transformers`' BERT.

`load_hf_bert` takes a `transformers` ``BertModel`` or ``BertForMaskedLM`` (an
object or a local directory) and returns our model with the same weights;
`to_hf_bert` goes back. Tests check that both compute the same hidden states and
attention weights to 1e-5. Every tensor maps one to one (`_body_names`): only the names differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def _body_names(n_layers: int) -> list[tuple[str, str]]:
    """(our name, transformers ``BertModel`` name) of every tensor of the encoder body."""
    modules = [("embeddings.tok_emb", "embeddings.word_embeddings", ("weight",)),
               ("embeddings.pos_emb", "embeddings.position_embeddings", ("weight",)),
               ("embeddings.seg_emb", "embeddings.token_type_embeddings", ("weight",)),
               ("embeddings.norm", "embeddings.LayerNorm", ("weight", "bias"))]
    for i in range(n_layers):
        ours, theirs = f"blocks.{i}.", f"encoder.layer.{i}."
        modules += [(ours + a, theirs + b, ("weight", "bias")) for a, b in (
            ("attn.q_proj", "attention.self.query"), ("attn.k_proj", "attention.self.key"),
            ("attn.v_proj", "attention.self.value"), ("attn.out_proj", "attention.output.dense"), ("attn_norm", "attention.output.LayerNorm"),
            ("ffn.up", "intermediate.dense"), ("ffn.down", "output.dense"), ("ffn_norm", "output.LayerNorm"))]
    return [(f"{a}.{kind}", f"{b}.{kind}") for a, b, kinds in modules for kind in kinds]


_POOLER = [("cls_head.pool.weight", "pooler.dense.weight"), ("cls_head.pool.bias", "pooler.dense.bias")]
# Our MLM head vs the names inside transformers' ``cls.predictions`` (its decoder is the tied embedding).
_MLM_HEAD = [("mlm_head.dense.weight", "transform.dense.weight"), ("mlm_head.dense.bias", "transform.dense.bias"),
             ("mlm_head.norm.weight", "transform.LayerNorm.weight"), ("mlm_head.norm.bias", "transform.LayerNorm.bias"),
             ("mlm_head.bias", "bias")]


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
    names = _body_names(cfg.n_layers) + (_POOLER if "pooler.dense.weight" in hf else [])
    state = {ours_name: hf[hf_name] for ours_name, hf_name in names}
    if mlm is not None:
        head = {k: v.detach() for k, v in mlm.state_dict().items()}
        state.update({ours_name: head[hf_name] for ours_name, hf_name in _MLM_HEAD})
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
    names = _body_names(cfg.n_layers) + ([] if with_mlm_head else _POOLER)
    state = {hf_name: ours[ours_name] for ours_name, hf_name in names}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
    assert not missing and not unexpected, (missing, unexpected)
    if mlm is not None:
        missing, unexpected = mlm.load_state_dict({hf_name: ours[ours_name] for ours_name, hf_name in _MLM_HEAD},
                                                  strict=False)
        assert not unexpected and all(m.startswith("decoder.") for m in missing), (missing, unexpected)
        hf_model.tie_weights()
    return hf_model.eval()
