"""The exercise checks of Chapter 9 — learning in context.

* 9.1 ★ `check_context_tokens`: the input rows of the in-context regressor.
* 9.2 ★★ `check_induction_score`: one head's induction score on repeated sequences.
"""

from __future__ import annotations

from typing import Callable

import torch

from .framework import ExerciseFailed, expect, ok, run_student, without


def check_context_tokens(fn: Callable) -> None:
    """Exercise 9.1: `fn(support_x, support_y, query_x, x_scale, y_scale)` → (support rows (K, 3), query rows (M, 3)).

    A support row is [x/s_x, y/s_y, 1], a query row [x/s_x, 0, 0]; compared with
    `metalearn_edu.meta.in_context.context_tokens` on sine points the notebook has not drawn.
    """
    from ..episodes import SinusoidTasks
    from ..meta.in_context import context_tokens

    for index, (k, m, sx, sy) in enumerate(((4, 3, 5.0, 5.0), (7, 2, 2.0, 8.0))):
        ep = SinusoidTasks(seed=4242).episode(index, k_shot=k, k_query=m)
        want_s, want_q = context_tokens(ep.support_x, ep.support_y, ep.query_x, sx, sy)
        with without(context_tokens):
            got = run_student(fn, ep.support_x.clone(), ep.support_y.clone(), ep.query_x.clone(), sx, sy)
        where = f"for K={k} support pairs, M={m} queries, x_scale={sx:g}, y_scale={sy:g}"
        expect(isinstance(got, (tuple, list)) and len(got) == 2,
               f"{where}: return a pair (support_rows, query_rows); got {type(got).__name__}")
        got_s, got_q = (torch.as_tensor(t).detach().float() for t in got)
        for name, g, w in (("support_rows", got_s, want_s), ("query_rows", got_q, want_q)):
            expect(tuple(g.shape) == tuple(w.shape), f"{where}: {name} has shape {tuple(g.shape)}, "
                                                     f"expected {tuple(w.shape)} (one row of 3 numbers per point)")
        if not torch.allclose(got_s, want_s, atol=1e-6):
            if torch.allclose(got_s[:, :2], torch.cat([ep.support_x, ep.support_y], 1), atol=1e-6):
                hint = "the rows are not scaled: divide x by x_scale and y by y_scale"
            elif torch.allclose(got_s[:, :2], want_s[:, [1, 0]], atol=1e-6):
                hint = "x and y are swapped: a row is [x/s_x, y/s_y, 1]"
            elif torch.allclose(got_s[:, :2], want_s[:, :2], atol=1e-6):
                hint = "the third entry of a support row is 1 (this token carries a label)"
            else:
                hint = "a support row is [x/s_x, y/s_y, 1]"
            raise ExerciseFailed(f"{where}: the support rows differ from the library's. Hint: {hint}")
        if not torch.allclose(got_q, want_q, atol=1e-6):
            hint = ("the third entry of a query row is 0 (no label): with 1, a query looks like a support point "
                    "whose y is 0" if torch.allclose(got_q[:, :2], want_q[:, :2], atol=1e-6) and
                    torch.allclose(got_q[:, 2], torch.ones(m)) else "a query row is [x/s_x, 0, 0]")
            raise ExerciseFailed(f"{where}: the query rows differ from the library's. Hint: {hint}")
    ok("your context rows equal the library's: [x/s_x, y/s_y, 1] for support pairs, [x/s_x, 0, 0] for queries")


def _repeated_attention(seed: int, B: int, T: int, H: int):
    """Random causal attention patterns (B, H, T, T) and segment lengths (B,) for repeated sequences."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, T // 2 + 1, (B,), generator=g)
    scores = torch.randn(B, H, T, T, generator=g) * 2
    scores = scores.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return scores.softmax(-1), lengths


def check_induction_score(fn: Callable) -> None:
    """Exercise 9.2: `fn(attention, lengths)` → the induction score of one head.

    ``attention`` is (B, T, T), one head's weights on B sequences that repeat a segment of length
    ``lengths[b]``; the score is the mean, over positions t ≥ L of every sequence, of the weight from
    t to t − L + 1 (the token after the previous occurrence of token t). Compared with
    `metalearn_edu.meta.in_context.head_scores` on attention patterns the notebook has not seen.
    """
    from ..meta.in_context import head_scores

    for seed, B, T in ((3, 4, 16), (4, 3, 21)):
        attention, lengths = _repeated_attention(seed, B, T, 1)
        want = float(head_scores([attention], lengths, offset=1)[0, 0])
        duplicate = float(head_scores([attention], lengths, offset=0)[0, 0])
        two_back = float(head_scores([attention], lengths, offset=2)[0, 0])
        everywhere = float(torch.stack([attention[b, 0, t, max(t - int(L) + 1, 0)]
                                        for b, L in enumerate(lengths) for t in range(T)]).mean())
        with without(head_scores):
            got = run_student(fn, attention[:, 0].clone(), lengths.clone())
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise ExerciseFailed(f"return one number (a float or a 0-d tensor); got {type(got).__name__}") from None
        where = f"for {B} sequences of {T} tokens with segment lengths {lengths.tolist()}"
        if abs(got - want) > 1e-5:
            hints = {duplicate: "that is the duplicate-token score (t − L): the induction head looks one token "
                                "further, at t − L + 1",
                     two_back: "off by one: the key is t − L + 1, not t − L + 2",
                     everywhere: "average only over positions t ≥ L (earlier tokens have no previous occurrence)"}
            hint = next((h for v, h in hints.items() if abs(got - v) < 1e-5),
                        "for each sequence b and each t ≥ L_b take attention[b, t, t − L_b + 1]; average them all")
            raise ExerciseFailed(f"{where}: expected {want:.4f}, got {got:.4f}. Hint: {hint}")
    ok("your induction score equals head_scores(..., offset=1): attention from t to t − L + 1, averaged over t ≥ L")
