"""Tests of `metalearn_edu.checks`: the argument checks behind every "x=… is not allowed" message."""

import math
import re

import numpy as np
import pytest
import torch

from metalearn_edu.checks import check_int, check_number, check_probability


def refused(message: str):
    """pytest.raises for a ValueError whose message is exactly `message`."""
    return pytest.raises(ValueError, match=f"^{re.escape(message)}$")


# ---------------------------------------------------------------------------------------
# check_int
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, minimum", [(10, 1), (1, 1), (0, 0), (-7, None), (np.int64(3), 1)])
def test_check_int_returns_accepted_values_as_int(value, minimum):
    out = check_int("n", value, minimum=minimum)
    assert out == value and type(out) is int


@pytest.mark.parametrize("value, shown", [(0, "0"), (-3, "-3"), (True, "True"), (2.0, "2.0"), ("3", "'3'"),
                                          (None, "None"), (math.nan, "nan")])
def test_check_int_refuses_with_name_value_and_bound(value, shown):
    with refused(f"k_shot={shown} is not allowed; it must be an integer ≥ 1"):
        check_int("k_shot", value)


def test_check_int_bounds_and_hint():
    with refused("steps=-1 is not allowed; it must be an integer ≥ 0"):
        check_int("steps", -1, minimum=0)
    with refused("seed=1.5 is not allowed; it must be an integer"):
        check_int("seed", 1.5, minimum=None)
    with refused("seed=False is not allowed; it must be an integer"):
        check_int("seed", False, minimum=None)  # a bool is refused even without a bound
    with refused("n_way=1 is not allowed; it must be an integer ≥ 2; an episode needs at least two classes"):
        check_int("n_way", 1, minimum=2, hint="; an episode needs at least two classes")


# ---------------------------------------------------------------------------------------
# check_number
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [3, 0.25, np.float64(0.25), np.float32(0.5), torch.tensor(0.5),
                                   torch.tensor(0.5, dtype=torch.float64, requires_grad=True)])
def test_check_number_returns_a_float(value):
    out = check_number("x", value)
    assert type(out) is float and out == float(value.detach() if isinstance(value, torch.Tensor) else value)


@pytest.mark.parametrize("value, shown", [(True, "True"), ("0.15", "'0.15'"), (None, "None"), ([0.1], "[0.1]"),
                                          (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")])
def test_check_number_refuses_non_numbers_and_non_finite_values(value, shown):
    with refused(f"lr={shown} is not allowed; it must be a finite number"):
        check_number("lr", value)


@pytest.mark.parametrize("value", [torch.tensor(math.nan), torch.tensor(math.inf)])
def test_check_number_refuses_non_finite_0d_tensors_showing_the_value(value):
    shown = f"{float(value):g}"
    with refused(f"inner_lr={shown} is not allowed; it must be a finite number > 0"):
        check_number("inner_lr", value, low=0, low_open=True)


def test_check_number_refuses_tensors_of_several_values():
    with pytest.raises(ValueError, match=r"^lr=tensor\(.*\) is not allowed; it must be a finite number$"):
        check_number("lr", torch.tensor([0.1, 0.2]))


@pytest.mark.parametrize("kwargs, accepted, refused_values, allowed", [
    (dict(low=0), [0, 0.0, 5], [-1e-9, -1], "a finite number ≥ 0"),
    (dict(low=0, low_open=True), [1e-12, 5], [0, -1], "a finite number > 0"),
    (dict(high=1), [1, -5], [1.5], "a finite number ≤ 1"),
    (dict(high=1, high_open=True), [0.999, -5], [1, 2], "a finite number < 1"),
    (dict(low=0, high=1), [0, 0.5, 1], [-0.1, 1.1], "a number in [0, 1]"),
    (dict(low=0, high=1, low_open=True, high_open=True), [0.5], [0, 1], "a number in (0, 1)"),
    (dict(low=-2.5, high=0.5, high_open=True), [-2.5, 0.4], [0.5, -3], "a number in [-2.5, 0.5)"),
])
def test_check_number_open_and_closed_bounds(kwargs, accepted, refused_values, allowed):
    for value in accepted:
        assert check_number("w", value, **kwargs) == value
    for value in refused_values:
        with refused(f"w={value!r} is not allowed; it must be {allowed}"):
            check_number("w", value, **kwargs)
    with refused(f"w=nan is not allowed; it must be {allowed}"):  # NaN is refused whatever the bounds
        check_number("w", math.nan, **kwargs)


def test_check_number_bounds_apply_to_0d_tensors_and_hint_is_appended():
    assert check_number("lr", torch.tensor(0.25), low=0, low_open=True) == 0.25
    with refused("lr=0 is not allowed; it must be a finite number > 0; try 1e-3"):
        check_number("lr", torch.tensor(0.0), low=0, low_open=True, hint="; try 1e-3")
    with refused("dropout=1.5 is not allowed; it must be a number in [0, 1)"):
        check_number("dropout", torch.tensor(1.5), low=0, high=1, high_open=True)


# ---------------------------------------------------------------------------------------
# check_probability
# ---------------------------------------------------------------------------------------
def test_check_probability_is_half_open_unless_one_is_allowed():
    assert check_probability("p", 0) == 0.0 and check_probability("p", 0.999) == 0.999
    assert check_probability("p", torch.tensor(0.5)) == 0.5
    for value in (1, 1.0, -0.01, 1.5):
        with refused(f"p={value!r} is not allowed; it must be a number in [0, 1)"):
            check_probability("p", value)
    assert check_probability("p", 1, allow_one=True) == 1.0
    for value in (1.01, -0.5):
        with refused(f"p={value!r} is not allowed; it must be a number in [0, 1]"):
            check_probability("p", value, allow_one=True)
    for value, shown in ((True, "True"), ("0.5", "'0.5'"), (math.nan, "nan")):
        with refused(f"p={shown} is not allowed; it must be a number in [0, 1)"):
            check_probability("p", value)
