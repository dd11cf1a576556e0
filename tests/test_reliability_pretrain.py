"""Issue 17: interrupts, checkpoints, CLI values and text files (written before the fix)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import metalearn_edu.pretrain as pt
from metalearn_edu.checkpoint import load_checkpoint, save_checkpoint
from metalearn_edu.cli import main
from metalearn_edu.data import load_local
from metalearn_edu.masking import MaskingConfig
from metalearn_edu.pretrain import PretrainConfig, pretrain

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import synthetic_setup  # noqa: E402

CFG = PretrainConfig(steps=6, batch_size=8, eval_every=2, checkpoint_every=100, precision="fp32", lr=3e-3,
                     warmup_steps=1)


def _dropout_setup():
    model, blocks, vocab = synthetic_setup()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.1
    return model, blocks, vocab


def _run(out_dir=None):
    model, blocks, vocab = _dropout_setup()
    history = pretrain(model, blocks, blocks[:8], vocab, CFG, out_dir=out_dir, progress=False, log=None)
    return model, history


def _signal_on_call(monkeypatch, owner, name, nth):
    """Send SIGINT to this process during the nth call of owner.name (as Ctrl-C in a terminal would)."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the signal is handled here, in the middle of the phase
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


PHASES = {
    "data": (pt, "batch_indices", 3),
    "forward": (pt, "mlm_logits", 3),
    "backward": (torch.Tensor, "backward", 3),
    "optimizer": (torch.optim.AdamW, "step", 3),
    "evaluation": (pt, "evaluate_mlm", 2),
    "final evaluation": (pt, "evaluate_mlm", 3),
    "checkpoint write": (pt, "save_checkpoint", 1),
}


@pytest.mark.parametrize("phase", list(PHASES))
def test_resume_is_exact_whichever_phase_the_signal_hits(tmp_path, monkeypatch, phase):
    reference_model, reference = _run()
    owner, name, nth = PHASES[phase]
    with monkeypatch.context() as patch:
        _signal_on_call(patch, owner, name, nth)
        with pytest.raises(KeyboardInterrupt):
            _run(tmp_path)
    assert (tmp_path / "checkpoint.pt").exists()
    model, resumed = _run(tmp_path)
    assert resumed.step == reference.step
    assert resumed.train_loss == reference.train_loss  # bit for bit
    assert resumed.eval_step == reference.eval_step and resumed.eval_loss == reference.eval_loss
    for (n, p), q in zip(reference_model.named_parameters(), model.parameters()):
        assert torch.equal(p, q), n


def test_ctrl_c_during_setup_does_not_claim_a_checkpoint(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pt, "pack_blocks", interrupted)
    assert main(["pretrain", "--preset", "ci", "--out", str(tmp_path / "run"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "a checkpoint was saved" not in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_checkpoint_detects_flipped_bytes(tmp_path):
    path = tmp_path / "c.pt"
    weights = torch.arange(50_000, dtype=torch.float32)
    save_checkpoint(path, {"model": {"w": weights}, "config": {}})
    data = bytearray(path.read_bytes())
    needle = torch.tensor([12345.0]).numpy().tobytes()
    at = bytes(data).index(needle)
    data[at + 1] ^= 0x10  # one bit inside the tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=str(path)):
        load_checkpoint(path)


def test_kill_9_during_save_leaves_no_temporaries_after_the_next_save(tmp_path):
    target = tmp_path / "big.pt"
    script = (f"import torch; from metalearn_edu.checkpoint import save_checkpoint\n"
              f"x = torch.randn(6_000_000)\n"
              f"while True: save_checkpoint({str(target)!r}, {{'model': {{'x': x}}}})\n")
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.time() + 60
        while not list(tmp_path.glob(".*.tmp")) and time.time() < deadline:
            time.sleep(0.005)
        assert list(tmp_path.glob(".*.tmp")), "the writer never started a save"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    save_checkpoint(target, {"model": {"x": torch.zeros(3)}})
    assert not list(tmp_path.glob(".*.tmp"))


TINY = ["--preset", "ci", "--steps", "3", "--batch-size", "4", "--seq-len", "32", "--eval-blocks", "8",
        "--quiet", "--precision", "fp32"]


@pytest.mark.parametrize("option,value", [("--lr", "0"), ("--steps", "0"), ("--batch-size", "0"),
                                          ("--eval-every", "0"), ("--seq-len", "0"), ("--time-budget", "0"),
                                          ("--threads", "0"), ("--threads", "-1"), ("--lr", "inf"),
                                          ("--tokenizer", "/nonexistent")])
def test_explicit_bad_values_are_refused_in_one_line(tmp_path, capsys, option, value):
    code = main(["pretrain", *TINY, option, value, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and option in err, err


def test_divergent_training_is_one_line(tmp_path, capsys):
    code = main(["pretrain", *TINY, "--lr", "1e10", "--warmup-steps", "0", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--lr" in err, err


@pytest.mark.parametrize("kwargs,name", [({"lr": float("inf")}, "lr"), ({"grad_clip": -1.0}, "grad_clip"),
                                         ({"weight_decay": -0.1}, "weight_decay")])
def test_pretrain_config_refuses_bad_numbers(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        PretrainConfig(**kwargs)


def test_masking_config_refuses_strings():
    with pytest.raises(ValueError, match="mask_prob='0.15'"):
        MaskingConfig(mask_prob="0.15")


def test_text_files_in_other_encodings(tmp_path):
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("Café society.\n\nSecond text.".encode("utf-16"))
    assert [d.text for d in load_local(utf16)] == ["Café society.", "Second text."]
    cp1252 = tmp_path / "quotes.txt"
    cp1252.write_bytes("He said \u201cno\u201d \u2013 twice.".encode("cp1252"))
    with pytest.warns(UserWarning, match="cp1252"):
        assert load_local(cp1252)[0].text == "He said \u201cno\u201d \u2013 twice."
    binary = tmp_path / "model.txt"
    binary.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(ValueError, match="model.txt"):
        load_local(binary)


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
