"""Meta-learning *as* pretraining at equal compute: more MLM vs SMLMT vs the hybrid.

    python benchmarks/equal_compute.py --budget 240 --out benchmarks/results/equal_compute.json  # ~40 min, 1 thread
    python benchmarks/equal_compute.py --quick                                                   # smoke run

Every run starts from the shipped MLM checkpoint ``mlm-micro`` and spends the same
wall-clock budget (``--budget`` seconds, one thread) in the library's pretraining loop
(`metalearn_edu.pretrain.pretrain`) with AdamW at a constant ``--lr`` after 20 warm-up
steps, fp32, on one of the objectives

    L(θ) = (1 − λ) · L_MLM(θ) + λ · L_SMLMT-meta(θ)

* ``mlm`` (λ = 0): more masked-LM on 32 × 128-token blocks of the training articles;
* ``smlmt`` (λ = 1): first-order MAML on SMLMT episodes (5-way 5-shot, training articles,
  training words; top block + head adapt, 3 inner steps, α = 0.05, meta-batch 4);
* ``hybrid-λ`` for each ``--weights`` value: both terms every step.

Each model is then measured on held-out SMLMT episodes and BBC topic episodes of test
articles (5-way, K ∈ {1, 5}, ``--episodes`` ≥ 200, the test protocol of
`metalearn_edu.meta.text.evaluate_text_adaptation`: prototype-initialised head, then 5 SGD
steps on the top block + head) and on held-out MLM loss (256 validation blocks of 128
tokens, the shipped checkpoint's own metric). Steps and tokens per run are reported too:
at equal time an MLM step is far cheaper than a meta step.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

from metalearn_edu import analysis
from metalearn_edu.analysis import format_ci
from metalearn_edu.data import bbc_splits
from metalearn_edu.masking import MaskingVocab
from metalearn_edu.meta import SMLMTObjective
from metalearn_edu.meta.text import SHOTS, TASKS, evaluate_on_suites, text_task_suites
from metalearn_edu.pretrain import PretrainConfig, evaluate_mlm, pack_blocks, pretrain
from metalearn_edu.pretrained import load_pretrained

def evaluate(model, tokenizer, eval_blocks, vocab, log_uni, args) -> dict[str, Any]:
    return {"mlm": evaluate_mlm(model, eval_blocks, vocab, log_uni, precision="fp32"),
            **evaluate_on_suites(model, tokenizer, args.episodes, args.inner_lr, args.test_steps)}


def table(results: dict[str, Any]) -> str:
    cols = [f"{t}_k{k}" for t in TASKS for k in SHOTS]
    lines = ["| run | steps | tokens | held-out MLM loss | " + " | ".join(c.replace("_k", " K=") for c in cols) + " |",
             "|" + "---|" * (len(cols) + 4)]
    for name, entry in results["runs"].items():
        ev = entry["eval"]
        cells = [format_ci(ev[c]["mean"][-1], ev[c]["ci"][-1]) for c in cols]
        lines.append(f"| {name} | {entry.get('steps', 0)} | {entry.get('tokens', 0):,} | {ev['mlm']['loss']:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=240, help="seconds of training per run")
    p.add_argument("--weights", default="0.25,0.5", help="λ values of the hybrid runs")
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--test-steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs-dir", default="runs/equal_compute", help="checkpoints (an interrupted study resumes)")
    p.add_argument("--quick", action="store_true", help="smoke run: 15 s budgets, 10 episodes")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.budget, args.episodes = 15, 10
    torch.set_num_threads(args.threads)
    weights = [float(w) for w in args.weights.split(",") if w]

    start, tokenizer, info = load_pretrained("mlm-micro")
    splits = bbc_splits()
    seq_len = 128
    train_blocks = pack_blocks([d.text for d in splits["train"]], tokenizer, seq_len)
    eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, seq_len)[:256]
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    log_uni = analysis.unigram_log_probs(analysis.count_tokens(train_blocks, vocab.vocab_size,
                                                               ignore_ids=vocab.special_ids))
    sampler = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5).smlmt_train
    objective = SMLMTObjective(sampler, meta_batch_size=4, inner_lr=args.inner_lr, inner_steps=3)

    results: dict[str, Any] = {"settings": {**{k: v for k, v in vars(args).items() if k != "out"},
                                            "objective": objective.settings(), "start": "mlm-micro"},
                               "runs": {}}

    def save() -> None:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(results, indent=1))

    t0 = time.perf_counter()
    results["runs"]["start"] = {"eval": evaluate(start, tokenizer, eval_blocks, vocab, log_uni, args)}
    print(f"start evaluated in {time.perf_counter() - t0:.0f} s", flush=True)
    save()
    runs = [("mlm", "mlm", 0.0), ("smlmt", "smlmt", 1.0)] + [(f"hybrid-{w:g}", "hybrid", w) for w in weights]
    for name, objective_name, weight in runs:
        model = copy.deepcopy(start).train()
        cfg = PretrainConfig(steps=1_000_000, batch_size=32, lr=args.lr, warmup_steps=20, min_lr_ratio=1.0,
                             precision="fp32", eval_every=1_000_000, checkpoint_every=50,
                             time_budget_s=args.budget, objective=objective_name, meta_weight=weight)
        history = pretrain(model, train_blocks, eval_blocks, vocab, cfg, out_dir=Path(args.runs_dir) / name,
                           tokenizer_ref="shipped", progress=False, log=None,
                           meta_objective=objective if weight > 0 else None)
        t1 = time.perf_counter()
        entry = {"objective": objective_name, "meta_weight": weight, "steps": history.step[-1],
                 "seconds": history.time[-1], "tokens": history.tokens[-1],
                 "final_train_loss": history.train_loss[-1], "history": history.to_dict()}
        entry["eval"] = evaluate(model.eval(), tokenizer, eval_blocks, vocab, log_uni, args)
        entry["eval_seconds"] = time.perf_counter() - t1
        results["runs"][name] = entry
        ev = entry["eval"]
        print(f"{name:>12}: {entry['steps']} steps, {entry['tokens']:,} tokens, MLM {ev['mlm']['loss']:.3f}  "
              + "  ".join(f"{c}: {format_ci(ev[c]['mean'][-1], ev[c]['ci'][-1])}"
                          for c in ev if c != "mlm"), flush=True)
        save()
    print(table(results))


if __name__ == "__main__":
    main()
