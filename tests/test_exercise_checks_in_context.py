"""The exercise checks of chapter 9 (`metalearn_edu.exercises.chapter9`): the notebook's solutions pass,
near misses fail with a hint, stubs and calls of the library's own function are refused."""

from __future__ import annotations

import pytest
import torch

from metalearn_edu import exercises as ex
from metalearn_edu.exercises import ExerciseFailed, ExerciseNotDone


def _stub(hint: str):
    def stub(*args, **kwargs):
        raise NotImplementedError(hint)
    return stub


def _fails(check, fn, match: str) -> None:
    with pytest.raises(ExerciseFailed, match=match) as info:
        check(fn)
    assert "Hint: " in str(info.value) or "return" in str(info.value)


# the notebook's solutions
def context_tokens(support_x, support_y, query_x, x_scale, y_scale):
    support = torch.cat([support_x / x_scale, support_y / y_scale, torch.ones_like(support_x)], dim=-1)
    query = torch.cat([query_x / x_scale, torch.zeros_like(query_x), torch.zeros_like(query_x)], dim=-1)
    return support, query


def induction_score(attention, lengths):
    B, T, _ = attention.shape
    values = [attention[b, t, t - int(L) + 1] for b, L in enumerate(lengths) for t in range(int(L), T)]
    return torch.stack(values).mean()


def test_context_tokens(capsys):
    ex.check_context_tokens(context_tokens)
    assert capsys.readouterr().out.startswith("✓ ")
    _fails(ex.check_context_tokens, lambda sx, sy, qx, a, b: context_tokens(sx * a, sy * b, qx * a, a, b),
           match="not scaled")
    _fails(ex.check_context_tokens, lambda sx, sy, qx, a, b: context_tokens(sy * a / b, sx * b / a, qx, a, b),
           match="swapped")

    def query_flag(sx, sy, qx, a, b):
        s, q = context_tokens(sx, sy, qx, a, b)
        return s, torch.cat([q[:, :2], torch.ones_like(q[:, :1])], 1)

    _fails(ex.check_context_tokens, query_flag, match="query looks like a support point")
    _fails(ex.check_context_tokens, lambda sx, sy, qx, a, b: context_tokens(sx, sy, qx, a, b)[0], match="pair")
    with pytest.raises(ExerciseNotDone, match="x/s_x"):
        ex.check_context_tokens(_stub("rows [x/s_x, y/s_y, 1]"))
    from metalearn_edu.meta.in_context import context_tokens as library

    with pytest.raises(ExerciseNotDone, match="library"):
        ex.check_context_tokens(lambda sx, sy, qx, a, b: library(sx, sy, qx, a, b))


def test_induction_score(capsys):
    ex.check_induction_score(induction_score)
    assert capsys.readouterr().out.startswith("✓ ")

    def duplicate(attention, lengths):
        B, T, _ = attention.shape
        return torch.stack([attention[b, t, t - int(L)] for b, L in enumerate(lengths) for t in range(int(L), T)]).mean()

    def everywhere(attention, lengths):
        B, T, _ = attention.shape
        return torch.stack([attention[b, t, max(t - int(L) + 1, 0)] for b, L in enumerate(lengths)
                            for t in range(T)]).mean()

    _fails(ex.check_induction_score, duplicate, match="duplicate-token")
    _fails(ex.check_induction_score, everywhere, match="t ≥ L")
    _fails(ex.check_induction_score, lambda a, L: a.diagonal(offset=-1, dim1=1, dim2=2).mean(), match="expected")
    _fails(ex.check_induction_score, lambda a, L: "high", match="one number")
    with pytest.raises(ExerciseNotDone, match="t − L"):
        ex.check_induction_score(_stub("look at t − L + 1"))
    from metalearn_edu.meta.in_context import head_scores

    with pytest.raises(ExerciseNotDone, match="library"):
        ex.check_induction_score(lambda a, L: head_scores([a[:, None]], L, 1)[0, 0])


@pytest.mark.parametrize("factor", [1.01, 0.99])
def test_every_numeric_check_refuses_an_answer_one_percent_off(factor, capsys):
    from helpers import one_percent_off

    for check, solution in [(ex.check_context_tokens, context_tokens), (ex.check_induction_score, induction_score)]:
        check(solution)
        assert capsys.readouterr().out.startswith("✓ ")
        with pytest.raises(ExerciseFailed):
            check(one_percent_off(solution, factor))
