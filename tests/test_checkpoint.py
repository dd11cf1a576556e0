"""Tests for atomic, weights-only checkpoints (`metalearn_edu.checkpoint`)."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from metalearn_edu import checkpoint as ckpt_module
from metalearn_edu.checkpoint import (
    CheckpointMismatchError,
    NotACheckpointError,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)

CONFIG = {"d_in": 4, "d_out": 3, "dropout": 0.1, "activation": "gelu", "sizes": [1, 2]}


def make_training(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Linear(CONFIG["d_in"], CONFIG["d_out"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 10))
    return model, optimizer, scheduler


def train_steps(model, optimizer, scheduler, generator, n: int) -> None:
    for _ in range(n):
        x = torch.randn(8, CONFIG["d_in"], generator=generator)
        loss = model(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


def full_state(model, optimizer, scheduler, generator, step: int) -> dict:
    return {
        "model": model.state_dict(),
        "config": dict(CONFIG),
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state({"data": generator}),
        "tokenizer": "sentence-transformers/all-MiniLM-L6-v2",
        "history": {"step": [1, 2, 3], "loss": [2.5, 2.1, 1.9]},
        "extra": {"note": "round trip", "shape": torch.Size([2, 3]), "dtype": torch.float32},
    }


def assert_nested_equal(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            assert_nested_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_nested_equal(x, y)
    else:
        assert a == b


def test_round_trip_restores_training_exactly(tmp_path):
    generator = torch.Generator().manual_seed(0)
    model, optimizer, scheduler = make_training(seed=0)
    train_steps(model, optimizer, scheduler, generator, n=3)
    path = save_checkpoint(tmp_path / "run" / "ckpt.pt", full_state(model, optimizer, scheduler, generator, step=3))
    assert path == tmp_path / "run" / "ckpt.pt" and path.is_file()

    # continue the original run: this is what the restored run must reproduce
    train_steps(model, optimizer, scheduler, generator, n=2)

    state = load_checkpoint(path, expected_config=CONFIG)
    assert state["format"] == ckpt_module.CHECKPOINT_FORMAT == 2 and "sha256" not in state and isinstance(state["library_version"], str)
    assert state["step"] == 3 and state["tokenizer"].endswith("MiniLM-L6-v2")
    assert state["history"] == {"step": [1, 2, 3], "loss": [2.5, 2.1, 1.9]}
    assert state["extra"]["shape"] == torch.Size([2, 3]) and state["extra"]["dtype"] is torch.float32

    new_generator = torch.Generator().manual_seed(999)
    new_model, new_optimizer, new_scheduler = make_training(seed=1)
    new_model.load_state_dict(state["model"])
    new_optimizer.load_state_dict(state["optimizer"])
    new_scheduler.load_state_dict(state["scheduler"])
    restore_rng_state(state["rng"], {"data": new_generator})
    assert new_scheduler.last_epoch == 3
    train_steps(new_model, new_optimizer, new_scheduler, new_generator, n=2)

    assert_nested_equal(model.state_dict(), new_model.state_dict())
    assert_nested_equal(optimizer.state_dict()["state"], new_optimizer.state_dict()["state"])
    assert scheduler.get_last_lr() == new_scheduler.get_last_lr()
    assert torch.equal(generator.get_state(), new_generator.get_state())


def test_save_does_not_modify_the_callers_dict(tmp_path):
    state = {"model": {"w": torch.ones(2)}, "step": 1}
    save_checkpoint(tmp_path / "c.pt", state)
    assert set(state) == {"model", "step"}


def test_global_rng_round_trip(tmp_path):
    state = rng_state()
    expected = torch.rand(5)
    save_checkpoint(tmp_path / "rng.pt", {"rng": state})
    torch.rand(100)  # move the global RNG on
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    assert torch.equal(torch.rand(5), expected)


def test_restore_unknown_generator_name_raises():
    state = rng_state({"data": torch.Generator()})
    with pytest.raises(KeyError, match="masking"):
        restore_rng_state(state, {"masking": torch.Generator()})


def stray_files(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_crash_during_torch_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1, "model": {"w": torch.zeros(1000)}})
    real_save = torch.save

    def save_half_then_crash(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip file")
        f.flush()
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", save_half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"step": 2, "model": {"w": torch.ones(1000)}})
    monkeypatch.setattr(torch, "save", real_save)

    assert load_checkpoint(path)["step"] == 1
    assert stray_files(tmp_path, {"ckpt.pt"}) == []


def test_crash_at_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"step": 1})

    def crash(src, dst):
        raise KeyboardInterrupt  # e.g. the student stops the cell at the worst moment

    monkeypatch.setattr(ckpt_module.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert stray_files(tmp_path, {"ckpt.pt"}) == []


def test_first_save_crash_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt_module.os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "ckpt.pt", {"step": 1})
    assert list(tmp_path.iterdir()) == []


def test_saved_file_is_not_private(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"step": 1})
    if os.name == "posix":
        umask = os.umask(0)
        os.umask(umask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_unloadable_entries_are_rejected_before_writing(tmp_path):
    np = pytest.importorskip("numpy")

    @dataclasses.dataclass
    class Cfg:
        d: int = 1

    with pytest.raises(TypeError, match=r"state\['history'\]\['acc'\].*numpy"):
        save_checkpoint(tmp_path / "c.pt", {"history": {"acc": np.array([0.5, 0.6])}})
    with pytest.raises(TypeError, match=r"state\['config'\].*asdict"):
        save_checkpoint(tmp_path / "c.pt", {"config": Cfg()})
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_detects_flipped_bytes(tmp_path):
    path = tmp_path / "c.pt"
    weights = torch.arange(50_000, dtype=torch.float32)
    save_checkpoint(path, {"model": {"w": weights}, "config": {}})
    data = bytearray(path.read_bytes())
    needle = torch.tensor([12345.0]).numpy().tobytes()
    at = bytes(data).index(needle)
    data[at + 1] ^= 0x10  # one bit inside the tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(str(path))):
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


def test_config_mismatch_names_each_field(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"config": dict(CONFIG)})
    expected = {**CONFIG, "d_out": 5, "dropout": 0.0, "n_heads": 2}
    del expected["activation"]
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(path, expected_config=expected)
    message = str(info.value)
    assert "d_out: checkpoint=3, model=5" in message
    assert "dropout: checkpoint=0.1, model=0.0" in message
    assert "n_heads: checkpoint=<missing>, model=2" in message
    assert "activation: checkpoint='gelu', model=<missing>" in message
    assert "d_in" not in message
    assert set(info.value.differences) == {"d_out", "dropout", "n_heads", "activation"}
    assert isinstance(info.value, ValueError)


def test_expected_config_may_be_a_dataclass_and_tuples_equal_lists(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        d_model: int = 8
        sizes: tuple = (1, 2)

    path = save_checkpoint(tmp_path / "c.pt", {"config": dataclasses.asdict(Cfg())})
    assert load_checkpoint(path, expected_config=Cfg())["config"]["d_model"] == 8
    path = save_checkpoint(tmp_path / "c.pt", {"config": {"d_model": 8, "sizes": [1, 2]}})
    load_checkpoint(path, expected_config=Cfg())
    with pytest.raises(CheckpointMismatchError, match="d_model: checkpoint=8, model=16"):
        load_checkpoint(path, expected_config=Cfg(d_model=16))


def test_missing_file_error_is_helpful(tmp_path):
    save_checkpoint(tmp_path / "other.pt", {"step": 0})
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nope.pt.*other.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing_dir" / "c.pt")


def test_non_checkpoint_files_are_rejected(tmp_path):
    torch_file = tmp_path / "weights.pt"
    torch.save({"weight": torch.ones(2)}, torch_file)
    with pytest.raises(NotACheckpointError, match="format"):
        load_checkpoint(torch_file)
    text_file = tmp_path / "notes.pt"
    text_file.write_text("not a checkpoint")
    with pytest.raises(NotACheckpointError, match="save_checkpoint"):
        load_checkpoint(text_file)
    assert issubclass(NotACheckpointError, ValueError)


def test_newer_format_is_rejected(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": 99, "library_version": "9.9"}, path)
    with pytest.raises(NotACheckpointError, match="upgrade"):
        load_checkpoint(path)


def test_save_json_replaces_the_file_whole_and_leaves_no_temporary(tmp_path, monkeypatch):
    import json

    from metalearn_edu import checkpoint

    target = tmp_path / "deep" / "study.json"
    checkpoint.save_json(target, {"runs": {"a": 1}})
    assert json.loads(target.read_text()) == {"runs": {"a": 1}}

    def broken_replace(src, dst):  # a failure between writing and renaming keeps the old file intact
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save_json(target, {"runs": {"a": 2}})
    assert json.loads(target.read_text()) == {"runs": {"a": 1}}
    assert sorted(p.name for p in target.parent.iterdir()) == ["study.json"]
