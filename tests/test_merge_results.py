"""benchmarks/merge_results.py: a study run in parallel pieces merges into the file one process would write."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from merge_results import merge  # noqa: E402


def _run(final):
    return {"points": [{"final": False}] + ([{"final": True}] if final else [])}


def test_runs_and_models_are_united():
    settings = {"budget": 240, "episodes": 100}
    a = {"settings": {**settings, "seeds": [0]}, "start": {"mlm": {"loss": 4.4}},
         "runs": {"lambda=0/seed=0": _run(True), "lambda=0/seed=1": _run(False)},
         "models": {"mlm": {"eval": {"bbc_k5": {"n_episodes": 300}}}, "maml": {"seeds": {"0": {"x": 1}}}}}
    b = {"settings": {**settings, "seeds": [1]}, "start": {"mlm": {"loss": 4.4}},
         "runs": {"lambda=0/seed=0": _run(False), "lambda=0/seed=1": _run(True)},
         "models": {"mlm": {"eval": {"bbc_k5": {"n_episodes": 100}}}, "maml": {"seeds": {"1": {"x": 2}}}}}
    merged = merge([a, b], [0, 1])
    assert merged["settings"]["seeds"] == [0, 1] and merged["settings"]["budget"] == 240
    assert all(len(run["points"]) == 2 for run in merged["runs"].values())  # the finished copy of each run
    assert sorted(merged["models"]["maml"]["seeds"]) == ["0", "1"]
    assert merged["models"]["mlm"]["eval"]["bbc_k5"]["n_episodes"] == 300


def test_pieces_with_other_settings_are_refused():
    a = {"settings": {"budget": 240, "seeds": [0]}, "runs": {}}
    b = {"settings": {"budget": 120, "seeds": [1]}, "runs": {}}
    with pytest.raises(SystemExit, match="budget"):
        merge([a, b], [0, 1])


def test_pieces_may_split_the_lambda_values():
    a = {"settings": {"budget": 240, "seeds": [1], "weights": [0.0, 0.1]}, "runs": {"lambda=0/seed=1": _run(True)}}
    b = {"settings": {"budget": 240, "seeds": [1], "weights": [0.75, 1.0]}, "runs": {"lambda=1/seed=1": _run(True)}}
    merged = merge([b, a], [1])
    assert merged["settings"]["weights"] == [0.0, 0.1, 0.75, 1.0]
    assert sorted(merged["runs"]) == ["lambda=0/seed=1", "lambda=1/seed=1"]


def test_what_a_piece_ran_is_not_a_setting_of_the_merged_study():
    a = {"settings": {"episodes": 4, "seeds": [0], "methods": "random,mlm", "parts": "eval"}, "models": {}}
    b = {"settings": {"episodes": 4, "seeds": [1], "methods": "ner_maml", "parts": "eval"}, "models": {}}
    merged = merge([a, b], [0, 1])
    assert merged["settings"] == {"episodes": 4, "seeds": [0, 1]}


def test_a_piece_that_only_tuned_contributes_its_tuning():
    settings = {"max_steps": 70_000}
    tune = {"settings": {**settings, "seeds": [0, 1, 2], "parts": ["tune"]}, "runs": {},
            "tuning": {"chosen": {"inner_steps": 5, "epsilon": 1.0}}, "paper": {"maml": [0.67]}}
    seed = {"settings": {**settings, "seeds": [1], "parts": ["train"]}, "runs": {"maml/seed=1": {"method": "maml"}},
            "paper": {"maml": [0.67]}}
    merged = merge([tune, seed], [0, 1, 2])
    assert merged["tuning"]["chosen"] == {"inner_steps": 5, "epsilon": 1.0} and merged["paper"] == {"maml": [0.67]}
    assert list(merged["runs"]) == ["maml/seed=1"] and "parts" not in merged["settings"]
