"""MAML, first-order MAML, Reptile and the "pretrained on all tasks" baseline on sine waves, over seeds.

    # 1. choose Reptile's inner steps and ε on validation tasks (9 short runs, ~5 CPU-min)
    python benchmarks/sinusoid.py --parts tune --out runs/sinusoid-tune.json
    # 2. train and test every method, one process per seed (~19 CPU-min each), then merge
    python benchmarks/sinusoid.py --parts train --seeds 0 --tuning runs/sinusoid-tune.json \
        --save-models data/checkpoints/sinusoid --out runs/sinusoid-0.json &
    python benchmarks/sinusoid.py --parts train --seeds 1 --tuning runs/sinusoid-tune.json --out runs/sinusoid-1.json &
    python benchmarks/sinusoid.py --parts train --seeds 2 --tuning runs/sinusoid-tune.json --out runs/sinusoid-2.json &
    wait
    python benchmarks/merge_results.py runs/sinusoid-tune.json runs/sinusoid-[012].json --seeds 0,1,2 \
        --out benchmarks/results/sinusoid.json
    python benchmarks/sinusoid.py --quick --out runs/sinusoid-quick.json     # a smoke run (~1 min)

Setup (Finn et al. 2017, §5.1 and their code's defaults): tasks y = A·sin(x − φ),
A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5]; a 1-40-40-1 ReLU network; MSE. Every method sees
K = 10 support and 10 query points per task and **25 tasks per outer step**, and trains for
Finn et al.'s 70,000 outer steps:

* ``maml`` / ``fomaml``: one inner SGD step with α = 0.01, Adam (1e-3) outer optimiser
  (one batched computation per meta-batch, `metalearn_edu.meta.vectorized`).
* ``reptile``: the batched form θ ← θ + ε·meanᵢ(φ̃ᵢ − θ) over the same 25 tasks, inner SGD with
  α = 0.01 on the 10 support points, ε annealed linearly to 0 (Nichol et al.'s sine schedule).
  Its inner steps and ε are chosen on validation tasks (``--parts tune``: a grid of short runs,
  scored by the 10-step validation MSE, the criterion that also picks the baseline's step size).
* ``reptile_time``: the same Reptile, given the CPU seconds MAML took for the same seed instead of
  a step count: the equal-compute budget.

Over 70,000 steps × 25 tasks a multi-step inner loop at α = 0.01 occasionally blows up on one
high-amplitude task (five or ten SGD steps on a sharp initialisation). Every meta-learner therefore
trains with ``on_divergence="skip"`` (`metalearn_edu.meta.outer_loop`): an outer step in which any
task's inner loop diverges is dropped, θ unchanged, and its number stored under
``history["skipped"]``. MAML's and first-order MAML's single inner step never diverged in training,
so for them the rule changes nothing.
* ``pretrained``: ordinary regression with Adam (1e-3) on the 20 points of each of 25 tasks per step;
  at test time fine-tuned with the step size from ``--baseline-lrs`` that gives the lowest 10-step
  MSE on validation tasks (Finn et al. used "an automatically tuned step size").

Each method is trained with every seed in ``--seeds`` (the network's initialisation and the
training tasks depend on it). Evaluation: the same ``--eval-tasks`` test tasks for every method and
seed (a seed no training run uses), 5-shot, MSE on 100 query points per task after 0…10 test-time
SGD steps at the method's test-time step size; per-task values are stored, so any two runs can be
compared on the same tasks. A task whose inner loop diverges (the long-trained MAML initialisation
is sharp: ten steps at its training step size blow up on a few high-amplitude tasks) is recorded
as missing from that step on. Budgets are CPU seconds of one thread (`METALEARN_CLOCK=process`).
The JSON is written atomically after every finished run, and a stopped study resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from metalearn_edu.checkpoint import save_json
from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import (
    InnerLoopDivergedError,
    evaluate_adaptation,
    functional_loss,
    meta_train,
    multitask_pretrain,
    reptile_train,
    save_sinusoid_model,
    sinusoid_mlp,
)

# Finn et al. 2017, Table 2 (5-shot MSE after 1 / 5 / 10 steps); REFERENCES.md.
PAPER = {"maml": (0.67, 0.38, 0.35), "pretrained": (2.41, 2.23, 2.19)}
METHODS = ("maml", "fomaml", "reptile", "reptile_time", "pretrained")
REPORT_STEPS = (1, 5, 10)
META_BATCH = 25
INNER_LR = 0.01
TEST_SEED, VAL_SEED = 10_000, 20_000  # task seeds no training run uses (training uses seeds 0, 1, 2, …)


def episodes_fn(seed: int, k: int):
    tasks = SinusoidTasks(seed=seed)
    return lambda i: tasks.episode(i, k_shot=k, k_query=k)


def reptile(net: torch.nn.Module, seed: int, k: int, inner_steps: int, epsilon: float, steps: int | None,
            budget: float | None, log_every: int, progress: bool):
    return reptile_train(net, functional_loss(net, "mse"), episodes_fn(seed, k), steps=steps,
                         meta_batch_size=META_BATCH, inner_lr=INNER_LR, inner_steps=inner_steps, outer_lr=epsilon,
                         anneal=True, seed=seed, time_budget=budget, progress=progress, log_every=log_every,
                         on_divergence="skip")


def validation_episodes(args: argparse.Namespace):
    val = SinusoidTasks(seed=VAL_SEED)
    return [val.episode(i, args.eval_shots, k_query=100) for i in range(args.val_tasks)]


def val_mse(net: torch.nn.Module, lr: float, args: argparse.Namespace) -> float:
    """5-shot MSE after 10 test-time steps on the validation tasks (inf if the inner loop diverges)."""
    try:
        curve = evaluate_adaptation(functional_loss(net, "mse"), dict(net.named_parameters()),
                                    validation_episodes(args), lr, max(REPORT_STEPS))
    except InnerLoopDivergedError:
        return float("inf")
    return curve.at(max(REPORT_STEPS))[0]


def tune(args: argparse.Namespace, results: dict[str, Any], out: Path | None) -> dict[str, Any]:
    """Reptile's inner steps and ε: the grid point with the lowest 10-step validation MSE."""
    tuning = results.setdefault("tuning", {"steps": args.tune_steps, "seed": 0, "grid": []})
    done = {(g["inner_steps"], g["epsilon"]) for g in tuning["grid"]}
    for inner_steps in args.reptile_inner_steps:
        for epsilon in args.reptile_epsilons:
            if (inner_steps, epsilon) in done:
                continue
            net = sinusoid_mlp(seed=0)
            start = time.process_time()
            history = reptile(net, 0, args.train_shots, inner_steps, epsilon, args.tune_steps, None, args.log_every,
                              False)
            score = val_mse(net, INNER_LR, args)
            tuning["grid"].append({"inner_steps": inner_steps, "epsilon": epsilon, "val_mse": score,
                                   "cpu_seconds": time.process_time() - start, "skipped": len(history.skipped)})
            print(f"  tune reptile: {inner_steps} inner steps, ε = {epsilon:g}: 10-step validation MSE {score:.3f}"
                  f" ({len(history.skipped)} steps skipped)", flush=True)
            if out is not None:
                save_json(out, results)
    best = min(tuning["grid"], key=lambda g: g["val_mse"])
    tuning["chosen"] = {"inner_steps": best["inner_steps"], "epsilon": best["epsilon"]}
    if out is not None:
        save_json(out, results)
    return tuning["chosen"]


