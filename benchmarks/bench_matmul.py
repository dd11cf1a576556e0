"""How fast is a matmul in fp32 vs bf16 here? (The reason `runtime.autocast` prefers bf16 on this CPU.)

    python benchmarks/bench_matmul.py            # sizes 256 … 2048
"""

import argparse
import platform
import time
from pathlib import Path

import torch

from metalearn_edu.runtime import cpu_has_fast_bf16


def cpu_name() -> str:
    """The CPU's model name (Linux), so a result file says which machine it came from."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gflops(n: int, dtype: torch.dtype, reps: int) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(2):
        a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    args = p.parse_args()
    print(f"{cpu_name()}, threads {torch.get_num_threads()}, native bf16 instructions: {cpu_has_fast_bf16()}")
    print("| n | fp32 GFLOP/s | bf16 GFLOP/s | bf16 / fp32 |")
    print("|---:|---:|---:|---:|")
    for n in args.sizes:
        reps = max(3, int(2e10 / (2 * n**3)))
        f32, b16 = gflops(n, torch.float32, reps), gflops(n, torch.bfloat16, reps)
        print(f"| {n} | {f32:.0f} | {b16:.0f} | {b16 / f32:.1f}× |")


if __name__ == "__main__":
    main()
