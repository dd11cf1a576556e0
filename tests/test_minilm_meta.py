"""benchmarks/minilm_meta.py: pieces written by separate processes merge into one study; the precision context."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from minilm_meta import all_jobs, merge, precision_context  # noqa: E402


def test_pieces_merge_into_models_by_recipe_and_seed_and_other_budgets_are_left_out(tmp_path, capsys):
    settings = {"budget": 480, "episodes": 2}
    pieces = {"start": {"job": "start", "eval": {}}, "fomaml-seed0": {"job": "fomaml-seed0", "seed": 0, "eval": {"a": 1}},
              "fomaml-seed1": {"job": "fomaml-seed1", "seed": 1, "eval": {"a": 2}},
              "protonet-seed0": {"job": "protonet-seed0", "seed": 0, "eval": {"a": 3}}}
    for name, record in pieces.items():
        record["settings"] = dict(settings, budget=60 if name == "protonet-seed0" else 480)
        (tmp_path / f"{name}.json").write_text(json.dumps(record))
    merged = merge(tmp_path, settings)
    assert merged["models"]["minilm"]["job"] == "start"
    assert {s: r["eval"]["a"] for s, r in merged["models"]["fomaml"]["seeds"].items()} == {"0": 1, "1": 2}
    assert "protonet" not in merged["models"] and "another budget" in capsys.readouterr().out
    assert all_jobs((0, 1))[:3] == ["start", "fomaml-seed0", "protonet-seed0"] and len(all_jobs((0, 1))) == 7


def test_the_bf16_context_uses_the_weights_after_an_in_place_update():
    # autocast's weight cache would keep the first bf16 copy of a parameter for the whole context
    weight = torch.nn.Parameter(torch.ones(4, 4))
    x = torch.ones(1, 4)
    with precision_context("bf16"):
        first = (x @ weight).sum()
        with torch.no_grad():
            weight.mul_(2.0)
        second = (x @ weight).sum()
    assert first.dtype == torch.bfloat16 and float(second) == pytest.approx(2 * float(first))
    with precision_context("fp32"):
        assert (x @ weight).dtype == torch.float32
