"""MLM pretraining: packing, schedule, exact resume (whichever phase a signal hits), gradient accumulation, DDP."""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import metalearn_edu.pretrain as pt
from metalearn_edu.checkpoint import CheckpointMismatchError
from metalearn_edu.pretrain import PretrainConfig, batch_indices, evaluate_mlm, lr_factor, pack_blocks, pretrain

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import synthetic_setup  # noqa: E402

FAST = dict(eval_every=100, precision="fp32", lr=3e-3, warmup_steps=1)


def test_pack_blocks_wraps_cls_and_sep(course_tokenizer):
    tok = course_tokenizer
    texts = ["The minister said the talks would resume on Monday.", "Shares rose sharply in London."] * 20
    blocks = pack_blocks(texts, tok, seq_len=16)
    assert blocks.shape[1] == 16 and blocks.shape[0] >= 10
    assert (blocks[:, 0] == tok.cls_token_id).all() and (blocks[:, -1] == tok.sep_token_id).all()
    assert not (blocks == tok.pad_token_id).any()
    # The stream is the documents' tokens, each followed by [SEP], in order.
    first = tok(texts[0], add_special_tokens=False)["input_ids"]
    assert blocks[0, 1:1 + len(first)].tolist() == first[:14]
    with pytest.raises(ValueError, match="seq_len=4"):
        pack_blocks(texts, tok, seq_len=4)
    with pytest.raises(ValueError, match="texts is empty"):
        pack_blocks([], tok, seq_len=16)


def test_batch_order_covers_each_block_once_per_epoch():
    seen = torch.cat([batch_indices(40, 8, step, seed=1) for step in range(5)])
    assert sorted(seen.tolist()) == list(range(40))
    assert not torch.equal(batch_indices(40, 8, 0, seed=1), batch_indices(40, 8, 5, seed=1))  # reshuffled
    with pytest.raises(ValueError, match="batch_size=50 exceeds the 40 training blocks"):
        batch_indices(40, 50, 0, seed=0)


