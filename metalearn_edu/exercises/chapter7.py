"""The exercise checks of Chapter 7 — other domains, other tasks, fewer labels.

* 7.1 ★ `check_class_split`: a class-disjoint (novel-class) split of a labelled corpus.
* 7.2 ★★ `check_crossing_point`: where a paired-difference curve over K crosses zero (log₂ K).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

from .framework import ExerciseFailed, expect, ok, run_student, without


def check_class_split(fn: Callable[[list, int, torch.Generator], tuple]) -> None:
    """Exercise 7.1: `fn(labels, n_test, generator)` → ``(train_classes, test_classes)``.

    `labels` holds one class name per document (repeats, in any order). Put `n_test` classes,
    drawn at random with `generator`, on the test side and all the others on the training side; the
    two sides must not share a class. Raise `ValueError` when either side would be empty.
    """
    from ..episodes import split_classes

    labels = [name for name, count in (("Clinton", 5), ("Trump", 7), ("Holt", 3), ("Pence", 4), ("Kaine", 2),
                                       ("Cooper", 3), ("Wallace", 6)) for _ in range(count)]
    labels = [labels[i] for i in torch.randperm(len(labels), generator=torch.Generator().manual_seed(71)).tolist()]
    classes = set(labels)
    seen = set()
    for seed in range(6):
        with without(split_classes):
            answer = run_student(fn, list(labels), 3, torch.Generator().manual_seed(seed))
        expect(isinstance(answer, tuple) and len(answer) == 2, "return a pair (train_classes, test_classes)")
        train, test = (set(side) for side in answer)
        where = f"with generator seed {seed}"
        expect(len(list(answer[1])) == len(test), f"{where}: the test side lists a class twice")
        if train & test:
            raise ExerciseFailed(f"{where}: {sorted(train & test)} are on both sides; a novel-class test needs "
                                 "classes the training side never saw")
        expect(len(test) == 3, f"{where}: expected 3 test classes, got {len(test)}")
        expect(train | test == classes, f"{where}: every class must land on one side; missing "
               f"{sorted(classes - train - test)}, unknown {sorted((train | test) - classes)}")
        seen.add(tuple(sorted(test)))
    expect(len(seen) > 1, "six generators chose the same test classes: draw them at random with the generator "
           "(e.g. torch.randperm(len(classes), generator=generator))")
    for n_test in (0, 7):
        try:
            with without(split_classes):
                run_student(fn, list(labels), n_test, torch.Generator().manual_seed(0))
        except ValueError:
            continue
        raise ExerciseFailed(f"n_test={n_test} leaves one side empty (7 classes); raise ValueError")
    ok(f"your split keeps the sides disjoint and random ({len(seen)} different test sets from 6 seeds)")


def check_crossing_point(fn: Callable[[list, list], Any]) -> None:
    """Exercise 7.2: `fn(k, diff)` → where the curve first crosses zero, or None.

    `k` are increasing numbers of examples per class (e.g. 1, 2, 4, …) and `diff` the paired
    difference "method − reference" at each. Skip the K's where the difference is exactly 0 (ties);
    find the first non-zero value whose sign differs from the previous non-zero one, and
    interpolate linearly in log₂ K between the two: with a and b their differences at k_a and k_b,
    log₂ K = log₂ k_a + (log₂ k_b − log₂ k_a) · a / (a − b). Return None when the sign never changes.
    """
    from ..studies import crossing_point

    gen = torch.Generator().manual_seed(72)
    ks = [1, 2, 4, 8, 16, 32, 64]
    cases = [([0.08, 0.05, 0.01, -0.02, -0.03, -0.05, -0.04], "a method that helps at small K only"),
             ([-0.1, -0.05, 0.02, 0.03, -0.01, 0.0, 0.01], "two crossings: the first one counts"),
             ([0.03, 0.02, 0.04, 0.01, 0.02, 0.05, 0.03], "never crosses"),
             ([0.05, 0.0, -0.02, -0.03, -0.01, -0.02, -0.01], "a tie at K = 2"),
             ([0.0, 0.0, -0.01, -0.03, 0.02, 0.01, 0.0], "equal at small K, then below, then above")]
    cases += [([float(x) for x in torch.randn(7, generator=gen) * 0.05], "random") for _ in range(4)]
    for diff, what in cases:
        want = crossing_point(ks, diff)
        with without(crossing_point):
            got = run_student(fn, list(ks), list(diff))
        where = f"for {what} (diff = {[round(d, 3) for d in diff]})"
        if want is None:
            expect(got is None, f"{where}: the sign never changes, so return None (got {got!r})")
            continue
        expect(got is not None, f"{where}: expected a crossing at K ≈ {want:.3g}, got None")
        if not math.isclose(float(got), want, rel_tol=1e-6):
            nonzero = [(k, d) for k, d in zip(ks, diff) if d != 0]
            j = next(j for j in range(1, len(nonzero)) if (nonzero[j][1] > 0) != (nonzero[j - 1][1] > 0))
            (ka, a), (kb, b) = nonzero[j - 1], nonzero[j]
            linear = ka + (kb - ka) * a / (a - b)
            hint = ("that is linear in K; interpolate in log₂ K (the x-axis of the plot) and convert back with 2**x"
                    if math.isclose(float(got), linear, rel_tol=1e-6)
                    else "skip exact zeros (ties), find the first sign change, then interpolate in log₂ K")
            raise ExerciseFailed(f"{where}: expected K ≈ {want:.4g}, got {float(got):.4g}. Hint: {hint}")
    ok(f"your crossing points match studies.crossing_point on {len(cases)} curves")
