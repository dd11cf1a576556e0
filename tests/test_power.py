"""Statistical power (metalearn_edu.power) against simulation and against its defining equations."""

import math

import numpy as np
import pytest
from scipy import stats

from metalearn_edu import studies
from metalearn_edu.power import detectable_difference, episodes_needed, power_of_paired_test, units_needed


def simulated_power(effect, sd, n, reps=20_000, seed=0):
    """The share of simulated studies (n normal differences) in which scipy's t-test rejects at 5%."""
    rng = np.random.default_rng(seed)
    samples = rng.normal(effect, sd, size=(reps, n))
    return float(np.mean(stats.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05))


@pytest.mark.parametrize("effect,sd,n", [(0.8, 1.0, 5), (0.05, 0.1, 3), (0.3, 1.0, 40), (-0.5, 0.7, 8)])
def test_power_matches_simulated_t_tests(effect, sd, n):
    want = simulated_power(effect, sd, n)
    assert power_of_paired_test(effect, sd, n) == pytest.approx(want, abs=4 * math.sqrt(want * (1 - want) / 20_000))


def test_power_without_an_effect_is_the_level_and_grows_with_effect_and_units():
    assert power_of_paired_test(0.0, 1.0, 7) == pytest.approx(0.05, abs=1e-12)
    assert power_of_paired_test(0.0, 1.0, 7, alpha=0.1) == pytest.approx(0.1, abs=1e-12)
    assert power_of_paired_test(0.5, 1.0, 7) < power_of_paired_test(0.6, 1.0, 7) < power_of_paired_test(0.6, 1.0, 9)
    assert power_of_paired_test(40.0, 1.0, 3) == pytest.approx(1.0, abs=1e-3)  # far tails stay finite


@pytest.mark.parametrize("n", [2, 3, 10, 40, 400])
def test_detectable_difference_has_the_asked_power(n):
    d = detectable_difference(0.3, n)
    assert power_of_paired_test(d, 0.3, n) == pytest.approx(0.8, abs=1e-9)
    assert power_of_paired_test(0.99 * d, 0.3, n) < 0.8 < power_of_paired_test(1.01 * d, 0.3, n)


def test_detectable_difference_is_close_to_the_textbook_approximation():
    for n, rel in ((3, 0.06), (10, 0.01), (40, 0.005)):
        approx = (stats.t.ppf(0.975, n - 1) + stats.t.ppf(0.8, n - 1)) / math.sqrt(n)
        assert detectable_difference(1.0, n) == pytest.approx(approx, rel=rel)
    assert detectable_difference(2.0, 10) == pytest.approx(2 * detectable_difference(1.0, 10), rel=1e-12)
    assert detectable_difference(1.0, 10, power=0.9) > detectable_difference(1.0, 10)


def test_what_a_design_needs():
    n = units_needed(0.02, 0.01)
    assert detectable_difference(0.01, n) <= 0.02 < detectable_difference(0.01, n - 1)
    assert units_needed(1e-6, 0.1, max_units=50) is None
    e = episodes_needed(0.02, 0.1, 3)
    assert detectable_difference(0.1 / math.sqrt(e), 3) <= 0.02 + 1e-12 < detectable_difference(0.1 / math.sqrt(e - 1), 3)
    assert episodes_needed(0.02, 0.0, 3) == 1


@pytest.mark.parametrize("call,name", [(lambda: detectable_difference(-1.0, 5), "sd"),
                                        (lambda: detectable_difference(1.0, 1), "n"),
                                        (lambda: detectable_difference(1.0, 5, alpha=1.5), "alpha"),
                                        (lambda: detectable_difference(1.0, 5, power=0.01), "power"),
                                        (lambda: episodes_needed(0.0, 0.1, 3), "effect"),
                                        (lambda: episodes_needed(0.02, -0.1, 3), "sigma"),
                                        (lambda: units_needed(-0.02, 0.1), "effect")])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_power_table_on_a_made_up_study():
    """Two seeds of 3 episodes, one trained and one fixed model; every entry is checked by hand."""
    mlm = {"per_episode": [[0.5], [0.6], [0.7], [0.4], [0.5], [0.6]]}
    fixed = {"per_episode": [[0.5], [0.7], [0.7], [0.4], [0.5], [0.9]]}
    study = {"settings": {"episodes": 3, "seeds": [0, 1]},
             "models": {"mlm": {"eval": {"c": mlm}}, "bow": {"eval": {"c": fixed}},
                        "m": {"seeds": {"0": {"eval": {"c": {"per_episode": [[0.6], [0.6], [0.9]]}}},
                                        "1": {"eval": {"c": {"per_episode": [[0.4], [0.7], [0.6]]}}}}},
                        "n": {"seeds": {"0": {"eval": {"c": {"per_episode": [[0.5], [0.6], [0.8]]}}},
                                        "1": {"eval": {"c": {"per_episode": [[0.4], [0.5], [0.6]]}}}}}}}
    m = studies.paired_episode_differences(study, "m", "c")
    n = studies.paired_episode_differences(study, "n", "c")
    assert [pytest.approx(d) for d in ([0.1, 0.0, 0.2], [0.0, 0.2, 0.0])] == m
    assert [pytest.approx(d) for d in ([0.0, 0.0, 0.1], [0.0, 0.0, 0.0])] == n
    assert [pytest.approx(d) for d in ([0.0, 0.1, 0.0], [0.0, 0.0, 0.3])] == \
        studies.paired_episode_differences(study, "bow", "c")
    table = studies.power_table(study, ("c",), effect=0.05)
    trained, fixed_row = table["trained"]["c"], table["fixed"]["c"]
    assert trained["models"] == ["m", "n"] and fixed_row["models"] == ["bow"]
    # pooled over m and n: the variance of the two seed means, averaged over the models
    seed_var = (np.var([0.1, 0.2 / 3], ddof=1) + np.var([0.1 / 3, 0.0], ddof=1)) / 2
    assert trained["seed_sd"] == pytest.approx(math.sqrt(seed_var))
    assert trained["mdd"] == pytest.approx(detectable_difference(math.sqrt(seed_var), 2))
    assert trained["seeds_needed"] == units_needed(0.05, math.sqrt(seed_var))
    episode_var = np.mean([np.var(v, ddof=1) for v in m + n])
    assert trained["episode_sd"] == pytest.approx(math.sqrt(episode_var))
    assert trained["iid_seed_sd"] == pytest.approx(math.sqrt(episode_var / 3))
    assert trained["episodes_needed"] == episodes_needed(0.05, math.sqrt(episode_var), 2)
    assert fixed_row["seed_sd"] == pytest.approx(np.std([0.1 / 3, 0.1], ddof=1))
