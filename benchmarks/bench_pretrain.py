"""Training throughput: our encoder vs `transformers.BertForMaskedLM`, same config, same process.

    python benchmarks/bench_pretrain.py                      # L4/H256, batch 32 × 128, vocab 8000
    python benchmarks/bench_pretrain.py --size micro --steps 20

Both models get the same config (post-LN, as BERT; hidden dropout 0.1, attention dropout 0),
the same masked batches and AdamW. Each runs in fp32 and in bf16 autocast (when the CPU has
native bf16 instructions or on CUDA). Ours is called as `pretrain` calls it: it projects onto
the vocabulary only at the masked positions and runs its last block only there
(`BertEncoder.masked_lm_logits`); BertForMaskedLM computes every position (that is how it works).
The two models' steps alternate (ours, theirs, theirs, ours, ...) so that a busy spell of the
machine slows both alike; tokens/s is from the median step time. Prints tokens/s, the ratios,
and our model-FLOPs utilisation against a matmul peak measured in the same process.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from metalearn_edu.config import model_config
from metalearn_edu.interop import config_to_hf
from metalearn_edu.masking import MaskingVocab, mask_tokens
from metalearn_edu.model import BertEncoder
from metalearn_edu.runtime import best_autocast_dtype

from bench_matmul import cpu_name, gflops  # the same matmul-peak measurement (this folder is on sys.path when run as a script)


def model_flops_per_step(cfg, batch: int, seq: int, n_masked: int) -> float:
    """Training FLOPs a BERT needs to get the MLM loss at `n_masked` positions (fwd + bwd ≈ 3 × fwd),
    counting matmuls only: all positions through every block but the last, whose keys and
    values need all positions and everything else only the masked ones."""
    d, L, f, V = cfg.d_model, cfg.n_layers, cfg.d_ff, cfg.vocab_size
    tokens = batch * seq
    per_token_layer = 2 * (4 * d * d + 2 * d * f) + 2 * 2 * seq * d  # projections + QKᵀ and AV
    last_layer = tokens * 2 * 2 * d * d + n_masked * (2 * (2 * d * d + 2 * d * f) + 2 * 2 * seq * d)
    head = 2 * (d * d + d * V) * n_masked
    return 3 * (tokens * (L - 1) * per_token_layer + last_layer + head)


def time_alternating(steps: dict, n: int, warmup: int = 3) -> dict:
    """Median seconds per step of each closure, the closures' steps alternating (order flipped each round)."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    names, times = list(steps), {name: [] for name in steps}
    for r in range(n):
        for name in (names if r % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            steps[name]()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="mini")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from transformers import BertForMaskedLM

    device = torch.device("cpu")
    cfg = model_config(args.size, vocab_size=args.vocab, max_len=args.seq, attn_dropout=0.0)
    gen = torch.Generator().manual_seed(0)
    blocks = torch.randint(5, args.vocab, (args.batch, args.seq), generator=gen)
    blocks[:, 0], blocks[:, -1] = 2, 3
    vocab = MaskingVocab(vocab_size=args.vocab, mask_id=4, special_ids=(0, 1, 2, 3, 4))
    masked = mask_tokens(blocks, vocab, generator=gen)
    ids, labels = masked.input_ids, masked.labels
    n_masked = int((labels != -100).sum())

    torch.manual_seed(0)
    ours = BertEncoder(cfg).train()
    torch.manual_seed(0)
    hf = BertForMaskedLM(config_to_hf(cfg)).train()
    hf.config._attn_implementation = "sdpa"  # transformers' default (faster than eager)

    def make_step(model, is_hf: bool, dtype):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                if is_hf:
                    loss = model(input_ids=ids, labels=labels).loss
                else:
                    sel = labels != -100
                    logits = model.masked_lm_logits(ids, sel)
                    loss = F.cross_entropy(logits.float(), labels[sel])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    best = best_autocast_dtype(device)
    precisions = [("fp32", None)] + ([("bf16", best)] if best is not None else [])
    tokens = args.batch * args.seq
    print(f"config: {args.size} (d_model={cfg.d_model}, n_layers={cfg.n_layers}, n_heads={cfg.n_heads}, "
          f"d_ff={cfg.d_ff}), vocab {args.vocab}, batch {args.batch} × {args.seq}, {n_masked} masked tokens, "
          f"{torch.get_num_threads()} threads, {cpu_name()}")
    results = {}
    for name, dtype in precisions:
        seconds = time_alternating({"ours": make_step(ours, False, dtype), "transformers": make_step(hf, True, dtype)},
                                   args.steps)
        for who, sec in seconds.items():
            results[(who, name)] = tokens / sec
            print(f"  {who:>12} {name}: {sec * 1000:7.0f} ms/step  {tokens / sec:8.0f} tokens/s")

    print("\nratios (tokens/s, ours / transformers):")
    for name, _ in precisions:
        print(f"  equal precision {name}: {results[('ours', name)] / results[('transformers', name)]:.2f}×")
    best_ours = max(v for (who, _), v in results.items() if who == "ours")
    print(f"  ours-best vs transformers-fp32: {best_ours / results[('transformers', 'fp32')]:.2f}×")

    flops = model_flops_per_step(cfg, args.batch, args.seq, n_masked)
    print("\nour model-FLOPs utilisation (matmul FLOPs needed / time, against a 2048² matmul peak):")
    for name, dtype in precisions:
        peak = gflops(2048, dtype or torch.float32, reps=10)
        achieved = flops * results[("ours", name)] / tokens / 1e9
        print(f"  {name}: {achieved:6.1f} GFLOP/s of a measured {peak:6.1f} GFLOP/s peak = {achieved / peak:.1%}")


if __name__ == "__main__":
    main()
