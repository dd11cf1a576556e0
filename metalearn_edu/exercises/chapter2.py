"""The exercise checks of Chapter 2 — masked-language modelling.

* 2.1 ★ `check_perplexity_ratio`: how many times lower one perplexity is than another.
* 2.2 ★★ `check_unigram_loss`: the loss of the unigram baseline (add-one smoothed frequencies).
* 2.3 ★★★ `check_bert_masking`: BERT's 80/10/10 corruption, compared with `mask_tokens`' statistics.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from ..masking import IGNORE_INDEX, MaskingConfig, MaskingVocab
from .framework import ExerciseFailed, expect, ok, run_student, without


def check_perplexity_ratio(fn: Callable[[float, float], float], metrics: dict | None = None) -> None:
    """Exercise 2.1: `fn(loss, unigram_loss)` → perplexity of the unigram baseline / perplexity of the model.

    Both losses are mean negative log-likelihoods in nats; perplexity is exp(loss).
    """
    gen = torch.Generator().manual_seed(21)
    cases = [(float(a), float(a + d)) for a, d in zip(torch.rand(4, generator=gen) * 5 + 2, torch.rand(4, generator=gen) * 3)]
    if metrics is not None:
        cases.append((metrics["loss"], metrics["unigram_loss"]))
    for loss, unigram in cases:
        want = math.exp(unigram) / math.exp(loss)
        got = float(run_student(fn, loss, unigram))
        if not abs(got - want) <= 1e-6 * want:
            hint = ("that is the ratio of the losses, not of the perplexities" if abs(got - unigram / loss) < 1e-6
                    else "that is the inverse ratio" if abs(got * want - 1) < 1e-6
                    else "perplexity is exp(loss), so the ratio is exp(unigram_loss) / exp(loss) = exp(unigram_loss − loss)")
            raise ExerciseFailed(f"for loss {loss:.3f} and unigram loss {unigram:.3f} nats: expected {want:.4g}, got "
                                 f"{got:.4g}. Hint: {hint}")
    if metrics is not None:
        ok(f"the shipped checkpoint's perplexity is {math.exp(metrics['unigram_loss'] - metrics['loss']):.1f}× lower "
           "than the unigram baseline's")
    else:
        ok("your perplexity ratio is right on 4 random pairs of losses")


def check_unigram_loss(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> None:
    """Exercise 2.2: `fn(counts, labels)` → the unigram baseline's mean loss (nats) on the targets of `labels`.

    counts: (V,) training counts of each id; labels: (B, T) MLM labels, −100 where nothing is
    predicted. With add-one smoothing p(v) = (count_v + 1) / (N + V), the loss is the mean of
    −log p(label) over the positions whose label is not −100.
    """
    from ..analysis import unigram_log_probs, unigram_loss

    gen = torch.Generator().manual_seed(22)
    for V in (12, 300):
        counts = torch.randint(0, 50, (V,), generator=gen)
        counts[:3] = 0  # some ids never seen in training: smoothing keeps them finite
        labels = torch.randint(0, V, (4, 16), generator=gen)
        labels[torch.rand(4, 16, generator=gen) < 0.8] = IGNORE_INDEX
        labels[0, 0] = 1  # an unseen id as a target
        want = unigram_loss(unigram_log_probs(counts, smoothing=1.0), labels)
        with without(unigram_log_probs, unigram_loss):
            got = float(run_student(fn, counts.clone(), labels.clone()))
        where = (f"for random counts over V={V} ids (three of them never seen) and a (4, 16) label tensor with "
                 f"{int((labels != IGNORE_INDEX).sum())} targets")
        if not abs(got - want) < 1e-5:
            n = counts.sum().item()
            p = (counts.double() + 1) / (n + V)
            everywhere = float(-p.log()[labels.clamp(min=0)].mean())
            unsmoothed = (counts.double() / n).log()[labels[labels != IGNORE_INDEX]]
            if abs(got - everywhere) < 1e-5:
                hint = "you averaged over every position; skip those whose label is −100"
            elif not math.isfinite(got) or abs(got - float(-unsmoothed[torch.isfinite(unsmoothed)].mean())) < 1e-5:
                hint = "without smoothing an unseen id has probability 0; add 1 to every count (and V to the total)"
            else:
                hint = "p(v) = (count_v + 1) / (N + V), and the loss is the mean of −log p over the targets"
            raise ExerciseFailed(f"{where}: expected {want:.4f} nats, got {got:.4f}. Hint: {hint}")
    ok("your unigram baseline matches analysis.unigram_loss (with add-one smoothing)")


def _split(corrupted: torch.Tensor, labels: torch.Tensor, original: torch.Tensor, mask_id: int) -> dict[str, torch.Tensor]:
    selected = labels != IGNORE_INDEX
    masked = selected & (corrupted == mask_id)
    kept = selected & (corrupted == original)
    return {"selected": selected, "masked": masked, "kept": kept, "random": selected & ~masked & ~kept}


def _fractions(parts: dict[str, torch.Tensor], eligible: torch.Tensor) -> dict[str, float]:
    n = max(int(parts["selected"].sum()), 1)
    return {"selected": int(parts["selected"].sum()) / int(eligible.sum()), "[MASK]": int(parts["masked"].sum()) / n,
            "random": int(parts["random"].sum()) / n, "kept": int(parts["kept"].sum()) / n}


def check_bert_masking(fn: Callable[[torch.Tensor, MaskingVocab, torch.Generator], tuple]) -> None:
    """Exercise 2.3: `fn(input_ids, vocab, generator)` → (corrupted_ids, labels), BERT's 80/10/10 rule.

    Select each non-special token with probability 0.15; of the selected, 80% become
    ``vocab.mask_id``, 10% a random id from ``vocab.random_ids``, 10% stay; labels hold the
    original id at selected positions and −100 elsewhere. All randomness from `generator`.

    The check draws a fresh batch (random ids with [CLS], [SEP], [PAD] and [UNK] among them), and
    compares your corruption's statistics with `metalearn_edu.masking.mask_tokens`' on the same batch.
    """
    from ..masking import mask_tokens

    gen = torch.Generator().manual_seed(23)
    V, B, T = 700, 256, 128
    vocab = MaskingVocab(vocab_size=V, mask_id=4, special_ids=(0, 1, 2, 3, 4))  # PAD, UNK, CLS, SEP, MASK
    ids = torch.randint(5, V, (B, T), generator=gen)
    ids[:, 0], ids[:, -1] = 2, 3
    ids[torch.rand(B, T, generator=gen) < 0.05] = 1  # some [UNK]
    lengths = torch.randint(T // 2, T, (B,), generator=gen)
    ids[torch.arange(T)[None, :] > lengths[:, None]] = 0  # padding at the end of half the rows
    special = torch.isin(ids, torch.tensor(vocab.special_ids))
    eligible = ~special
    reference = mask_tokens(ids, vocab, MaskingConfig(), generator=torch.Generator().manual_seed(5))
    want = _fractions({"selected": reference.selected, "masked": reference.masked,
                       "random": reference.randomized, "kept": reference.kept}, eligible)
    where = (f"on a fresh batch of {B} × {T} random ids (vocabulary {V}, ids 0–4 special: [PAD] [UNK] [CLS] "
             f"[SEP] [MASK]; {int(eligible.sum()):,} eligible tokens)")

    original = ids.clone()
    with without(mask_tokens):
        result = run_student(fn, ids, vocab, torch.Generator().manual_seed(5))
        again = run_student(fn, ids.clone(), vocab, torch.Generator().manual_seed(5))
        other = run_student(fn, ids.clone(), vocab, torch.Generator().manual_seed(6))
    if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(r, torch.Tensor) for r in result)):
        raise ExerciseFailed(f"return a pair of tensors (corrupted_ids, labels); got {type(result).__name__}")
    corrupted, labels = result
    expect(torch.equal(ids, original), f"{where}: your function changed input_ids in place. Hint: corrupt a copy (input_ids.clone())")
    for name, t in (("corrupted_ids", corrupted), ("labels", labels)):
        expect(tuple(t.shape) == (B, T) and not t.is_floating_point(),
               f"{name} should be an integer tensor of shape {(B, T)}; got {t.dtype} {tuple(t.shape)}")
    expect(torch.equal(again[0], corrupted) and torch.equal(again[1], labels),
           f"{where}, the same seed gave two different corruptions. Hint: draw every random number with "
           "generator=generator (torch.rand(..., generator=generator)), never from torch's global RNG")
    expect(not torch.equal(other[1], labels), f"{where}, two different seeds gave the same targets. Hint: the "
                                              "selection must be random, drawn with the generator")
    parts = _split(corrupted, labels, ids, vocab.mask_id)
    sel = parts["selected"]
    if (sel & special).any():
        r, c = (int(x) for x in (sel & special).nonzero()[0])
        raise ExerciseFailed(f"{where}: row {r}, position {c} holds the special id {int(ids[r, c])} and was "
                             "selected. Hint: never select ids in vocab.special_ids (torch.isin)")
    expect(torch.equal(labels[sel], ids[sel]), f"{where}: a label differs from the original id. Hint: labels hold "
                                               "the original id at selected positions and −100 everywhere else")
    expect(torch.equal(corrupted[~sel], ids[~sel]), (
        f"{where}: {int((corrupted[~sel] != ids[~sel]).sum())} positions whose label is −100 were changed; only "
        "selected tokens are corrupted, and every corrupted token must get its label"))
    replaced = corrupted[parts["random"]]
    expect(not torch.isin(replaced, torch.tensor(vocab.special_ids)).any(),
           f"{where}: a random replacement is a special id. Hint: draw replacements from vocab.random_ids")
    got = _fractions(parts, eligible)
    shown = ", ".join(f"{k} {got[k]:.3f} (mask_tokens: {want[k]:.3f})" for k in got)
    expect(abs(got["selected"] - 0.15) < 0.01 and abs(got["selected"] - want["selected"]) < 0.01, (
        f"{where}: you selected {got['selected']:.1%} of the eligible tokens, mask_tokens {want['selected']:.1%}. "
        "Hint: select each eligible token independently with probability 0.15"))
    expect(abs(got["[MASK]"] - 0.8) < 0.03 and abs(got["random"] - 0.1) < 0.02 and abs(got["kept"] - 0.1) < 0.02, (
        f"{where}: the split of the selected tokens is {shown}; expected 80/10/10 within 3/2/2 points. Hint: draw "
        "one more uniform number per token and split [0, 1) into [0, 0.8), [0.8, 0.9), [0.9, 1) *among the selected*"))
    distinct = int(replaced.unique().numel())
    expect(distinct > 50, f"{where}: your {replaced.numel()} random replacements use only {distinct} distinct ids; "
                          "Hint: draw each one uniformly from vocab.random_ids")
    ok(f"your masking matches BERT's rule: {shown}")
