"""The command line: a tiny pretraining run, resume, export, and clear errors."""

import json

import pytest

from metalearn_edu.cli import main
from metalearn_edu.pretrained import load_pretrained

TINY = ["--preset", "ci", "--steps", "4", "--batch-size", "4", "--seq-len", "32", "--eval-every", "2",
        "--eval-blocks", "8", "--quiet", "--precision", "fp32"]


def test_pretrain_resume_and_export(tmp_path, capsys):
    out, export = tmp_path / "run", tmp_path / "export"
    assert main(["pretrain", *TINY, "--out", str(out), "--export", str(export)]) == 0
    printed = capsys.readouterr().out
    metrics = json.loads(printed[printed.index("{"):printed.rindex("}") + 1])
    assert metrics["steps"] == 4 and metrics["loss"] > 0 and "prev_heads" in metrics
    history = json.loads((out / "history.json").read_text())
    assert history["step"] == [1, 2, 3, 4] and history["eval_step"] == [2, 4]

    # Asking for more steps continues from the checkpoint instead of starting over.
    assert main(["pretrain", *TINY, "--steps", "6", "--out", str(out)]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert json.loads((out / "history.json").read_text())["step"] == [1, 2, 3, 4, 5, 6]

    model, tokenizer, info = load_pretrained(export)
    assert info["metrics"]["steps"] == 4 and model.cfg.max_len == 32


def test_hybrid_objective_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "hybrid"
    args = [*TINY, "--steps", "2", "--objective", "hybrid", "--meta-weight", "0.5", "--meta-batch", "1",
            "--inner-steps", "1", "--out", str(out)]
    assert main(["pretrain", *args]) == 0
    history = json.loads((out / "history.json").read_text())
    assert history["step"] == [1, 2]
    assert all(0 < x < 20 for x in history["meta_loss"] + history["mlm_loss"])


@pytest.mark.parametrize("args,message", [
    (["--preset", "laptop"], "unknown preset 'laptop'"),
    (["--preset", "ci", "--model-size", "giant"], "unknown model size 'giant'"),
    (["--preset", "ci", "--precision", "fp8"], "precision='fp8'"),
    (["--preset", "ci", "--text", "/nonexistent/corpus.txt"], "corpus.txt"),
    (["--preset", "ci", "--objective", "hybrid", "--meta-weight", "1.5"], "--meta-weight: 1.5 is not allowed"),
    (["--preset", "ci", "--objective", "maml"], "objective='maml' is not allowed"),
    (["--preset", "ci", "--objective", "smlmt", "--n-way", "100000"], "n_way=100000 words are needed"),
])
def test_bad_arguments_give_a_clear_error(tmp_path, capsys, args, message):
    assert main(["pretrain", *args, "--out", str(tmp_path), "--quiet"]) == 2
    assert message in capsys.readouterr().err
