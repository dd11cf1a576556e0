"""BERT's dynamic masking for masked-language-model (MLM) pretraining.

Devlin et al. (2019) corrupt each training sequence freshly every time it is seen:

1. **select** about ``mask_prob`` (15%) of the ordinary tokens as prediction targets;
2. of the selected tokens, replace 80% by ``[MASK]``, 10% by a random token and keep
   10% unchanged, so the model cannot learn that "only [MASK] positions matter";
3. the loss is computed only at the selected positions (``labels`` is -100 elsewhere,
   the value `torch.nn.functional.cross_entropy` ignores by default).

Design choices (all vectorised; there is no Python loop over tokens):

* **Selection is per-token Bernoulli(mask_prob)** among the eligible tokens, as in
  Hugging Face's ``DataCollatorForLanguageModeling``. The number of selected tokens
  per sequence therefore varies (Google's original ``create_pretraining_data.py``
  picks exactly ``round(mask_prob * n)`` instead); on average the fraction is
  ``mask_prob``. A short sequence may get no target at all; the loss just ignores it.
* **Eligible tokens** are those that are neither special ids (``[CLS]``, ``[SEP]``,
  ``[PAD]``, ``[UNK]``, ``[MASK]``, ... as listed in `MaskingVocab.special_ids`) nor
  padding (``attention_mask == 0``).
* **Random replacements** are drawn uniformly from the non-special ids, so a
  "random" token is never ``[CLS]`` or ``[PAD]``. As in BERT, a random draw may
  coincide with the original token.
* **Whole-word masking** (``whole_word=True``): a word is a non-continuation token
  followed by its ``##`` continuations. Words are selected with probability
  ``mask_prob`` and all their pieces become targets together; each selected piece
  then *independently* gets the 80/10/10 treatment, exactly as in Google's
  implementation. A ``##`` piece right after a special token or padding (e.g. a
  word whose first piece was ``[UNK]``, or one cut by truncation) starts a word
  of its own. Word membership comes from a running maximum (``cummax``) over
  word-start positions, so there are no loops and no host-device syncs.
* **Randomness** comes only from the ``generator`` argument. Random numbers are
  drawn on the generator's device (CPU by default) and then moved to the device of
  ``input_ids``, so the same seed gives the same masking on CPU and GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .checks import check_number

IGNORE_INDEX = -100  # label value that cross_entropy ignores


@dataclass(frozen=True)
class MaskingConfig:
    """How many tokens to select and how to corrupt them.

    The fraction of selected tokens that is *kept* unchanged is
    ``1 - mask_token_frac - random_token_frac`` (`keep_frac`).

    Example:
        >>> MaskingConfig().keep_frac
        0.1
        >>> MaskingConfig(mask_prob=0.3, mask_token_frac=0.5, random_token_frac=0.5).keep_frac
        0.0
    """

    mask_prob: float = 0.15  # probability that an eligible token (or word) is selected
    mask_token_frac: float = 0.8  # fraction of selected tokens replaced by [MASK]
    random_token_frac: float = 0.1  # fraction of selected tokens replaced by a random token
    whole_word: bool = False  # select whole words (a token plus its '##' pieces) together

    def __post_init__(self) -> None:
        check_number("mask_prob", self.mask_prob, low=0.0, high=1.0, low_open=True)
        check_number("mask_token_frac", self.mask_token_frac, low=0.0, high=1.0)
        check_number("random_token_frac", self.random_token_frac, low=0.0, high=1.0)
        if not isinstance(self.whole_word, bool):
            raise ValueError(f"whole_word={self.whole_word!r} is not allowed; it must be True or False")
        total = float(self.mask_token_frac) + float(self.random_token_frac)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"mask_token_frac + random_token_frac = {self.mask_token_frac!r} + {self.random_token_frac!r} "
                f"= {total:g} is not allowed; the sum must lie in [0, 1] (the rest is kept unchanged)"
            )

    @property
    def keep_frac(self) -> float:
        """Fraction of selected tokens that are left unchanged (rounded to 12 decimals)."""
        return max(0.0, round(1.0 - float(self.mask_token_frac) - float(self.random_token_frac), 12))


@dataclass(frozen=True, eq=False)
class MaskingVocab:
    """What `mask_tokens` needs to know about the vocabulary.

    Build it by hand from plain ids, or with `MaskingVocab.from_tokenizer`.

    Args:
        vocab_size: number of ids ``V``; every input id must lie in ``[0, V)``.
        mask_id: id of ``[MASK]``.
        special_ids: ids that are never selected nor drawn as random replacements
            (``[PAD]``, ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]``). ``mask_id`` is
            treated as special even if it is not listed.
        continuation: ``(V,)`` bool tensor, True for ``##`` WordPiece continuations;
            needed only for whole-word masking.

    Example:
        >>> vocab = MaskingVocab(vocab_size=100, mask_id=4, special_ids=(0, 1, 2, 3, 4))
        >>> int(vocab.random_ids.numel())
        95
    """

    vocab_size: int
    mask_id: int
    special_ids: tuple[int, ...]
    continuation: torch.Tensor | None = None  # (V,) bool, True for '##' WordPieces
    random_ids: torch.Tensor = field(init=False, repr=False)  # (V - n_special,) replacement candidates

    def __post_init__(self) -> None:
        if not isinstance(self.vocab_size, int) or self.vocab_size < 2:
            raise ValueError(f"vocab_size={self.vocab_size!r} is not allowed; it must be an integer >= 2")
        if not 0 <= int(self.mask_id) < self.vocab_size:
            raise ValueError(f"mask_id={self.mask_id!r} is not allowed; it must lie in [0, vocab_size={self.vocab_size})")
        special = tuple(sorted({int(i) for i in self.special_ids} | {int(self.mask_id)}))
        bad = [i for i in special if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"special_ids contains {bad}; every id must lie in [0, vocab_size={self.vocab_size})")
        object.__setattr__(self, "special_ids", special)
        if self.continuation is not None:
            cont = torch.as_tensor(self.continuation)
            if cont.shape != (self.vocab_size,) or cont.dtype != torch.bool:
                raise ValueError(
                    f"continuation has shape {tuple(cont.shape)} and dtype {cont.dtype}; "
                    f"it must be a bool tensor of shape ({self.vocab_size},)"
                )
            object.__setattr__(self, "continuation", cont)
        ordinary = torch.ones(self.vocab_size, dtype=torch.bool)
        ordinary[list(special)] = False
        random_ids = ordinary.nonzero().squeeze(1)
        if random_ids.numel() == 0:
            raise ValueError("special_ids covers the whole vocabulary; at least one id must be non-special")
        object.__setattr__(self, "random_ids", random_ids)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> "MaskingVocab":
        """Read the vocabulary facts from a (Hugging Face style) WordPiece tokenizer.

        Any object with ``len(tokenizer)``, ``.mask_token_id``, ``.all_special_ids``
        and ``.convert_ids_to_tokens`` works.

        Args:
            tokenizer: the tokenizer, e.g. a ``transformers.BertTokenizerFast``.

        Returns:
            The `MaskingVocab`, with ``continuation`` marking tokens that start with ``##``.
        """
        vocab_size = len(tokenizer)
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token (mask_token_id is None); MLM needs one")
        tokens = tokenizer.convert_ids_to_tokens(list(range(vocab_size)))
        continuation = torch.tensor([str(t).startswith("##") for t in tokens], dtype=torch.bool)
        return cls(
            vocab_size=vocab_size,
            mask_id=int(tokenizer.mask_token_id),
            special_ids=tuple(int(i) for i in tokenizer.all_special_ids),
            continuation=continuation,
        )


@dataclass
class MaskedBatch:
    """The result of `mask_tokens`; all fields have shape ``(B, T)``.

    ``selected == masked | randomized | kept``, and the three parts are disjoint.

    Attributes:
        input_ids: the corrupted ids to feed the model.
        labels: the original id at selected positions, -100 elsewhere.
        selected: bool, True where the model must predict the original token.
        masked: bool, selected positions replaced by ``[MASK]``.
        randomized: bool, selected positions replaced by a random token.
        kept: bool, selected positions left unchanged.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    selected: torch.Tensor
    masked: torch.Tensor
    randomized: torch.Tensor
    kept: torch.Tensor


