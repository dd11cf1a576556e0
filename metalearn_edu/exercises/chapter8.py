"""The exercise checks of Chapter 8 — a second language and a token-level task.

* 8.1 ★★ `check_bio_to_spans`: the entities of a BIO tag sequence (lenient IOB2, as seqeval).
* 8.2 ★★ `check_span_f1`: entity-level micro F1 over sentences (exact start, end and type).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

from .framework import ExerciseFailed, expect, ok, run_student, without

_TYPES = ("PER", "LOC", "ORG")


def _random_tags(gen: torch.Generator, length: int) -> list[str]:
    tags = []
    for _ in range(length):
        r = float(torch.rand((), generator=gen))
        kind = _TYPES[int(torch.randint(0, 3, (), generator=gen))]
        tags.append("O" if r < 0.5 else f"B-{kind}" if r < 0.7 else f"I-{kind}")
    return tags


def check_bio_to_spans(fn: Callable[[Sequence[str]], Any]) -> None:
    """Exercise 8.1: `fn(tags)` → the entities as a list of ``(start, end, type)``, end exclusive.

    ``B-X`` starts an entity of type X; ``I-X`` continues an open entity of type X, and otherwise
    starts one (an ill-formed ``O I-X`` still counts); ``O`` closes the open entity.
    """
    from ..ner import bio_to_spans

    gen = torch.Generator().manual_seed(81)
    cases = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "I-LOC", "I-LOC", "B-LOC", "I-PER"],
             ["B-ORG", "B-ORG", "I-ORG", "I-LOC"], [], ["O", "O"], ["I-PER"]]
    cases += [_random_tags(gen, 12) for _ in range(20)]
    for tags in cases:
        want = bio_to_spans(tags)
        with without(bio_to_spans):
            got = run_student(fn, list(tags))
        got_list = sorted(tuple(s) for s in got)
        if got_list != sorted(want):
            missing = sorted(set(want) - set(got_list))
            extra = sorted(set(got_list) - set(want))
            hint = ("an I- tag after O, or after an entity of another type, starts a new entity"
                    if any(tags[s].startswith("I-") for s, _, _ in missing)
                    else "is the last entity closed at the end of the sentence?"
                    if any(e == len(tags) for _, e, _ in missing) and not extra else
                    "end is exclusive: the entity B-PER I-PER at 0, 1 is (0, 2, 'PER')")
            raise ExerciseFailed(f"for {tags}: expected {want}, got {got_list} (missing {missing}, extra {extra}). "
                                 f"Hint: {hint}")
    ok("your spans match the library's on 26 tag sequences, ill-formed ones included")


def check_span_f1(fn: Callable[[Sequence[Sequence[str]], Sequence[Sequence[str]]], float]) -> None:
    """Exercise 8.2: `fn(gold, pred)` → entity-level micro F1 over all sentences.

    `gold` and `pred` hold one BIO tag list per sentence. Count the gold entities, the predicted
    ones and the correct ones (same sentence, same start, end and type) over all sentences, then
    P = correct / predicted, R = correct / gold, F1 = 2PR / (P + R) (0 when P + R = 0; the check
    never asks about the corner case with no entities at all). You may use
    your `bio_spans` from 8.1 (or `metalearn_edu.ner.bio_to_spans`).
    """
    from ..ner import span_f1

    gen = torch.Generator().manual_seed(82)
    fixed = [([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]], "a prediction that covers part of an entity"),
             ([["B-LOC", "O"], ["O", "B-ORG"]], [["B-LOC", "O"], ["O", "B-ORG"]], "a perfect prediction"),
             ([["B-LOC", "O"]], [["B-ORG", "O"]], "the right span with the wrong type")]
    random_cases = []
    for _ in range(6):
        gold = [_random_tags(gen, 10) for _ in range(4)]
        pred = [[t if float(torch.rand((), generator=gen)) < 0.7 else _random_tags(gen, 1)[0] for t in row] for row in gold]
        random_cases.append((gold, pred, "four random sentences"))
    for gold, pred, what in fixed + random_cases:
        want = span_f1(gold, pred)["f1"]
        with without(span_f1):
            got = run_student(fn, [list(r) for r in gold], [list(r) for r in pred])
        if not math.isclose(float(got), want, abs_tol=1e-9):
            counts = span_f1(gold, pred)
            hint = ("a partly overlapping span is wrong, not half right: compare whole (start, end, type) triples"
                    if "part" in what else
                    "sum the counts over all sentences first (micro average), then compute P, R and F1"
                    if len(gold) > 1 else "F1 = 2PR / (P + R)")
            raise ExerciseFailed(f"for {what}: expected F1 {want:.4f} (gold {counts['n_gold']}, predicted "
                                 f"{counts['n_pred']}, correct {counts['n_correct']}), got {float(got):.4f}. Hint: {hint}")
    ok("your entity-level F1 matches the library's (the CoNLL measure)")