def tune_lr(net: torch.nn.Module, args: argparse.Namespace) -> tuple[float, dict[str, float]]:
    """The fine-tuning step size with the lowest 10-step MSE on validation tasks."""
    scores = {lr: val_mse(net, lr, args) for lr in args.baseline_lrs}
    return min(scores, key=scores.get), {f"{lr:g}": s for lr, s in scores.items()}


def train(method: str, seed: int, args: argparse.Namespace, chosen: dict[str, Any] | None,
          maml_seconds: float | None) -> tuple[torch.nn.Module, dict[str, Any], float, dict[str, Any]]:
    """Train one method with one seed; return the model, its history, its test-time lr and notes."""
    net = sinusoid_mlp(seed=seed)
    loss_fn = functional_loss(net, "mse")
    k, notes = args.train_shots, {}
    common = dict(seed=seed, progress=args.progress, log_every=args.log_every)
    if method in ("maml", "fomaml"):
        history = meta_train(net, loss_fn, episodes_fn(seed, k), steps=args.max_steps, meta_batch_size=META_BATCH,
                             inner_lr=INNER_LR, inner_steps=1, outer_lr=1e-3, first_order=method == "fomaml",
                             time_budget=args.budget, on_divergence="skip", **common)
        lr = INNER_LR
    elif method in ("reptile", "reptile_time"):
        if chosen is None:
            raise SystemExit("Reptile needs its tuned settings: run --parts tune first, or pass --tuning FILE")
        if method == "reptile":
            steps, budget = args.max_steps, args.budget
        else:
            if maml_seconds is None:
                raise SystemExit(f"reptile_time needs MAML's CPU seconds for seed {seed}: train maml first")
            steps, budget = None, maml_seconds
            notes["budget_seconds"] = maml_seconds
        history = reptile(net, seed, k, chosen["inner_steps"], chosen["epsilon"], steps, budget, args.log_every,
                          args.progress)
        lr = INNER_LR
    elif method == "pretrained":
        history = multitask_pretrain(net, loss_fn, episodes_fn(seed, k), steps=args.max_steps,
                                     tasks_per_step=META_BATCH, lr=1e-3, time_budget=args.budget, **common)
        lr, notes["val_mse_by_lr"] = tune_lr(net, args)
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    return net, history.to_dict(), lr, notes


