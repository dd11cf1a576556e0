"""The exercise checks of Chapter 6 — meta-learning as pretraining."""

from __future__ import annotations

from typing import Callable

from .framework import ok, run_student, without


def check_mask_word(fn: Callable[[str, str], str]) -> None:
    """Exercise 6.1: `fn(sentence, word)` → the SMLMT input: every whole-word occurrence of `word` → [MASK]."""
    from ..episodes import mask_word

    cases = [("Shares rose; shares fell. Shareholders left.", "shares"),
             ("The Bank said the bank would act.", "bank"),
             ("Nothing to hide here.", "film"),
             ("Film-makers love film festivals.", "film")]
    for sentence, word in cases:
        want = mask_word(sentence, word)
        with without(mask_word):
            got = run_student(fn, sentence, word)
        assert got == want, (f"for ({sentence!r}, {word!r}) expected {want!r}, got {got!r} — match whole words "
                             "in any case, and leave longer words that merely contain it alone")
    ok("your masking builds the same SMLMT inputs as the library")
