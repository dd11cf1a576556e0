"""What a run needs from its environment: device, seeds, precision, processes, signals.

* `pick_device`: cuda > mps > cpu (or ``$METALEARN_DEVICE``).
* Seeds: everything random in the library takes an explicit seed or `torch.Generator`;
  `derived_generator` makes one from (seed, index, salt), e.g. "the masking of step 7" or
  "episode 3", so a run can be replayed from any point; `seed_everything` is for notebooks and
  scripts that also use torch's global RNG (dropout, `nn.Linear`'s initialisation).
* Precision: `precision_dtype` maps ``"auto" | "fp32" | "bf16" | "fp16"`` to an autocast dtype
  for a device, and `autocast` is the one context manager that applies it.
* Processes: `init_distributed_from_env` starts DistributedDataParallel under ``torchrun``;
  `dist_info` and `any_process` are what a training loop needs to agree across processes.
* Signals: `deferred_interrupts` turns Ctrl-C / SIGTERM into a flag that a loop checks at a
  safe point (between steps), so a checkpoint is never taken in the middle of a step.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
import signal
import threading
import time
from dataclasses import dataclass
from typing import Iterator

import torch

from .checks import check_int

DEVICE_ENV_VAR = "METALEARN_DEVICE"
CLOCK_ENV_VAR = "METALEARN_CLOCK"


def clock() -> float:
    """Seconds for time budgets and histories: wall-clock, or this process's CPU time.

    ``$METALEARN_CLOCK=process`` switches to `time.process_time`: a single-threaded study then
    gets the same budget whatever else the machine runs, so runs that share a CPU stay comparable.
    """
    if os.environ.get(CLOCK_ENV_VAR) == "process":
        return time.process_time()
    return time.perf_counter()


def pick_device(prefer: str | None = None) -> torch.device:
    """The best available device: cuda > mps > cpu.

    Args:
        prefer: force a device ("cpu", "cuda", "cuda:1", "mps"); defaults to
            ``$METALEARN_DEVICE`` when set.
    """
    prefer = prefer or os.environ.get(DEVICE_ENV_VAR) or None
    if prefer is not None:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={prefer!r} was requested but CUDA is not available; use 'cpu'")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device={prefer!r} was requested but MPS is not available; use 'cpu'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, torch's (CPU and CUDA) global RNGs; return a fresh CPU generator.

    The returned generator is what library functions that take ``generator=``
    should receive, so their randomness does not depend on what ran before.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def derived_generator(seed: int, index: int, salt: str = "") -> torch.Generator:
    """A CPU generator that depends only on ``(salt, seed, index)``.

    The three are hashed (SHA-256) into a 63-bit seed, so neighbouring seeds and indices give
    unrelated streams and no two (seed, index) pairs collide the way ``seed * 1000 + index``
    would. The library's one seeding scheme: episodes, the batch order and the masking of each
    pretraining step all come from it.

    Example:
        >>> a = torch.rand(2, generator=derived_generator(0, 7, "demo"))
        >>> torch.equal(a, torch.rand(2, generator=derived_generator(0, 7, "demo")))
        True
    """
    digest = hashlib.sha256(f"{salt}:{seed}:{index}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


@functools.lru_cache(maxsize=None)
def cpu_has_fast_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX).

    On such CPUs a bf16 matmul runs several times faster than fp32 (≈ 4× on the
    course's reference machine; see ``benchmarks/bench_matmul.py``).
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def best_autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The lower-precision dtype worth using on `device`, or None for plain fp32.

    cuda: bf16 where supported (Ampere and newer), else fp16 (needs a GradScaler);
    cpu: bf16 when the CPU has native bf16 instructions; mps: None.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Evaluation mode (no dropout) inside the block; the model's previous mode afterwards, even on error.

    Example:
        >>> net = torch.nn.Dropout(0.5)
        >>> with eval_mode(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def cpu_threads(n: int) -> Iterator[int]:
    """torch's intra-op CPU threads set to `n` inside the block, restored afterwards, even on error.

    For tiny networks (the sinusoid MLP) one thread is faster: splitting an operation on a few
    thousand numbers across cores costs more than it saves (chapter 3's run: 527 outer steps/s on
    one thread against 408 on two, on a 2-core CPU).

    Example:
        >>> before = torch.get_num_threads()
        >>> with cpu_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    check_int("n", n)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def precision_dtype(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype of a precision name on `device` (None: plain fp32).

    ``"auto"`` is `best_autocast_dtype`; ``"fp16"`` needs CUDA (it also needs a GradScaler).

    Raises:
        ValueError: for an unknown name, or fp16 off CUDA.
    """
    device = torch.device(device)
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not allowed; choose one of {PRECISIONS}")
    if precision == "auto":
        return best_autocast_dtype(device)
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision='fp16' needs CUDA; on {device.type} use 'bf16' or 'fp32'")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device | str, dtype: torch.dtype | None | str = "auto") -> contextlib.AbstractContextManager:
    """Mixed-precision context for `device`.

    Args:
        device: where the computation runs.
        dtype: a precision name (``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"``, see
            `precision_dtype`), None for fp32, or a dtype.

    Example:
        >>> x = torch.ones(2, 2)
        >>> with autocast("cpu", "bf16"):
        ...     (x @ x).dtype
        torch.bfloat16
    """
    device = torch.device(device)
    if isinstance(dtype, str):
        dtype = precision_dtype(dtype, device)
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# ---------------------------------------------------------------------------------------
# Several processes (torchrun)
# ---------------------------------------------------------------------------------------
def dist_info() -> tuple[int, int]:
    """(rank, world_size); (0, 1) outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def init_distributed_from_env() -> tuple[int, int, torch.device | None]:
    """Start the process group when launched by torchrun (WORLD_SIZE > 1).

    Returns:
        (rank, world_size, device): gloo on CPU, NCCL with one GPU per process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, None
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    rank = torch.distributed.get_rank()
    device = None
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    return rank, world, device


def finish_distributed() -> None:
    """Leave the process group cleanly (a no-op outside torchrun).

    Every process waits at a barrier first: a process that tears gloo down while another is
    still talking to it can abort the other ("terminate called without an active exception").
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def all_reduce_sum(value: float, device: torch.device) -> float:
    """The sum of `value` over all processes (the value itself with one process)."""
    if dist_info()[1] == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.item()


def any_process(flag: bool, device: torch.device) -> bool:
    """True when `flag` is True on any process, so that all processes take the same branch."""
    return all_reduce_sum(float(flag), device) > 0


# ---------------------------------------------------------------------------------------
# Ctrl-C and SIGTERM at a safe point
# ---------------------------------------------------------------------------------------
@dataclass
class InterruptRequest:
    """What `deferred_interrupts` yields: whether a stop was asked for, and by which signal."""

    signal: int | None = None
    installed: bool = False  # False where handlers cannot be installed (not the main thread)

    @property
    def requested(self) -> bool:
        return self.signal is not None


@contextlib.contextmanager
def deferred_interrupts(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[InterruptRequest]:
    """Turn the first Ctrl-C / SIGTERM into a request that the loop honours between steps.

    Inside the context the first signal only sets ``request.signal``; the loop checks
    ``request.requested`` at its safe points (after a step, an evaluation or a save) and stops
    there. A second signal raises `KeyboardInterrupt` at once, for a loop that does not get to
    its safe point. The previous handlers are restored on exit. Outside the main thread (where
    Python allows no signal handlers) nothing is installed and ``request.installed`` is False.
    """
    request = InterruptRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handler(signum, frame):
        if request.requested:
            raise KeyboardInterrupt(f"signal {signum} received twice")
        request.signal = signum

    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        signal.signal(sig, handler)
    request.installed = True
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