def eligible_positions(
    input_ids: torch.Tensor, vocab: MaskingVocab, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Positions that may be selected: not a special id and not padding.

    Args:
        input_ids: token ids.
        vocab: the vocabulary facts.
        attention_mask: 1 for real tokens, 0 for padding; None means all real.

    Returns:
        Bool tensor shaped like ``input_ids``.

    Shapes:
        input_ids, attention_mask, result: (B, T)
    """
    special = torch.tensor(vocab.special_ids, device=input_ids.device, dtype=input_ids.dtype)
    eligible = ~torch.isin(input_ids, special)
    if attention_mask is not None:
        eligible &= attention_mask.to(input_ids.device) != 0
    return eligible


def word_starts(input_ids: torch.Tensor, eligible: torch.Tensor, continuation: torch.Tensor) -> torch.Tensor:
    """Eligible tokens that begin a word.

    A token begins a word unless it is a ``##`` continuation directly after another
    eligible token.

    Args:
        input_ids: token ids.
        eligible: output of `eligible_positions`.
        continuation: ``(V,)`` bool, True for ``##`` pieces.

    Returns:
        Bool tensor shaped like ``input_ids``.

    Shapes:
        input_ids, eligible, result: (B, T); continuation: (V,)
    """
    is_cont = continuation.to(input_ids.device)[input_ids]  # (B, T)
    prev_eligible = torch.zeros_like(eligible)
    prev_eligible[:, 1:] = eligible[:, :-1]
    return eligible & (~is_cont | ~prev_eligible)


def _select_words(
    input_ids: torch.Tensor, eligible: torch.Tensor, continuation: torch.Tensor, uniform: torch.Tensor, mask_prob: float
) -> torch.Tensor:
    """Select whole words: a word is chosen when the uniform draw at its first piece is < mask_prob.

    Every token looks up the position of the latest word start at or before it (a
    running maximum over start positions, flattened over the batch; a row always
    begins a new word), so all pieces of a word share one decision.
    """
    starts = word_starts(input_ids, eligible, continuation).flatten()  # (B*T,)
    position = torch.arange(starts.numel(), device=starts.device)  # (B*T,)
    start_of_word = torch.cummax(torch.where(starts, position, 0), dim=0).values  # (B*T,)
    chosen = starts & (uniform.flatten() < mask_prob)  # (B*T,) decision stored at each word start
    return chosen[start_of_word].view_as(eligible) & eligible  # (B, T)


def mask_tokens(
    input_ids: torch.Tensor,
    vocab: MaskingVocab,
    config: MaskingConfig = MaskingConfig(),
    generator: torch.Generator | None = None,
    attention_mask: torch.Tensor | None = None,
) -> MaskedBatch:
    """Apply BERT's dynamic masking to a batch of token ids.

    Args:
        input_ids: integer token ids; not modified.
        vocab: vocabulary facts (`MaskingVocab`).
        config: probabilities and whole-word switch (`MaskingConfig`).
        generator: the source of randomness. Random numbers are drawn on its device
            and moved to ``input_ids.device``. ``None`` creates a fresh generator
            seeded from the operating system (not reproducible; torch's global RNG
            is never used).
        attention_mask: 1 for real tokens, 0 for padding (never selected); None
            means every position is real.

    Returns:
        A `MaskedBatch` on the device of ``input_ids``.

    Shapes:
        input_ids, attention_mask: (B, T); every field of the result: (B, T)

    Example:
        >>> vocab = MaskingVocab(vocab_size=50, mask_id=4, special_ids=(0, 1, 2, 3, 4))
        >>> ids = torch.tensor([[2, 10, 11, 12, 3, 0]])
        >>> out = mask_tokens(ids, vocab, MaskingConfig(mask_prob=1.0, mask_token_frac=1.0, random_token_frac=0.0),
        ...                   torch.Generator().manual_seed(0), attention_mask=torch.tensor([[1, 1, 1, 1, 1, 0]]))
        >>> out.input_ids.tolist(), out.labels.tolist()
        ([[2, 4, 4, 4, 3, 0]], [[-100, 10, 11, 12, -100, -100]])
    """
    _check_inputs(input_ids, vocab, attention_mask, config)
    if generator is None:
        generator = torch.Generator()
        generator.seed()
    device = input_ids.device

    def draw_uniform() -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator, device=generator.device).to(device)

    # 1) choose the prediction targets
    eligible = eligible_positions(input_ids, vocab, attention_mask)  # (B, T)
    select_u = draw_uniform()  # (B, T)
    if config.whole_word:
        selected = _select_words(input_ids, eligible, vocab.continuation, select_u, config.mask_prob)
    else:
        selected = eligible & (select_u < config.mask_prob)

    # 2) split the targets 80/10/10 with one uniform draw per token
    action_u = draw_uniform()  # (B, T)
    mask_cut = config.mask_token_frac
    random_cut = 1.0 if config.keep_frac == 0 else config.mask_token_frac + config.random_token_frac  # 0.7 + 0.3 < 1 in floats
    masked = selected & (action_u < mask_cut)
    randomized = selected & (action_u >= mask_cut) & (action_u < random_cut)
    kept = selected & ~masked & ~randomized

    # 3) random replacement ids, uniform over the non-special ids
    candidates = vocab.random_ids.to(generator.device)
    pick = torch.randint(len(candidates), input_ids.shape, generator=generator, device=generator.device)
    random_ids = candidates[pick].to(device=device, dtype=input_ids.dtype)  # (B, T)

    # 4) corrupt a copy and build the labels
    corrupted = torch.where(masked, torch.full_like(input_ids, vocab.mask_id), input_ids)
    corrupted = torch.where(randomized, random_ids, corrupted)
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return MaskedBatch(corrupted, labels, selected, masked, randomized, kept)


def _check_inputs(
    input_ids: torch.Tensor, vocab: MaskingVocab, attention_mask: torch.Tensor | None, config: MaskingConfig
) -> None:
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise ValueError(
            f"input_ids must be a (B, T) tensor, got {shape}; use input_ids.unsqueeze(0) for a single sequence"
        )
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
        raise ValueError(f"input_ids must hold integer ids, got dtype {input_ids.dtype}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_ids has {tuple(input_ids.shape)}; "
            "they must match"
        )
    if input_ids.numel() > 0:
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= vocab.vocab_size:
            raise ValueError(
                f"input_ids contains ids in [{lo}, {hi}] but every id must lie in [0, vocab_size={vocab.vocab_size})"
            )
    if config.whole_word and vocab.continuation is None:
        raise ValueError(
            "whole_word=True needs vocab.continuation (which ids are '##' pieces); "
            "build the vocab with MaskingVocab.from_tokenizer(tokenizer) or pass continuation="
        )
