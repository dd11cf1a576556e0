"""Device choice, seeding, derived generators, eval mode, precision and autocast, deferred interrupts."""

import os
import signal
import threading
import time

import pytest
import torch

from metalearn_edu import runtime
from metalearn_edu.runtime import (
    autocast,
    deferred_interrupts,
    derived_generator,
    eval_mode,
    pick_device,
    precision_dtype,
    seed_everything,
)


def test_pick_device_prefers_what_exists(monkeypatch):
    monkeypatch.delenv("METALEARN_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device().type == expected
    assert pick_device("cpu").type == "cpu"
    monkeypatch.setenv("METALEARN_DEVICE", "cpu")
    assert pick_device().type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_asking_for_missing_cuda_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available; use 'cpu'"):
        pick_device("cuda")


def test_seed_everything_makes_runs_repeat():
    g1 = seed_everything(5)
    a = torch.randn(3), torch.randn(2, generator=g1)
    g2 = seed_everything(5)
    b = torch.randn(3), torch.randn(2, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# ---------------------------------------------------------------------------------------
# derived_generator
# ---------------------------------------------------------------------------------------
def _draw(generator: torch.Generator, n: int = 8) -> torch.Tensor:
    return torch.rand(n, generator=generator)


def test_derived_generator_replays_and_ignores_the_global_rng():
    torch.manual_seed(0)
    first = _draw(derived_generator(3, 7, "masking"))
    torch.manual_seed(1)
    torch.rand(100)
    again = derived_generator(3, 7, "masking")
    assert again.device.type == "cpu"
    assert torch.equal(_draw(again), first)
    assert 0 <= again.initial_seed() < 2**63


def test_derived_generator_depends_on_seed_index_and_salt():
    keys = [(seed, index, salt) for seed in (0, 1, 2) for index in (0, 1, 1000) for salt in ("", "episode", "step")]
    draws = {tuple(_draw(derived_generator(*key)).tolist()) for key in keys}
    assert len(draws) == len(keys)  # each of the three changes the stream
    # no collision of the `seed * 1000 + index` kind
    assert not torch.equal(_draw(derived_generator(1, 0)), _draw(derived_generator(0, 1000)))
    seeds = {derived_generator(0, i, "x").initial_seed() for i in range(1000)}
    assert len(seeds) == 1000


def test_neighbouring_derived_streams_are_uncorrelated():
    a = torch.rand(20_000, generator=derived_generator(0, 0, "s"))
    for other in (derived_generator(0, 1, "s"), derived_generator(1, 0, "s"), derived_generator(0, 0, "t")):
        b = torch.rand(20_000, generator=other)
        assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 0.03  # σ ≈ 0.007


# ---------------------------------------------------------------------------------------
# eval_mode
# ---------------------------------------------------------------------------------------
def test_eval_mode_switches_off_training_and_restores_the_previous_mode():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    with eval_mode(net) as inside:
        assert inside is net
        assert not net.training and not any(m.training for m in net.modules())
    assert net.training and all(m.training for m in net.modules())
    net.eval()
    with eval_mode(net):
        assert not net.training
    assert not net.training and not any(m.training for m in net.modules())  # it was in eval mode before


def test_eval_mode_restores_the_mode_when_the_block_raises():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    with pytest.raises(RuntimeError, match="boom"):
        with eval_mode(net):
            assert not net[1].training
            raise RuntimeError("boom")
    assert net.training and net[1].training


# ---------------------------------------------------------------------------------------
# Precision and autocast
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), (torch.bfloat16, torch.bfloat16),
                                              ("fp32", torch.float32), (None, torch.float32),
                                              (torch.float32, torch.float32)])
def test_autocast_sets_the_dtype_of_a_cpu_matmul(precision, dtype):
    x = torch.randn(4, 4)
    with autocast("cpu", precision):
        y = x @ x
    assert y.dtype == dtype
    assert (x @ x).dtype == torch.float32  # and only inside the block


@pytest.mark.parametrize("fast_bf16, dtype", [(True, torch.bfloat16), (False, None)])
def test_auto_precision_follows_the_cpus_bf16_support(monkeypatch, fast_bf16, dtype):
    # cpu_has_fast_bf16 is lru_cached: replace the function itself, not what it reads
    monkeypatch.setattr(runtime, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert precision_dtype("auto", "cpu") == dtype
    assert runtime.best_autocast_dtype("cpu") == dtype
    x = torch.randn(4, 4)
    with autocast("cpu"):  # "auto" is the default
        assert (x @ x).dtype == (dtype or torch.float32)
    assert precision_dtype("fp32", "cpu") is None and precision_dtype("bf16", "cpu") is torch.bfloat16


def test_unusable_precisions_are_refused_with_their_name():
    with pytest.raises(ValueError, match="precision='fp16' needs CUDA; on cpu"):
        precision_dtype("fp16", "cpu")
    with pytest.raises(ValueError, match="precision='fp16' needs CUDA"):
        autocast("cpu", "fp16")
    for name in ("fp8", "float32", "BF16", ""):
        with pytest.raises(ValueError, match=f"precision='{name}' is not allowed"):
            precision_dtype(name, "cpu")


# ---------------------------------------------------------------------------------------
# deferred_interrupts
# ---------------------------------------------------------------------------------------
def _signal_self(signum: int, request=None) -> None:
    """Send `signum` to this process and give Python the chance to run its handler."""
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (request is None or not request.requested):
        time.sleep(0.001)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_first_signal_is_a_request_and_the_second_raises(signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with deferred_interrupts() as request:
        assert request.installed and not request.requested and request.signal is None
        _signal_self(signum, request)  # would stop the process without the deferral
        assert request.requested and request.signal == signum
        with pytest.raises(KeyboardInterrupt):
            _signal_self(signal.SIGINT)
        assert request.signal == signum  # the first one is what was asked for
    assert {s: signal.getsignal(s) for s in before} == before


def test_handlers_are_restored_when_the_block_raises():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(RuntimeError, match="inside"):
        with deferred_interrupts():
            assert signal.getsignal(signal.SIGINT) is not before[signal.SIGINT]
            raise RuntimeError("inside")
    assert {s: signal.getsignal(s) for s in before} == before


def test_only_the_given_signals_are_deferred():
    sigint = signal.getsignal(signal.SIGINT)
    with deferred_interrupts((signal.SIGUSR1,)) as request:
        assert signal.getsignal(signal.SIGINT) is sigint
        _signal_self(signal.SIGUSR1, request)
        assert request.signal == signal.SIGUSR1
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL


def test_outside_the_main_thread_nothing_is_installed():
    before = signal.getsignal(signal.SIGINT)
    seen = {}

    def worker():
        with deferred_interrupts() as request:
            seen["installed"], seen["requested"] = request.installed, request.requested
            seen["handler"] = signal.getsignal(signal.SIGINT)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == {"installed": False, "requested": False, "handler": before}


def test_cpu_threads_is_restored_even_on_error():
    from metalearn_edu.runtime import cpu_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with cpu_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="n=0"):
        with cpu_threads(0):
            pass
    assert torch.get_num_threads() == before