def test_lr_schedule_warms_up_then_decays():
    cfg = PretrainConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1)
    factors = [lr_factor(s, cfg) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert lr_factor(100, cfg) == pytest.approx(0.1)


def test_pretrain_config_errors():
    with pytest.raises(ValueError, match="batch_size=10 must be divisible by grad_accum=3"):
        PretrainConfig(batch_size=10, grad_accum=3)
    with pytest.raises(ValueError, match="precision='fp8'"):
        PretrainConfig(precision="fp8")
    with pytest.raises(ValueError, match="steps=0"):
        PretrainConfig(steps=0)
    with pytest.raises(ValueError, match="lr=-1"):
        PretrainConfig(lr=-1)


@pytest.mark.parametrize("kwargs,name", [({"lr": float("inf")}, "lr"), ({"grad_clip": -1.0}, "grad_clip"),
                                         ({"weight_decay": -0.1}, "weight_decay")])
def test_pretrain_config_refuses_bad_numbers(kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        PretrainConfig(**kwargs)


def test_training_lowers_the_loss_below_unigram():
    model, blocks, vocab = synthetic_setup(vocab_size=60, n_blocks=64)
    # A learnable pattern: token t is always followed by t + 1 (mod the ordinary ids).
    start = torch.randint(5, 60, (64, 1), generator=torch.Generator().manual_seed(0))
    blocks[:, 1:-1] = 5 + (start - 5 + torch.arange(14)) % 55
    cfg = PretrainConfig(steps=120, batch_size=16, **{**FAST, "lr": 1e-2, "warmup_steps": 10})
    seen = []
    history = pretrain(model, blocks, blocks[:32], vocab, cfg, progress=False, log=None, on_step=seen.append)
    assert history.eval_loss[-1] < history.unigram_loss[-1] - 1.0
    assert history.eval_top1[-1] > 10 / 55  # ten times chance
    assert seen == list(range(1, 121))  # the step callback (a widget's progress bar) sees every step


# ---------------------------------------------------------------------------------------
# Interrupts and exact resume
# ---------------------------------------------------------------------------------------
def _with_dropout(model, p=0.1):
    """Dropout makes the run depend on torch's RNG, which the checkpoint must restore."""
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = p
    return model


def _dropout_setup():
    model, blocks, vocab = synthetic_setup()
    return _with_dropout(model), blocks, vocab


def test_an_undeferred_interrupt_saves_nothing_mid_step_and_resume_is_still_exact(tmp_path):
    """A KeyboardInterrupt raised inside a step (a second Ctrl-C) stops at once; the rerun resumes
    from the last checkpoint taken between steps and still reproduces the uninterrupted run."""
    cfg = PretrainConfig(steps=6, batch_size=8, checkpoint_every=2, **FAST)
    model, blocks, vocab = synthetic_setup()
    full = pretrain(_with_dropout(model), blocks, blocks[:8], vocab, cfg, progress=False, log=None)

    original = pt.step_generator

    def interrupting(seed, step):
        if step == 3:  # inside the fourth step, after a checkpoint at step 2
            raise KeyboardInterrupt
        return original(seed, step)

    model_b, blocks, vocab = synthetic_setup()
    pt.step_generator = interrupting
    try:
        with pytest.raises(pt.TrainingInterrupted, match="step 2") as stopped:
            pretrain(_with_dropout(model_b), blocks, blocks[:8], vocab, cfg, out_dir=tmp_path, progress=False,
                     log=None)
    finally:
        pt.step_generator = original
    assert stopped.value.checkpoint == tmp_path / "checkpoint.pt"
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 2
    model_c, blocks, vocab = synthetic_setup()  # a fresh process would start like this
    resumed = pretrain(_with_dropout(model_c), blocks, blocks[:8], vocab, cfg, out_dir=tmp_path, progress=False,
                       log=None)
    assert resumed.step == full.step == [1, 2, 3, 4, 5, 6]
    assert resumed.train_loss == full.train_loss  # exactly, not approximately
    for (n, p), q in zip(model.named_parameters(), model_c.parameters()):
        assert torch.equal(p, q), n


INTERRUPT_CFG = PretrainConfig(steps=6, batch_size=8, eval_every=2, checkpoint_every=100, precision="fp32", lr=3e-3,
                               warmup_steps=1)


def _run(out_dir=None):
    model, blocks, vocab = _dropout_setup()
    history = pretrain(model, blocks, blocks[:8], vocab, INTERRUPT_CFG, out_dir=out_dir, progress=False, log=None)
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


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    model, blocks, vocab = synthetic_setup()
    cfg = PretrainConfig(steps=2, batch_size=8, **FAST)
    pretrain(model, blocks, blocks[:8], vocab, cfg, out_dir=tmp_path, progress=False, log=None)
    other, _, _ = synthetic_setup()
    other = type(other)(other.cfg.replace(n_layers=3))
    with pytest.raises(CheckpointMismatchError, match="n_layers: checkpoint=2, model=3"):
        pretrain(other, blocks, blocks[:8], vocab, cfg, out_dir=tmp_path, progress=False, log=None)


def test_stop_after_runs_the_first_steps_of_the_longer_schedule():
    model, blocks, vocab = synthetic_setup()
    whole = pretrain(model, blocks, blocks[:8], vocab, PretrainConfig(steps=6, batch_size=8, **FAST),
                     progress=False, log=None)
    model2, blocks, vocab = synthetic_setup()
    part = pretrain(model2, blocks, blocks[:8], vocab, PretrainConfig(steps=6, stop_after=4, batch_size=8, **FAST),
                    progress=False, log=None)
    assert part.step == [1, 2, 3, 4] and part.eval_step[-1] == 4
    assert part.lr == whole.lr[:4] and part.train_loss == whole.train_loss[:4]  # same schedule, same steps
    with pytest.raises(ValueError, match="stop_after"):
        PretrainConfig(stop_after=0)


def test_optimizer_state_from_another_run_is_used_with_this_runs_schedule(tmp_path):
    from metalearn_edu.checkpoint import load_checkpoint

    cfg = PretrainConfig(steps=3, batch_size=8, **FAST)
    model, blocks, vocab = synthetic_setup()
    pretrain(model, blocks, blocks[:8], vocab, cfg, out_dir=tmp_path, progress=False, log=None)
    state = load_checkpoint(tmp_path / "checkpoint.pt")["optimizer"]["state"]
    assert state and all(int(v["step"]) == 3 for v in state.values())
    # Moments that make every update tiny: m = 0 and a huge v. A run that really starts from them
    # barely moves its weights in one step; a fresh AdamW moves them by about lr.
    frozen = {i: {**v, "exp_avg": torch.zeros_like(v["exp_avg"]), "exp_avg_sq": torch.full_like(v["exp_avg_sq"], 1e12)}
              for i, v in state.items()}
    one = PretrainConfig(steps=1, batch_size=8, **{**FAST, "lr": 1e-2, "warmup_steps": 0})
    moved = {}
    for name, kwargs in (("fresh", {}), ("kept", {"optimizer_state": frozen})):
        start, _, _ = synthetic_setup()
        start.load_state_dict(model.state_dict())
        history = pretrain(start, blocks, blocks[:8], vocab, one, progress=False, log=None, **kwargs)
        assert history.lr[0] == pytest.approx(1e-2)  # this run's learning rate, not the other run's
        moved[name] = max((p - q).abs().max().item() for p, q in zip(start.parameters(), model.parameters()))
    assert moved["fresh"] > 1e-3 and moved["kept"] < 1e-5
    wrong = {0: {**state[0], "exp_avg": torch.zeros(3, 3)}}
    with pytest.raises(ValueError, match="optimizer_state does not fit"):
        pretrain(synthetic_setup()[0], blocks, blocks[:8], vocab, one, progress=False, log=None,
                 optimizer_state=wrong)


# ---------------------------------------------------------------------------------------
# Variants: accumulation, bf16, several processes
# ---------------------------------------------------------------------------------------
def test_gradient_accumulation_matches_the_full_batch():
    cfg = PretrainConfig(steps=3, batch_size=8, **FAST)
    model, blocks, vocab = synthetic_setup()
    full = pretrain(model, blocks, blocks[:8], vocab, cfg, progress=False, log=None)
    model2, blocks, vocab = synthetic_setup()
    accum = pretrain(model2, blocks, blocks[:8], vocab, PretrainConfig(steps=3, batch_size=8, grad_accum=4, **FAST),
                     progress=False, log=None)
    assert accum.train_loss == pytest.approx(full.train_loss, abs=1e-5)
    for p, q in zip(model.parameters(), model2.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)


def test_bf16_autocast_trains_close_to_fp32():
    model, blocks, vocab = synthetic_setup()
    fp32 = pretrain(model, blocks, blocks[:8], vocab, PretrainConfig(steps=3, batch_size=8, **FAST),
                    progress=False, log=None)
    model2, blocks, vocab = synthetic_setup()
    bf16 = pretrain(model2, blocks, blocks[:8], vocab,
                    PretrainConfig(steps=3, batch_size=8, **{**FAST, "precision": "bf16"}), progress=False, log=None)
    assert bf16.train_loss == pytest.approx(fp32.train_loss, abs=0.05)


# gloo occasionally aborts one process while the pair tears down after the last barrier
# ("terminate called without an active exception", after the results are written; 1 launch in about
# 80 on a loaded 2-core machine). That is torch's teardown, not the training under test, so such a launch is retried once.
TEARDOWN_ABORT = "terminate called without an active exception"


def _free_port() -> int:
    with socket.socket() as s:  # a free port, so a lingering socket from an earlier run cannot collide
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    worker = Path(__file__).parent / "ddp_worker.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(worker), str(tmp_path / "one.json")], check=True, env=env)
    for attempt in range(2):
        (tmp_path / "two.json").unlink(missing_ok=True)
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                               f"--master_port={_free_port()}", str(worker), str(tmp_path / "two.json")],
                              env=env, capture_output=True, text=True)
        if done.returncode == 0 or TEARDOWN_ABORT not in done.stderr or not (tmp_path / "two.json").exists():
            break
    assert done.returncode == 0, done.stderr[-3000:]
    one = json.loads((tmp_path / "one.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    assert (one["world"], two["world"]) == (1, 2)
    assert len(two["train_loss"]) == 5
    assert two["train_loss"] == pytest.approx(one["train_loss"], abs=1e-5)


def test_evaluation_is_deterministic_and_reports_unigram():
    model, blocks, vocab = synthetic_setup()
    log_uni = torch.full((vocab.vocab_size,), -math.log(vocab.vocab_size - 5))
    a = evaluate_mlm(model, blocks, vocab, log_uni, precision="fp32")
    b = evaluate_mlm(model, blocks, vocab, log_uni, precision="fp32")
    assert a == b
    assert a["unigram_loss"] == pytest.approx(math.log(vocab.vocab_size - 5))
    assert 0 <= a["top1"] <= a["top5"] <= 1 and a["perplexity"] == pytest.approx(math.exp(a["loss"]))
