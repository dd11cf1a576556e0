"""Device choice, seeding and mixed precision.

Everything random in the library takes an explicit seed or `torch.Generator`;
`seed_everything` is for notebooks and scripts that also call torch's global RNG
(e.g. through dropout or `nn.Linear`'s initialisation).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
from typing import Iterator

import torch

DEVICE_ENV_VAR = "METALEARN_DEVICE"


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
def autocast(device: torch.device | str, dtype: torch.dtype | None | str = "auto") -> Iterator[None]:
    """Mixed-precision context for `device`.

    Args:
        device: where the computation runs.
        dtype: "auto" (see `best_autocast_dtype`), None for fp32, or a dtype.
    """
    device = torch.device(device)
    if dtype == "auto":
        dtype = best_autocast_dtype(device)
    if dtype is None or dtype == torch.float32:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield
