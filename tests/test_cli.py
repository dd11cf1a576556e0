"""The command line: a tiny pretraining run, resume, export, interrupts, and clear errors."""

import json
import os
import signal
import subprocess
import sys

import pytest

import metalearn_edu.pretrain as pt
from metalearn_edu.cli import main
from metalearn_edu.pretrained import load_pretrained

TINY = ["--preset", "ci", "--steps", "4", "--batch-size", "4", "--seq-len", "32", "--eval-every", "2",
        "--eval-blocks", "8", "--quiet", "--precision", "fp32"]


@pytest.mark.slow  # two runs that each tokenize the BBC training split
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


# ---------------------------------------------------------------------------------------
# Interrupts
# ---------------------------------------------------------------------------------------
def test_ctrl_c_during_setup_does_not_claim_a_checkpoint(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pt, "pack_blocks", interrupted)
    assert main(["pretrain", "--preset", "ci", "--out", str(tmp_path / "run"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "a checkpoint was saved" not in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.slow
def test_sigterm_on_the_real_command_line_resumes_exactly(tmp_path):
    """A SIGTERM at an arbitrary moment of a real CLI run with dropout on; the rerun matches bit for bit."""
    args = [sys.executable, "-m", "metalearn_edu.cli", "pretrain", "--preset", "ci", "--steps", "40",
            "--batch-size", "8", "--seq-len", "32", "--eval-every", "10", "--eval-blocks", "8", "--quiet",
            "--precision", "fp32", "--dropout", "0.1", "--threads", "1", "--checkpoint-every", "1000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    subprocess.run([*args, "--out", str(tmp_path / "full")], check=True, env=env, capture_output=True)
    run = tmp_path / "cut"
    proc = subprocess.Popen([*args, "--out", str(run)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:  # the first evaluation line: training is under way
        if "eval loss" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted after step" in err and "Traceback" not in err
    subprocess.run([*args, "--out", str(run)], check=True, env=env, capture_output=True)
    full = json.loads((tmp_path / "full" / "history.json").read_text())
    resumed = json.loads((run / "history.json").read_text())
    assert resumed["step"] == full["step"] == list(range(1, 41))
    assert resumed["train_loss"] == full["train_loss"]
    assert resumed["eval_loss"] == full["eval_loss"]


# ---------------------------------------------------------------------------------------
# Bad values: one line on stderr, exit status 2
# ---------------------------------------------------------------------------------------
# No --eval-every: the preset's.
SHORT = ["--preset", "ci", "--steps", "3", "--batch-size", "4", "--seq-len", "32", "--eval-blocks", "8",
         "--quiet", "--precision", "fp32"]


@pytest.mark.parametrize("option,value", [("--lr", "0"), ("--steps", "0"), ("--batch-size", "0"),
                                          ("--eval-every", "0"), ("--seq-len", "0"), ("--time-budget", "0"),
                                          ("--threads", "0"), ("--threads", "-1"), ("--lr", "inf"),
                                          ("--tokenizer", "/nonexistent")])
def test_explicit_bad_values_are_refused_in_one_line(tmp_path, capsys, option, value):
    code = main(["pretrain", *SHORT, option, value, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and option in err, err


def test_divergent_training_is_one_line(tmp_path, capsys):
    code = main(["pretrain", *SHORT, "--lr", "1e10", "--warmup-steps", "0", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--lr" in err, err


@pytest.mark.parametrize("args,message", [
    (["--preset", "laptop"], "unknown preset 'laptop'"),
    (["--preset", "ci", "--model-size", "giant"], "--model-size: invalid choice: 'giant'"),
    (["--preset", "ci", "--precision", "fp8"], "--precision: invalid choice: 'fp8'"),
    (["--preset", "ci", "--text", "/nonexistent/corpus.txt"], "corpus.txt"),
    (["--preset", "ci", "--objective", "hybrid", "--meta-weight", "1.5"], "--meta-weight: 1.5 is not allowed"),
    (["--preset", "ci", "--objective", "maml"], "--objective: invalid choice: 'maml'"),
    (["--preset", "ci", "--objective", "smlmt", "--n-way", "100000"], "n_way=100000 words are needed"),
])
def test_bad_arguments_give_a_clear_error(tmp_path, capsys, args, message):
    assert main(["pretrain", *args, "--out", str(tmp_path), "--quiet"]) == 2
    assert message in capsys.readouterr().err
