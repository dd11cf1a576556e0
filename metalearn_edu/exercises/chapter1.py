"""The exercise checks of Chapter 1 — attention and the Transformer.

* 1.1 ★★ `check_causal_attention`: attention in which query i sees only keys j ≤ i.
* 1.2 ★★ `check_parameter_count`: the parameter count of `BertEncoder(cfg)` from the config alone.
* 1.3 ★ `check_strongest_head`: the (layer, head) with the largest value of a head statistic.
* 1.4 ★★★ `check_cls_attention`: Clark et al.'s "attention to [CLS]" statistic, by hand.

`check_attention_matches_library` is the chapter's own check of its hand-written attention.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch

from ..config import ModelConfig
from ..model import BertEncoder, explicit_attention
from .framework import ExerciseFailed, expect, ok, run_student, without


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), atol=atol, rtol=1e-4))


def _pair(result: object, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(r, torch.Tensor) for r in result)):
        raise ExerciseFailed(f"{what}: return a pair of tensors (output, weights); got {type(result).__name__}")
    return result  # type: ignore[return-value]


def check_causal_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple]) -> None:
    """Exercise 1.1: `fn(q, k, v)` → (out, weights), where query i may only attend to keys j ≤ i.

    Shapes: q, k, v (B, H, T, Dh); out (B, H, T, Dh); weights (B, H, T, T).
    """
    gen = torch.Generator().manual_seed(11)
    for B, H, T, Dh in ((2, 3, 6, 4), (1, 2, 9, 8)):
        q, k, v = (torch.randn(B, H, T, Dh, generator=gen) for _ in range(3))
        where = f"for random q, k, v of shape (B, H, T, Dh) = {(B, H, T, Dh)}"
        out, weights = _pair(run_student(fn, q.clone(), k.clone(), v.clone()), where)
        expect(tuple(weights.shape) == (B, H, T, T),
               f"{where} the weights should have shape (B, H, T, T) = {(B, H, T, T)}, got {tuple(weights.shape)}")
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # key j > query i
        leak = weights[..., future].abs().max().item()
        if leak > 1e-6:
            i, j = divmod(int((weights.abs() * future).amax(dim=(0, 1)).argmax()), T)
            raise ExerciseFailed(f"{where} query {i} gives weight {leak:.3f} to the later key {j}. Hint: set the "
                                 "scores of keys j > i to −inf *before* the softmax (torch.triu(..., diagonal=1))")
        expect(_close(weights.sum(-1), torch.ones(B, H, T)),
               f"{where} the rows of weights do not sum to 1 (e.g. row 0 sums to {weights[0, 0, 0].sum():.3f}). "
               "Hint: take the softmax over the keys (dim=-1) after masking, not before")
        scores = (q @ k.transpose(-2, -1)) / Dh ** 0.5
        expected = scores.masked_fill(future, float("-inf")).softmax(-1)
        if not _close(weights, expected):
            unscaled = (q @ k.transpose(-2, -1)).masked_fill(future, float("-inf")).softmax(-1)
            hint = (". Hint: these are the weights without the 1/√d scaling; divide the scores by √d"
                    if _close(weights, unscaled) else ". Hint: the scores are Q Kᵀ / √d with d = q.shape[-1]")
            raise ExerciseFailed(f"{where} the weights differ from softmax(QKᵀ/√d) with the causal mask{hint}")
        expect(_close(out, expected @ v), f"{where} the weights are right but the output is not. Hint: the output "
                                          "is weights @ v, shape (B, H, T, Dh)")
    ok("causal attention is right: no query sees a later key, rows sum to 1, scaled by 1/√d")


def _random_config(gen: torch.Generator) -> ModelConfig:
    def pick(*choices):
        return choices[int(torch.randint(len(choices), (1,), generator=gen))]

    n_heads = pick(1, 2, 4)
    return ModelConfig(vocab_size=int(torch.randint(50, 3000, (1,), generator=gen)), d_model=8 * n_heads * pick(1, 2, 3),
                       n_layers=pick(1, 2, 3), n_heads=n_heads, d_ff=pick(16, 40, 96),
                       max_len=pick(16, 64, 100), n_segments=pick(1, 2, 3), n_labels=pick(2, 5, 7),
                       pre_ln=bool(pick(False, True)))


def check_parameter_count(fn: Callable[[ModelConfig], int]) -> None:
    """Exercise 1.2: `fn(cfg)` → the number of parameters of `BertEncoder(cfg)` (tied embedding once)."""
    gen = torch.Generator().manual_seed(12)
    configs = [ModelConfig(vocab_size=8000, d_model=128, n_layers=4, n_heads=4, d_ff=512, max_len=128)]
    configs += [_random_config(gen) for _ in range(6)]
    wants = [BertEncoder(cfg).num_parameters() for cfg in configs]
    with without(BertEncoder.num_parameters):
        for cfg, want in zip(configs, wants):
            got = run_student(fn, cfg)
            if got != want:
                D, F, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
                hints = {V * D: "the decoder is tied to the token embedding: count that matrix once",
                         2 * D: "a LayerNorm has two parameters per feature; pre-LN models have one more at the end",
                         V: "the MLM head has an output bias of one value per vocabulary entry",
                         cfg.n_layers * 2 * 2 * D: "each block has two LayerNorms",
                         D * cfg.n_labels + cfg.n_labels: "the classification head ends in a D × n_labels layer"}
                hint = hints.get(abs(got - want), "count weights *and* biases of every Linear layer, the three "
                                                  "embedding tables, every LayerNorm and both heads")
                raise ExerciseFailed(
                    f"for ModelConfig(vocab_size={V}, d_model={D}, n_layers={cfg.n_layers}, d_ff={F}, "
                    f"max_len={cfg.max_len}, n_segments={cfg.n_segments}, n_labels={cfg.n_labels}, "
                    f"pre_ln={cfg.pre_ln}): expected {want:,}, got {got:,} (off by {got - want:+,}). Hint: {hint}")
    ok(f"your formula matches the model's parameter count on {len(configs)} configurations")


def check_strongest_head(fn: Callable[[Mapping[str, torch.Tensor], str], tuple], stats: Mapping[str, torch.Tensor],
                         key: str = "cls") -> None:
    """Exercise 1.3: `fn(stats, key)` → (layer, head) of the head with the largest ``stats[key]``.

    Checked on random (L, H) statistics first, then on the chapter's `stats`, where it names the
    answer.
    """
    gen = torch.Generator().manual_seed(13)
    for L, H in ((3, 5), (6, 12), (2, 7)):
        fake = {"cls": torch.rand(L, H, generator=gen), "sep": torch.rand(L, H, generator=gen)}
        layer, head = divmod(int(fake["sep"].argmax()), H)
        got = run_student(fn, fake, "sep")
        expect(isinstance(got, tuple) and len(got) == 2, f"return a pair (layer, head); got {got!r}")
        expect(tuple(int(x) for x in got) == (layer, head), (
            f"for random (L, H) = ({L}, {H}) statistics, key 'sep': the largest value "
            f"{float(fake['sep'][layer, head]):.3f} sits at layer {layer}, head {head}; you returned {got}. "
            f"Hint: rows are layers and columns heads; divmod(flat_index, H) turns an argmax into (layer, head)"))
    values = stats[key]
    layer, head = divmod(int(values.argmax()), values.shape[1])
    got = run_student(fn, stats, key)
    expect(tuple(int(x) for x in got) == (layer, head), f"on the chapter's statistics you returned {got}, "
                                                        f"expected ({layer}, {head})")
    ok(f"layer {layer}, head {head} attends most to '{key}' ({float(values[layer, head]):.2f} on average)")


def _random_attention(gen: torch.Generator, B: int, H: int, T: int, real: torch.Tensor) -> torch.Tensor:
    scores = torch.randn(B, H, T, T, generator=gen) * 2
    scores = scores.masked_fill(~real[:, None, None, :], float("-inf"))  # padding keys get no attention
    return scores.softmax(-1)


def check_cls_attention(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise 1.4: `fn(attentions, input_ids, attention_mask, cls_id)` → (L, H) mean attention to [CLS].

    For every layer and head: the total attention each real query token pays to the keys that are
    [CLS], averaged over the real (non-padding) query positions of the whole batch, as
    `metalearn_edu.analysis.attention_pattern_stats(...)["cls"]` computes it.
    """
    from ..analysis import attention_pattern_stats

    gen = torch.Generator().manual_seed(14)
    for L, B, H, T, cls_id in ((2, 3, 4, 7, 101), (3, 2, 2, 9, 2)):
        lengths = torch.randint(3, T + 1, (B,), generator=gen)
        lengths[0] = T
        real = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
        ids = torch.randint(200, 300, (B, T), generator=gen)
        ids[:, 0] = cls_id
        ids[1, T // 2] = cls_id  # a second [CLS] in the middle of one sequence
        ids[~real] = 0
        attentions = tuple(_random_attention(gen, B, H, T, real) for _ in range(L))
        mask = real.long()
        want = attention_pattern_stats(attentions, ids, mask, special_ids={"cls": cls_id})["cls"]
        with without(attention_pattern_stats):
            got = run_student(fn, attentions, ids.clone(), mask.clone(), cls_id)
        where = (f"for {L} layers of random attention maps (B, H, T, T) = {(B, H, T, T)}, sequences of lengths "
                 f"{lengths.tolist()} (padding after them) and a [CLS] at position 0 and once in the middle")
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (L, H):
            raise ExerciseFailed(f"{where}: return an (L, H) = {(L, H)} tensor; got "
                                 f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}")
        if not _close(got, want):
            every_query = torch.stack([torch.einsum("bhqk,bk->bhq", a, (ids == cls_id).float()).mean((0, 2))
                                       for a in attentions])
            first_key = torch.stack([a[..., 0].mean((0, 2)) for a in attentions])
            if _close(got, every_query):
                hint = "you averaged over the padding queries too; average over the real query positions only"
            elif _close(got, first_key):
                hint = "you took the attention to position 0; sum over every key whose id is [CLS]"
            else:
                hint = "sum a[b, h, q, k] over the keys k with input_ids[b, k] == cls_id, then average over real q"
            raise ExerciseFailed(f"{where}: expected {want[0].tolist()} for layer 0, got "
                                 f"{[round(float(x), 4) for x in got[0]]}. Hint: {hint}")
    ok("your [CLS] statistic matches attention_pattern_stats on padded batches with two [CLS] keys")


def check_attention_matches_library(fn: Callable, atol: float = 1e-6) -> None:
    """`fn(q, k, v, key_mask)` → (out, weights) must match the library's explicit attention (chapter 1, §2)."""
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 2, 5, 8, generator=gen) for _ in range(3))
    key_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    out, weights = _pair(run_student(fn, q, k, v, key_mask), "attention(q, k, v, key_mask)")
    ref_out, ref_weights = explicit_attention(q, k, v, key_mask, torch.nn.Dropout(0.0))
    expect(_close(weights, ref_weights, atol), "the attention weights differ from the library's explicit "
                                               "attention on a padded batch. Hint: padding keys must get weight 0 "
                                               "(set their scores to −inf before the softmax)")
    expect(_close(out, ref_out, atol), "the weights agree but the output differs. Hint: the output is weights @ v")
    ok("matches metalearn_edu.model.explicit_attention, padding included")
