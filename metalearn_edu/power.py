"""Statistical power: the smallest difference a paired study could have detected, and what a
larger study would need.

A study here compares two models on the same test episodes. Seed s of a trained model is scored
on its own block of E episodes, and the paired difference on that block is one number per seed;
the interval over the S seeds (`analysis.seed_ci`, a t-interval with S − 1 degrees of freedom)
decides "measurably different". If one seed's number has standard deviation sd, a two-sided
t-test at level α over S seeds detects a true difference δ with power

    P(|T| > t_{1−α/2, S−1}),   T ~ noncentral t(S − 1, δ·√S / sd).

`detectable_difference` solves that for δ (the minimum detectable difference, MDD); it is exact,
and the textbook approximation δ ≈ (t_{1−α/2} + t_{power}) · sd / √S is within 1 per cent of it
for S ≥ 10 and 5 per cent below it for S = 3. `units_needed` turns it round: the fewest seeds
(or episodes) that detect a given effect. `episodes_needed` asks the same of episodes when the
episodes of a block are independent draws with per-episode spread σ, so a block's mean has
standard deviation σ/√E.
"""

from __future__ import annotations

import functools
import math

__all__ = ["power_of_paired_test", "detectable_difference", "units_needed", "episodes_needed"]


def _check_design(sd: float, n: int, alpha: float, power: float | None = None) -> None:
    if not (isinstance(sd, (int, float)) and math.isfinite(sd) and sd >= 0):
        raise ValueError(f"sd={sd!r} is not allowed; it must be a finite number ≥ 0")
    if not (isinstance(n, int) and n >= 2):
        raise ValueError(f"n={n!r} is not allowed; a t-test needs at least 2 units")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha={alpha!r} is not allowed; it must lie in (0, 1)")
    if power is not None and not alpha < power < 1.0:
        raise ValueError(f"power={power!r} is not allowed; it must lie in (alpha, 1) = ({alpha}, 1)")


def power_of_paired_test(effect: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """The probability that a two-sided t-test at level `alpha` over `n` paired differences rejects
    "no difference" when their true mean is `effect` and their standard deviation is `sd`.

    P(T > t_c) + P(T < −t_c) with t_c = t_{1−α/2, n−1} and T noncentral t with n − 1 degrees of
    freedom and noncentrality effect·√n / sd.

    Example:
        >>> round(power_of_paired_test(0.0, 1.0, 10), 3)   # no effect: the test's own level
        0.05
        >>> round(power_of_paired_test(1.0, 1.0, 10), 3)
        0.803
    """
    from scipy.stats import nct, t

    _check_design(sd, n, alpha)
    df = n - 1
    t_c = float(t.ppf(1.0 - alpha / 2.0, df))
    if sd == 0:
        return 1.0 if effect != 0 else alpha
    nc = effect * math.sqrt(n) / sd
    # the lower tail as the upper tail of −T (scipy's nct.cdf far below a large noncentrality gives NaN)
    return float(nct.sf(t_c, df, nc) + nct.sf(t_c, df, -nc))


def detectable_difference(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference that a two-sided paired t-test at level `alpha` over `n`
    units detects with probability `power` (the minimum detectable difference, in `sd`'s units).

    The power depends on the effect only through effect / sd, so the answer is sd times the
    answer for sd = 1 (solved once per n, then cached).

    Args:
        sd: standard deviation of one unit's difference (a seed's mean difference, or one episode's).
        n: number of units (seeds, or episodes when there is one model), at least 2.

    Example:
        >>> round(detectable_difference(1.0, 10), 3)        # ten units: about 1 sd
        0.996
        >>> round(detectable_difference(1.0, 3), 2)         # three seeds: over 3 sd
        3.26
    """
    _check_design(sd, n, alpha, power)
    return sd * _unit_detectable(n, alpha, power)


@functools.lru_cache(maxsize=4096)
def _unit_detectable(n: int, alpha: float, power: float) -> float:
    """`detectable_difference` for sd = 1: the root of power(δ) = `power`, which grows with δ."""
    from scipy.optimize import brentq

    hi = 1.0
    while power_of_paired_test(hi, 1.0, n, alpha) < power:
        hi *= 2.0
    return float(brentq(lambda d: power_of_paired_test(d, 1.0, n, alpha) - power, 0.0, hi, xtol=1e-12))


def units_needed(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8, max_units: int = 10_000
                 ) -> int | None:
    """The fewest units (≥ 2; seeds, say) whose paired t-test detects `effect` with `power`, when
    one unit's difference has standard deviation `sd`; None when even `max_units` do not.

    Example:
        >>> units_needed(1.0, 1.0)          # an effect of one standard deviation: 10 units
        10
    """
    if not effect > 0:
        raise ValueError(f"effect={effect!r} is not allowed; it must be > 0")
    if detectable_difference(sd, max_units, alpha, power) > effect:
        return None
    lo, hi = 2, max_units  # the MDD falls as units are added: bisect for the first one that is small enough
    while lo < hi:
        mid = (lo + hi) // 2
        if detectable_difference(sd, mid, alpha, power) <= effect:
            hi = mid
        else:
            lo = mid + 1
    return lo


def episodes_needed(effect: float, sigma: float, seeds: int, alpha: float = 0.05, power: float = 0.8) -> int:
    """The fewest episodes per seed that let `seeds` seeds detect `effect`, if a seed's number is the
    mean of E independent episodes with spread `sigma` and nothing else varies between seeds:
    σ/√E ≤ s* = effect / `detectable_difference`(1, seeds), i.e. E ≥ (σ / s*)².

    Example:
        >>> episodes_needed(0.02, 0.1, 3)   # 3.26 · 0.1 / √E ≤ 0.02
        267
    """
    if not effect > 0:
        raise ValueError(f"effect={effect!r} is not allowed; it must be > 0")
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma={sigma!r} is not allowed; it must be a finite number ≥ 0")
    allowed = effect / detectable_difference(1.0, seeds, alpha, power)
    return max(1, math.ceil((sigma / allowed) ** 2 - 1e-9))
