"""Frozen configuration dataclasses and named presets.

Two kinds of presets live here:

* **model sizes** (`MODEL_SIZES`): the small BERTs of Turc et al. 2019 plus two
  course-sized ones; a size is just a `ModelConfig` without a vocabulary;
* **run presets** (`PRESETS`): ``ci``, ``cpu`` and ``gpu`` pick a model size and
  the number of steps and batch sizes that notebooks, tests and the CLI use, so
  that the same notebook runs in two minutes in CI and trains properly on a GPU.

`get_preset()` picks a run preset from the hardware (``gpu`` when CUDA is there,
``cpu`` otherwise) unless the environment variable ``METALEARN_PRESET`` names one.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from .checks import check_int, check_number, check_probability

PRESET_ENV_VAR = "METALEARN_PRESET"


@dataclass(frozen=True)
class ModelConfig:
    """Sizes and switches of the BERT-style encoder in `metalearn_edu.model`.

    The field names follow the course's vocabulary; `interop` maps them to and
    from `transformers.BertConfig`.
    """

    vocab_size: int = 8000  # number of WordPiece tokens, specials included
    d_model: int = 256  # width of every hidden state (BERT's hidden_size)
    n_layers: int = 4  # number of Transformer blocks
    n_heads: int = 4  # attention heads per block; must divide d_model
    d_ff: int = 1024  # width of the feed-forward layer (BERT's intermediate_size)
    max_len: int = 512  # rows of the learned position table: longest sequence
    n_segments: int = 2  # rows of the segment (token type) table
    dropout: float = 0.1  # dropout on embeddings, residual branches and the pooler
    attn_dropout: float = 0.1  # dropout on attention weights
    layer_norm_eps: float = 1e-12  # BERT's LayerNorm epsilon
    pre_ln: bool = False  # False: post-LN as in BERT; True: pre-LN (+ a final LayerNorm)
    activation: str = "gelu"  # "gelu" (exact, BERT's) or "gelu_tanh" or "relu"
    pad_token_id: int = 0  # id of [PAD]; its embedding row is not special-cased
    n_labels: int = 2  # outputs of the sequence-classification head
    init_std: float = 0.02  # std of the normal initialisation (BERT's initializer_range)
    pos_init: str = "normal"  # "normal" (BERT) or "sinusoidal" (Vaswani et al.'s table, scaled; still learned)

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_len", "n_segments", "n_labels"):
            check_int(name, getattr(self, name))
        if self.d_model % self.n_heads != 0:
            divisors = [h for h in range(1, min(self.d_model, 64) + 1) if self.d_model % h == 0]
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}; "
                f"choose n_heads from {divisors} or change d_model"
            )
        check_probability("dropout", self.dropout)
        check_probability("attn_dropout", self.attn_dropout)
        check_number("layer_norm_eps", self.layer_norm_eps, low=0.0, low_open=True)
        check_number("init_std", self.init_std, low=0.0)
        if self.pos_init not in ("normal", "sinusoidal"):
            raise ValueError(f"pos_init={self.pos_init!r} is not allowed; use 'normal' or 'sinusoidal'")
        if self.activation not in ("gelu", "gelu_tanh", "relu"):
            raise ValueError(f"activation={self.activation!r} is not allowed; use 'gelu', 'gelu_tanh' or 'relu'")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"pad_token_id={self.pad_token_id} must lie in [0, vocab_size={self.vocab_size})")

    @property
    def d_head(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_heads

    def replace(self, **changes: Any) -> "ModelConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {unknown}; allowed: {sorted(known)}")
        return cls(**values)


# Widths and depths only; the vocabulary comes from the tokenizer.
# tiny/mini/small/medium are Turc et al. 2019's small BERTs (heads = width / 64).
MODEL_SIZES: dict[str, dict[str, int]] = {
    "nano": dict(d_model=64, n_layers=2, n_heads=2, d_ff=256),
    "micro": dict(d_model=128, n_layers=4, n_heads=4, d_ff=512),
    "tiny": dict(d_model=128, n_layers=2, n_heads=2, d_ff=512),
    "mini": dict(d_model=256, n_layers=4, n_heads=4, d_ff=1024),
    "small": dict(d_model=512, n_layers=4, n_heads=8, d_ff=2048),
    "medium": dict(d_model=512, n_layers=8, n_heads=8, d_ff=2048),
}


def model_config(size: str, **overrides: Any) -> ModelConfig:
    """The `ModelConfig` of a named size, with optional field overrides.

    Example:
        >>> model_config("tiny", vocab_size=1000).d_model
        128
    """
    if size not in MODEL_SIZES:
        raise ValueError(f"unknown model size {size!r}; choose one of {sorted(MODEL_SIZES)}")
    return ModelConfig(**{**MODEL_SIZES[size], **overrides})


@dataclass(frozen=True)
class Preset:
    """How big and how long things are for one kind of machine.

    Notebooks, tests and the CLI read these numbers instead of hard-coding them.
    """

    name: str
    model_size: str  # a key of MODEL_SIZES
    seq_len: int  # tokens per packed pretraining block
    batch_size: int  # sequences per pretraining step
    pretrain_steps: int  # steps of a live pretraining run in a notebook
    meta_steps: int  # outer steps of a live meta-training run in a notebook (at most)
    meta_budget_s: float | None  # ... or this many seconds of it, whichever comes first (None: no limit)
    eval_episodes: int  # test episodes for few-shot evaluation
    cli_pretrain_steps: int  # steps of a full `metalearn-edu pretrain` run (its default --steps)
    lr: float  # peak learning rate of `metalearn-edu pretrain` (its default --lr)
    warmup_steps: int  # its default --warmup-steps
    eval_every: int  # its default --eval-every
    notes: str = ""


PRESETS: dict[str, Preset] = {
    "ci": Preset("ci", model_size="nano", seq_len=64, batch_size=16, pretrain_steps=60, meta_steps=3000,
                 meta_budget_s=None, eval_episodes=100, cli_pretrain_steps=60, lr=2e-3, warmup_steps=10, eval_every=30,
                 notes="the quickest: a couple of minutes per notebook on a 2-core CPU; the stored outputs use it"),
    "cpu": Preset("cpu", model_size="micro", seq_len=128, batch_size=32, pretrain_steps=400, meta_steps=70_000,
                  meta_budget_s=120.0, eval_episodes=600, cli_pretrain_steps=4000, lr=2e-3, warmup_steps=200, eval_every=250,
                  notes="what a student on a laptop gets"),
    "gpu": Preset("gpu", model_size="mini", seq_len=128, batch_size=128, pretrain_steps=5000, meta_steps=70_000,
                  meta_budget_s=None, eval_episodes=1000, cli_pretrain_steps=20000, lr=1e-3, warmup_steps=1000, eval_every=1000,
                  notes="chosen automatically when CUDA is present"),
}


def get_preset(name: str | None = None) -> Preset:
    """Return a run preset: `name`, else ``$METALEARN_PRESET``, else by hardware.

    Raises:
        ValueError: if the name is not a key of `PRESETS`.
    """
    source = "name"
    if name is None:
        name = os.environ.get(PRESET_ENV_VAR) or None
        source = f"${PRESET_ENV_VAR}"
    if name is None:
        import torch

        return PRESETS["gpu" if torch.cuda.is_available() else "cpu"]
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r} (from {source}); choose one of {sorted(PRESETS)}")
    return PRESETS[name]
