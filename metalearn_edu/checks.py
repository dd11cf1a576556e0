"""Argument checks that turn bad input into one clear error.

Every public function of the library validates its sizes, rates and probabilities with these
helpers, so the messages read the same everywhere: the parameter's name, the value it got, and
what is allowed, e.g. ``ValueError("k_shot=0 is not allowed; it must be an integer ≥ 1")``.
Booleans are refused where numbers are expected (``True`` is an int in Python), and so are
strings that look like numbers (``"0.15"``): a config that silently holds a string fails much
later, deep inside torch.

Example:
    >>> check_int("steps", 10)
    10
    >>> check_number("lr", float("inf"), low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: lr=inf is not allowed; it must be a finite number > 0
"""

from __future__ import annotations

import contextlib
import math
import numbers
import threading
from typing import Any, Iterator

_STATE = threading.local()


def check_int(name: str, value: Any, minimum: int | None = 1, hint: str = "") -> int:
    """`value` if it is an integer ≥ `minimum` (no bound when None), else a ValueError naming `name`.

    Args:
        name: the parameter's name, as the caller knows it.
        value: what was passed.
        minimum: the smallest allowed value; None for any integer.
        hint: appended to the message (e.g. "; an episode needs at least two classes").
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (minimum is not None and value < minimum):
        bound = "an integer" if minimum is None else f"an integer ≥ {minimum}"
        raise ValueError(f"{name}={value!r} is not allowed; it must be {bound}{hint}")
    return int(value)


def check_number(name: str, value: Any, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, hint: str = "") -> float:
    """`value` as a float if it is a finite real number inside the given bounds, else a ValueError.

    Args:
        name: the parameter's name.
        value: what was passed (an int, a float or a 0-d tensor; not a bool or a string).
        low, high: the bounds (None: unbounded on that side).
        low_open, high_open: exclude the bound itself (``> low`` instead of ``≥ low``).
        hint: appended to the message.

    Example:
        >>> check_number("dropout", 0.1, low=0, high=1, high_open=True)
        0.1
    """
    tensor = _is_scalar_tensor(value)
    ok = tensor or (not isinstance(value, (bool, str)) and isinstance(value, numbers.Real))
    number = float(value.detach()) if tensor else float(value) if ok else math.nan
    if ok and math.isfinite(number):
        ok = ((low is None or (number > low if low_open else number >= low))
              and (high is None or (number < high if high_open else number <= high)))
    else:
        ok = False
    if not ok:
        raise ValueError(f"{name}={_show(value)} is not allowed; it must be {_describe(low, high, low_open, high_open)}"
                         f"{hint}")
    return number


def check_probability(name: str, value: Any, allow_one: bool = False) -> float:
    """A probability in [0, 1) (or [0, 1] with `allow_one`)."""
    return check_number(name, value, low=0.0, high=1.0, high_open=not allow_one)


def _is_scalar_tensor(value: Any) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point()


def _show(value: Any) -> str:
    if _is_scalar_tensor(value):
        return f"{float(value.detach()):g}"
    return repr(value)


def _describe(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"a finite number {'>' if low_open else '≥'} {low:g}"
    if low is None:
        return f"a finite number {'<' if high_open else '≤'} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


@contextlib.contextmanager
def values_checked_by_caller() -> Iterator[None]:
    """Inside the block, library code skips the checks that read tensor *values*.

    Under `torch.func.vmap` a tensor's values cannot be read (``int(t.max())`` raises), so the
    vectorised meta-learning path (`metalearn_edu.meta.vectorized`) validates a stacked meta-batch
    once, before vmap, and runs the model inside this block. Shape and type checks still run.
    """
    previous = getattr(_STATE, "skip", False)
    _STATE.skip = True
    try:
        yield
    finally:
        _STATE.skip = previous


def reading_values_allowed() -> bool:
    """False inside `values_checked_by_caller` (e.g. under vmap), True otherwise."""
    return not getattr(_STATE, "skip", False)