def rounded_rows(rows: list[list[float]]) -> list[list[float | None]]:
    """Per-task values for JSON: 5 significant digits, None where a task had diverged."""
    return [[float(f"{v:.5g}") if math.isfinite(v) else None for v in row] for row in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", default=["tune", "train"], choices=["tune", "train"])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (default 0 1 2)")
    p.add_argument("--budget", type=float, default=None,
                   help="also stop each run after this many CPU seconds (default: none, 70,000 steps)")
    p.add_argument("--max-steps", type=int, default=70_000, help="outer steps (Finn et al.: 70,000)")
    p.add_argument("--tune-steps", type=int, default=10_000, help="outer steps of each Reptile tuning run")
    p.add_argument("--reptile-inner-steps", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--reptile-epsilons", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    p.add_argument("--tuning", type=Path, default=None, help="read Reptile's tuned settings from this JSON")
    p.add_argument("--train-shots", type=int, default=10)
    p.add_argument("--eval-shots", type=int, default=5)
    p.add_argument("--eval-tasks", type=int, default=600)
    p.add_argument("--val-tasks", type=int, default=100)
    p.add_argument("--baseline-lrs", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03, 0.1])
    p.add_argument("--threads", type=int, default=1, help="torch threads (tiny matrices: 1 is fastest)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--out", type=Path, default=None, help="write results as JSON here (resumes from it)")
    p.add_argument("--save-models", type=Path, default=None,
                   help="save the networks of seed --save-seed here as METHOD.pt (chapter 3's playground)")
    p.add_argument("--save-seed", type=int, default=0)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: 300 steps, a 2-point grid, 60 test tasks")
    args = p.parse_args()
    if args.quick:
        args.max_steps, args.tune_steps, args.eval_tasks, args.val_tasks, args.log_every = 300, 200, 60, 20, 10
        args.reptile_inner_steps, args.reptile_epsilons = [1, 5], [0.3]
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")  # budgets in CPU seconds: fair when runs share a machine

    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("out", "tuning", "save_models", "save_seed", "progress", "quick")}
    settings.update(meta_batch=META_BATCH, inner_lr=INNER_LR, test_seed=TEST_SEED, val_seed=VAL_SEED)
    results: dict[str, Any] = {"settings": settings, "paper": {k: list(v) for k, v in PAPER.items()}, "runs": {}}
    if args.out is not None and args.out.exists():  # a stopped study resumes: finished runs are kept
        previous = json.loads(args.out.read_text())
        if previous.get("settings", {}).get("max_steps") == args.max_steps:
            results["runs"] = previous.get("runs", {})
            if "tuning" in previous:
                results["tuning"] = previous["tuning"]

    chosen = None
    if "tune" in args.parts:
        chosen = tune(args, results, args.out)
        print(f"Reptile: {chosen['inner_steps']} inner steps, ε = {chosen['epsilon']:g} (lowest validation MSE)")
    elif args.tuning is not None:
        chosen = json.loads(args.tuning.read_text())["tuning"]["chosen"]
    if "train" not in args.parts:
        return

    test = SinusoidTasks(seed=TEST_SEED)
    test_episodes = [test.episode(i, args.eval_shots, k_query=100) for i in range(args.eval_tasks)]
    for seed in args.seeds:
        for method in args.methods:
            name = f"{method}/seed={seed}"
            if name in results["runs"]:
                print(f"{name}: already in {args.out}, skipped", flush=True)
                continue
            maml = results["runs"].get(f"maml/seed={seed}")
            maml_seconds = maml["history"]["seconds"][-1] if maml else None
            print(f"training {name} ...", flush=True)
            start = time.process_time()
            net, history, lr, notes = train(method, seed, args, chosen, maml_seconds)
            cpu = time.process_time() - start
            steps = max(history["steps"][-1:] + history["skipped"][-1:], default=0)  # skipped steps count as taken
            if args.save_models is not None and seed == args.save_seed and method != "reptile_time":
                save_sinusoid_model(net, args.save_models, method, lr, train_steps=steps, seed=seed)
            curve = evaluate_adaptation(functional_loss(net, "mse"), dict(net.named_parameters()), test_episodes,
                                        lr, max(REPORT_STEPS), on_divergence="record")
            summary = curve.to_dict()
            summary["per_task"] = rounded_rows(curve.per_episode)
            results["runs"][name] = {"method": method, "seed": seed, "test_lr": lr, "train_steps": steps,
                                     "train_cpu_seconds": cpu, "history": history, "curve": summary,
                                     "settings": history["settings"], **notes}
            print(f"  {steps:,} steps in {cpu:.0f} CPU-s ({len(history['skipped'])} skipped); "
                  + ", ".join(f"{k} step(s): {curve.format(k)}" for k in REPORT_STEPS)
                  + (f"; diverged tasks by step 10: {curve.n_diverged[-1]}" if curve.n_diverged[-1] else ""),
                  flush=True)
            if args.out is not None:
                save_json(args.out, results)
    if args.out is not None:
        from metalearn_edu.studies import sinusoid_markdown

        if len({r["seed"] for r in results["runs"].values()}) >= 2:
            print(sinusoid_markdown(results))
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
