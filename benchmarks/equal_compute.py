"""Meta-learning *as* pretraining at equal compute: the λ sweep from more MLM (λ = 0) to SMLMT only (λ = 1).

    python benchmarks/equal_compute.py --out benchmarks/results/equal_compute.json   # ~3 h on 1 thread
    python benchmarks/equal_compute.py --quick --out runs/ec-quick.json              # smoke run (~5 min)

Every run starts from the shipped MLM checkpoint ``mlm-micro`` and spends the same wall-clock
budget (``--budget`` seconds, one thread) in the library's pretraining loop
(`metalearn_edu.pretrain.pretrain`) with AdamW at a constant ``--lr`` after 20 warm-up steps,
fp32, on the objective

    L(θ) = (1 − λ) · L_MLM(θ) + λ · L_SMLMT-meta(θ)

for every λ of ``--weights`` (0 is more masked-LM on 32 × 128-token blocks of the training
articles; 1 is first-order MAML on SMLMT episodes only — 5-way 5-shot, training articles and
words, top block + head adapt, 3 inner steps, α = 0.05, meta-batch 4; in between both terms every
step). Mixing the meta-loss with the MLM loss is this course's variant: Bansal et al. (2020)
meta-train on SMLMT tasks, and their Hybrid-SMLMT mixes SMLMT with *supervised* tasks.

**Seeds.** Each λ runs with every seed of ``--seeds`` (the seed fixes the batch order, the
masking and the stream of SMLMT episodes). Seed s is tested on its own block of test episodes,
and the start (no training) on all blocks, so "run − start" is a paired difference per seed and
`metalearn_edu.analysis.seed_ci` gives the t-interval over seeds.

**Curves.** Each run is evaluated at ``--points`` equally spaced moments of its budget (by
stopping and resuming the run, which reproduces an uninterrupted run exactly): held-out MLM loss
(256 validation blocks of 128 tokens) and, on ``--curve-episodes`` episodes of the seed's block,
5-shot held-out SMLMT and 5-shot BBC accuracy after ``--curve-steps`` test-time steps (default 0:
the prototype head, which costs a fifth of the full protocol); at the end of the budget all four
cells (K = 1, 5) on ``--episodes`` episodes with the full protocol (whose step-0 values are the
curves' last points). The JSON keeps every per-episode accuracy; a stopped study resumes.

**The ProtoNet meta term** (``--learner protonet``): the same sweep with the prototypical-network
loss on the same SMLMT episodes in place of first-order MAML's (runs named ``protonet/λ=…``).

**The optimizer-restart control** (``--parts equal_steps``): every run above starts a fresh AdamW
with a 20-step warm-up, and a λ > 0 run takes about a fifth of λ = 0's steps in the same time. So
for each seed, λ = 0 is run again for *exactly* the number of optimizer steps each λ > 0 run of that
seed took (one resumed run per seed, stopped at each count; the same restart, batches and masks),
and evaluated there: held-out MLM loss at every count, and the full few-shot protocol at the
counts of the λ = 0.5 runs. "λ − (λ = 0 at equal steps)" is then the meta term's own effect.

    python benchmarks/equal_compute.py --learner protonet --weights 0.5 --out ...   # ~25 min on 1 thread
    python benchmarks/equal_compute.py --parts equal_steps --out ...                 # ~15 min on 1 thread
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from metalearn_edu import analysis
from metalearn_edu.analysis import format_ci, seed_ci
from metalearn_edu.data import bbc_splits
from metalearn_edu.masking import MaskingVocab
from metalearn_edu.meta import SMLMTObjective
from metalearn_edu.meta.text import evaluate_on_suites, text_task_suites
from metalearn_edu.pretrain import PretrainConfig, evaluate_mlm, pack_blocks, pretrain
from metalearn_edu.pretrained import load_pretrained

CELLS = ("smlmt_k1", "smlmt_k5", "bbc_k1", "bbc_k5")
CURVE_CELLS = ("smlmt_k5", "bbc_k5")


def run_name(weight: float, seed: int, learner: str = "fomaml") -> str:
    prefix = "" if learner == "fomaml" else f"{learner}/"
    return f"{prefix}lambda={weight:g}/seed={seed}"


def objective_of(weight: float) -> str:
    return "mlm" if weight == 0 else "smlmt" if weight == 1 else "hybrid"


def evaluate_point(model, tokenizer, eval_blocks, vocab, log_uni, seed: int, final: bool,
                   args: argparse.Namespace) -> dict[str, Any]:
    """MLM loss and few-shot accuracy of one model at one moment of a run."""
    n = args.episodes if final else args.curve_episodes
    cells = CELLS if final else CURVE_CELLS
    shots = sorted({int(c.split("_k")[1]) for c in cells})
    tasks = sorted({c.split("_k")[0] for c in cells})
    evaluation = evaluate_on_suites(model, tokenizer, n, args.inner_lr, args.test_steps if final else args.curve_steps,
                                    shots=shots, tasks=tasks, first_episode=seed * args.episodes)
    return {"mlm": evaluate_mlm(model, eval_blocks, vocab, log_uni, precision="fp32"),
            **{c: evaluation[c] for c in cells}}


def summary(results: dict[str, Any], learner: str = "fomaml") -> dict[str, Any]:
    """Per λ: final MLM loss and accuracies over seeds, and the paired difference from the start."""
    size, seeds = results["settings"]["episodes"], results["settings"]["seeds"]
    start = results.get("start", {})
    out: dict[str, Any] = {}
    for weight in results["settings"]["weights"]:
        finals = [results["runs"].get(run_name(weight, s, learner), {}).get("points", []) for s in seeds]
        finals = [(s, pts[-1]) for s, pts in zip(seeds, finals) if pts and pts[-1].get("final")]
        if len(finals) < 2:
            continue
        row: dict[str, Any] = {"seeds": [s for s, _ in finals]}
        mlm_losses = [[pt["eval"]["mlm"]["loss"]] for _, pt in finals]
        row["mlm_loss"] = dict(zip(("mean", "half"), seed_ci(mlm_losses)[:2]))
        for cell in CELLS:
            per_seed = [[r[-1] for r in pt["eval"][cell]["per_episode"]] for _, pt in finals]
            base = None
            if cell in start:
                base = []
                for s, _ in finals:
                    first = s * size - start[cell].get("first_episode", 0)
                    base.append([r[-1] for r in start[cell]["per_episode"][first:first + size]])
            mean, half, _ = seed_ci(per_seed)
            entry = {"mean": mean, "half": half}
            if base is not None:
                d, dh, values = seed_ci(per_seed, base)
                entry.update(diff=d, diff_half=dh, diff_per_seed=values)
            row[cell] = entry
        out[f"{weight:g}"] = row
    return out


def equal_steps(results: dict[str, Any], start_model, tokenizer, train_blocks, eval_blocks, vocab, log_uni,
                seeds: list[int], args: argparse.Namespace, save) -> None:
    """λ = 0 from the same restart, stopped at every step count a λ > 0 run of the seed ended at."""
    table = results.setdefault("equal_steps", {})
    for seed in seeds:
        finals = {name: entry["points"][-1]["steps"] for name, entry in results["runs"].items()
                  if entry["seed"] == seed and entry["meta_weight"] > 0 and entry["points"]
                  and entry["points"][-1].get("final")}
        few_shot_at = {steps for name, steps in finals.items() if "lambda=0.5/" in name}
        # a check that the rerun is the sweep's λ = 0 run: its first measured point, recomputed
        first_point = results["runs"][run_name(0.0, seed)]["points"][0]
        finals["check: " + run_name(0.0, seed)] = first_point["steps"]
        rows = table.setdefault(str(seed), {})
        if all(str(steps) in rows for steps in finals.values()):
            continue
        model = copy.deepcopy(start_model).train()
        run_dir = Path(args.runs_dir) / f"equal_steps_seed={seed}"
        shutil.rmtree(run_dir, ignore_errors=True)  # one run from the restart, stopped at every count in turn
        for steps in sorted(set(finals.values())):
            cfg = PretrainConfig(steps=1_000_000, batch_size=32, lr=args.lr, warmup_steps=20, min_lr_ratio=1.0,
                                 precision="fp32", eval_every=1_000_000, checkpoint_every=50, seed=seed,
                                 objective="mlm", meta_weight=0.0, stop_after=steps)  # the sweep's λ = 0 config
            pretrain(model, train_blocks, eval_blocks, vocab, cfg, out_dir=run_dir, tokenizer_ref="shipped",
                     progress=False, log=None)
            model.eval()
            row: dict[str, Any] = {"mlm": evaluate_mlm(model, eval_blocks, vocab, log_uni, precision="fp32"),
                                   "runs": sorted(n for n, s in finals.items() if s == steps)}
            if steps in few_shot_at:
                row.update(evaluate_on_suites(model, tokenizer, args.episodes, args.inner_lr, args.test_steps,
                                              first_episode=seed * args.episodes))
            model.train()
            if steps == first_point["steps"]:
                row["check_stored_loss"] = first_point["eval"]["mlm"]["loss"]
                if abs(row["mlm"]["loss"] - row["check_stored_loss"]) > 1e-6:
                    raise SystemExit(f"the λ = 0 rerun of seed {seed} does not reproduce the sweep: MLM "
                                     f"{row['mlm']['loss']:.6f} at {steps} steps, stored {row['check_stored_loss']:.6f}")
            rows[str(steps)] = row
            print(f"λ = 0, seed {seed}, {steps} steps: MLM {row['mlm']['loss']:.4f}"
                  + (" (+ few-shot)" if steps in few_shot_at else ""), flush=True)
            save()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=240, help="seconds of training per run")
    p.add_argument("--points", type=int, default=5, help="evaluations along the budget (the last at its end)")
    p.add_argument("--weights", default="0,0.1,0.25,0.5,0.75,1", help="the λ values")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--episodes", type=int, default=100, help="test episodes per seed and cell at the end")
    p.add_argument("--curve-episodes", type=int, default=50, help="test episodes per seed and cell along the run")
    p.add_argument("--curve-steps", type=int, default=0,
                   help="test-time steps along the run (0: the prototype head alone, a fifth of the cost)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--test-steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs-dir", default="runs/equal_compute", help="checkpoints (an interrupted run resumes)")
    p.add_argument("--learner", default="fomaml", choices=("fomaml", "protonet"), help="the meta term's learner")
    p.add_argument("--parts", default="sweep", choices=("sweep", "equal_steps"),
                   help="sweep: the λ runs; equal_steps: λ = 0 stopped at each λ > 0 run's step count")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 s budgets, 2 points, 10 episodes, 2 seeds")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.budget, args.points, args.episodes, args.curve_episodes, args.seeds = 20, 2, 10, 10, "0,1"
        args.weights = "0,0.5,1"
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")  # budgets in CPU seconds: fair when runs share a machine
    weights = [float(w) for w in args.weights.split(",") if w]
    seeds = [int(s) for s in args.seeds.split(",") if s]

    start_model, tokenizer, _ = load_pretrained("mlm-micro")
    splits = bbc_splits()
    train_blocks = pack_blocks([d.text for d in splits["train"]], tokenizer, 128)
    eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, 128)[:256]
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    log_uni = analysis.unigram_log_probs(analysis.count_tokens(train_blocks, vocab.vocab_size,
                                                               ignore_ids=vocab.special_ids))
    settings = {"clock": os.environ["METALEARN_CLOCK"], **{k: v for k, v in vars(args).items() if k not in ("out", "quick")}}
    settings.update(weights=weights, seeds=seeds, start="mlm-micro")
    results: dict[str, Any] = {"settings": settings, "runs": {}}
    out = Path(args.out) if args.out else None
    keys = ("budget", "points", "episodes", "curve_episodes", "curve_steps", "lr", "inner_lr", "test_steps")
    if out is not None and out.exists():
        previous = json.loads(out.read_text())
        if all(previous["settings"].get(k) == settings[k] for k in keys):
            results["runs"], results["start"] = previous.get("runs", {}), previous.get("start", {})
            results["equal_steps"] = previous.get("equal_steps", {})
            settings["weights"] = sorted(set(previous["settings"]["weights"]) | set(weights))  # all the runs kept
            print(f"resuming from {out}", flush=True)

    def save() -> None:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(out)

    n_start = args.episodes * (max(seeds) + 1)
    if results.get("start", {}).get("bbc_k5", {}).get("n_episodes", 0) < n_start:
        t0 = time.perf_counter()
        evaluation = evaluate_on_suites(start_model, tokenizer, n_start, args.inner_lr, args.test_steps)
        results["start"] = {"mlm": evaluate_mlm(start_model, eval_blocks, vocab, log_uni, precision="fp32"),
                            **evaluation}
        print(f"start evaluated on {n_start} episodes per cell in {time.perf_counter() - t0:.0f} s", flush=True)
        save()

    if args.parts == "equal_steps":
        equal_steps(results, start_model, tokenizer, train_blocks, eval_blocks, vocab, log_uni, seeds, args, save)
        return
    moments = [args.budget * (i + 1) / args.points for i in range(args.points)]
    for seed in seeds:
        sampler = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5, train_seed=seed).smlmt_train
        objective = SMLMTObjective(sampler, meta_batch_size=4, inner_lr=args.inner_lr, inner_steps=3,
                                   learner="maml" if args.learner == "fomaml" else args.learner)
        for weight in weights:
            name = run_name(weight, seed, args.learner)
            entry = results["runs"].setdefault(name, {"objective": objective_of(weight), "meta_weight": weight,
                                                      "seed": seed, "points": []})
            if len(entry["points"]) == len(moments):
                continue
            model = copy.deepcopy(start_model).train()
            run_dir = Path(args.runs_dir) / name.replace("/", "_")
            for i, moment in enumerate(moments):
                if i < len(entry["points"]):
                    continue  # evaluated before the study was stopped; the run resumes from its checkpoint
                cfg = PretrainConfig(steps=1_000_000, batch_size=32, lr=args.lr, warmup_steps=20, min_lr_ratio=1.0,
                                     precision="fp32", eval_every=1_000_000, checkpoint_every=50,
                                     time_budget_s=moment, seed=seed, objective=objective_of(weight),
                                     meta_weight=weight)
                history = pretrain(model, train_blocks, eval_blocks, vocab, cfg, out_dir=run_dir,
                                   tokenizer_ref="shipped", progress=False, log=None,
                                   meta_objective=objective if weight > 0 else None)
                final = i == len(moments) - 1
                t1 = time.perf_counter()
                evaluation = evaluate_point(model.eval(), tokenizer, eval_blocks, vocab, log_uni, seed, final, args)
                model.train()
                entry["points"].append({"seconds": history.time[-1], "steps": history.step[-1],
                                        "tokens": history.tokens[-1], "final": final, "eval": evaluation,
                                        "eval_seconds": time.perf_counter() - t1})
                if final:
                    entry["history"] = history.to_dict()
                print(f"{name:>22} at {history.time[-1]:5.0f} s: {history.step[-1]:5d} steps, MLM "
                      f"{evaluation['mlm']['loss']:.3f}, " + ", ".join(
                          f"{c} {format_ci(evaluation[c]['mean'][-1], evaluation[c]['ci'][-1])}"
                          for c in CURVE_CELLS), flush=True)
                save()

    results["summary"] = summary(results)
    if any(name.startswith("protonet/") for name in results["runs"]):
        results["summary_protonet"] = summary(results, "protonet")
    save()
    print("\n| λ | held-out MLM loss | " + " | ".join(CELLS) + " |\n|---|---:|" + "---:|" * len(CELLS))
    for weight, row in results["summary"].items():
        cells = [format_ci(row[c]["mean"], row[c]["half"]) + (f" (Δ {row[c]['diff']:+.3f} ± {row[c]['diff_half']:.3f})"
                                                              if "diff" in row[c] else "") for c in CELLS]
        print(f"| {weight} | {format_ci(row['mlm_loss']['mean'], row['mlm_loss']['half'])} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
