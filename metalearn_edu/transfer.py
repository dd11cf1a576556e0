"""Taking a trained encoder's body to a new language (Artetxe, Ruder & Yogatama 2020).

Their recipe: keep a monolingual Transformer's body — every block, and the position and segment
tables — and learn only new token embeddings for the new language, with masked-language modelling
while the body stays frozen; then fine-tune on the new language's tasks as usual. If the body holds
language-independent machinery (attend to neighbours, compose meanings), the new embeddings only
have to learn to feed it.

* `transplant_body`: a `BertEncoder` for the new vocabulary with the old body and fresh token
  embeddings (the MLM decoder is tied to them) and a fresh MLM output bias;
* `freeze_body`: switch off gradients everywhere but those two, for the embedding-learning phase.

Example:
    >>> from metalearn_edu.config import ModelConfig
    >>> english = BertEncoder(ModelConfig(vocab_size=50, d_model=16, n_layers=2, n_heads=2, d_ff=32, max_len=20))
    >>> chinese = transplant_body(english, vocab_size=80)
    >>> chinese.embeddings.tok_emb.weight.shape, freeze_body(chinese)
    (torch.Size([80, 16]), ['embeddings.tok_emb.weight', 'mlm_head.bias'])
"""

from __future__ import annotations

import torch

from .model import BertEncoder

NEW_LANGUAGE_PARAMETERS = ("embeddings.tok_emb.weight", "mlm_head.bias")


def transplant_body(model: BertEncoder, vocab_size: int, seed: int = 0, pad_token_id: int = 0) -> BertEncoder:
    """A new encoder for a `vocab_size`-token vocabulary with `model`'s body and fresh token embeddings.

    Everything but the token embeddings and the MLM output bias (both vocabulary-sized) is copied:
    blocks, final norm, position and segment tables, the embedding LayerNorm, the MLM transform and
    the classification head. The new embeddings are initialised like BERT's (N(0, init_std)) under
    `seed`, without touching the global random state.
    """
    cfg = model.cfg.replace(vocab_size=vocab_size, pad_token_id=pad_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        new = BertEncoder(cfg, attention_impl=model.attention_impl)
    kept = {n: t for n, t in model.state_dict().items() if n not in NEW_LANGUAGE_PARAMETERS}
    missing, unexpected = new.load_state_dict(kept, strict=False)
    assert sorted(missing) == sorted(NEW_LANGUAGE_PARAMETERS) and not unexpected, (missing, unexpected)
    return new


def freeze_body(model: BertEncoder, trainable: tuple[str, ...] = NEW_LANGUAGE_PARAMETERS) -> list[str]:
    """Set ``requires_grad`` False on every parameter but `trainable`; return the trainable names."""
    names = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in trainable)
        if name in trainable:
            names.append(name)
    missing = sorted(set(trainable) - set(names))
    if missing:
        raise ValueError(f"trainable names {missing} are not parameters of the model")
    return names


def unfreeze(model: BertEncoder) -> None:
    """Every parameter trainable again (for fine-tuning after the embedding phase)."""
    for parameter in model.parameters():
        parameter.requires_grad_(True)
