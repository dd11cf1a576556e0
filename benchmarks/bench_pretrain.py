"""Training throughput: our encoder vs `transformers.BertForMaskedLM`, same config, same process.

    python benchmarks/bench_pretrain.py                      # L4/H256, batch 32 × 128, vocab 8000
    python benchmarks/bench_pretrain.py --size micro --steps 20

Both models get the same config (post-LN, as BERT; hidden dropout 0.1, attention dropout 0),
the same masked batches and AdamW. Each runs in fp32 and in bf16 autocast (when the CPU has
native bf16 instructions or on CUDA). Ours projects onto the vocabulary only at the masked
positions; BertForMaskedLM computes logits everywhere (that is how it works). Prints tokens/s,
the ratios, and our model-FLOPs utilisation against a matmul peak measured in the same process.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from metalearn_edu.config import model_config
from metalearn_edu.interop import config_to_hf
from metalearn_edu.masking import MaskingVocab, mask_tokens
from metalearn_edu.model import BertEncoder
from metalearn_edu.runtime import best_autocast_dtype

from bench_matmul import gflops  # the same matmul-peak measurement (this folder is on sys.path when run as a script)


def model_flops_per_step(cfg, batch: int, seq: int, n_masked: int) -> float:
    """Training FLOPs our model needs (fwd + bwd ≈ 3 × fwd), counting matmuls only."""
    d, L, f, V = cfg.d_model, cfg.n_layers, cfg.d_ff, cfg.vocab_size
    tokens = batch * seq
    per_token_layer = 2 * (4 * d * d + 2 * d * f) + 2 * 2 * seq * d  # projections + QKᵀ and AV
    head = 2 * (d * d + d * V) * n_masked
    return 3 * (tokens * L * per_token_layer + head)


def time_steps(step, steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="mini")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()

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
                    logits = model(ids, head="mlm", mlm_mask=sel).logits
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
          f"{torch.get_num_threads()} threads")
    results = {}
    for name, dtype in precisions:
        for who, model, is_hf in (("ours", ours, False), ("transformers", hf, True)):
            sec = time_steps(make_step(model, is_hf, dtype), args.steps)
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
