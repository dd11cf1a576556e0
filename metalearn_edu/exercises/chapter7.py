"""The exercise checks of Chapter 7 — other domains, other tasks, fewer labels.

* 7.1 ★ `check_class_split`: a class-disjoint (novel-class) split of a labelled corpus.
* 7.2 ★★ `check_paired_power`: the power of a paired t-test (noncentral t), the basis of a study's size.
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


def check_paired_power(fn: Callable[[float, float, int], float]) -> None:
    """Exercise 7.2: `fn(effect, sd, n)` → the power of a two-sided paired t-test at the 5% level.

    n paired differences with true mean `effect` and standard deviation `sd`: the probability that
    the test rejects "no difference", P(T > t_c) + P(T < −t_c) with t_c = t_{0.975, n−1} and T a
    noncentral t with n − 1 degrees of freedom and noncentrality effect·√n / sd.
    """
    from scipy.stats import norm, nct, t

    from ..power import power_of_paired_test

    cases = [(0.02, 0.01, 3), (0.01, 0.02, 3), (0.02, 0.1, 40), (0.5, 1.0, 10), (-0.3, 0.5, 12), (0.0, 1.0, 5),
             (0.05, 0.02, 2), (0.02, 0.15, 300)]

    def one_tailed(e, s, n):
        return float(nct.sf(t.ppf(0.975, n - 1), n - 1, e * math.sqrt(n) / s))

    def normal(e, s, n):
        z = e * math.sqrt(n) / s
        return float(norm.sf(1.96 - z) + norm.cdf(-1.96 - z))

    def df_n(e, s, n):
        return float(nct.sf(t.ppf(0.975, n), n, e * math.sqrt(n) / s) + nct.sf(t.ppf(0.975, n), n, -e * math.sqrt(n) / s))

    def no_sqrt(e, s, n):
        tc = t.ppf(0.975, n - 1)
        return float(nct.sf(tc, n - 1, e / s) + nct.sf(tc, n - 1, -e / s))

    mistakes = [(one_tailed, "only the upper tail: a two-sided test also rejects when T < −t_c"),
                (normal, "the normal distribution (1.96) instead of Student's t: far too optimistic for a few seeds"),
                (df_n, "n degrees of freedom; a t-test over n differences has n − 1"),
                (no_sqrt, "noncentrality effect / sd: the mean of n differences has spread sd / √n, so it is "
                          "effect·√n / sd")]
    for effect, sd, n in cases:
        want = power_of_paired_test(effect, sd, n)
        with without(power_of_paired_test):
            got = run_student(fn, effect, sd, n)
        where = f"for effect={effect}, sd={sd}, n={n}"
        expect(isinstance(got, (int, float)) and math.isfinite(float(got)), f"{where}: return a number, got {got!r}")
        if math.isclose(float(got), want, rel_tol=1e-6, abs_tol=1e-9):
            continue
        hint = next((why for wrong, why in mistakes if math.isclose(float(got), wrong(effect, sd, n), rel_tol=1e-6)),
                    "P(T > t_c) + P(T < −t_c), with t_c = scipy.stats.t.ppf(0.975, n − 1) and T ~ "
                    "scipy.stats.nct(n − 1, effect·√n / sd)")
        raise ExerciseFailed(f"{where}: expected power {want:.6f}, got {float(got):.6f}. Hint: {hint}")
    ok(f"your power matches the noncentral t on {len(cases)} designs, from 2 to 300 units")
