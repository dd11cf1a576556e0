"""MAML, first-order MAML, Reptile and the "pretrained on all tasks" baseline on sine waves.

    python benchmarks/sinusoid.py --budget 600 --save-models data/checkpoints/sinusoid \
        --out benchmarks/results/sinusoid.json                            # 70,000 steps per method, ~20 min
    python benchmarks/sinusoid.py --quick                                  # a smoke run (~1 min)

Setup (Finn et al. 2017, §5.1 and their code's defaults): tasks y = A·sin(x − φ),
A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5]; a 1-40-40-1 ReLU network; MSE.

* MAML / FOMAML: K = 10 support and 10 query points per task, one inner SGD step with
  α = 0.01, Adam (1e-3) outer optimiser, meta-batch 25 (one batched computation per step,
  `metalearn_edu.meta.vectorized`). Finn et al. train 70,000 meta-iterations; every method
  here stops at ``--max-steps`` (70,000) or after ``--budget`` seconds, whichever comes
  first, and the step counts are printed next to the results.
* Reptile (Nichol et al. 2018's sine script, adapted to this network and our inner loop):
  5 inner SGD steps with lr 0.01 on the 10 support points, one task per outer step,
  ε = 0.1 annealed linearly to 0 over the budget. (Their script instead takes 5 SGD
  steps with lr 0.02 on mini-batches of 10 out of 50 points, with a 1-64-64-1 tanh network.
  With our ReLU network lr 0.02 blew up partway through training: one
  amplitude-5 task's support loss went from 17 to 1.7e5 in five steps, so we halved it.)
* Pretrained on all tasks: ordinary regression with Adam (1e-3) on the 20 points of
  each of 25 tasks per step; at test time fine-tuned with the step size from
  ``--baseline-lrs`` that gives the lowest 10-step MSE on 100 validation tasks
  (Finn et al. used "an automatically tuned step size").

Evaluation: 5-shot (``--eval-shots``), ``--eval-tasks`` (≥ 600) test tasks from a seed no
training run uses, MSE on 100 query points per task after 1, 5 and 10 test-time SGD steps
(each method with its own training inner learning rate), mean ± 95% CI over tasks. A task whose
inner loop diverges (the long-trained MAML initialisation is sharp: ten steps at its training step
size blow up on a few high-amplitude tasks) is counted and left out of the later steps' means.
Results go to ``--out`` as JSON (settings, histories, full adaptation curves).
"""

from __future__ import annotations

import argparse
import os
import json
import time
from pathlib import Path
from typing import Any

import torch

from metalearn_edu.analysis import format_ci
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
METHODS = ("maml", "fomaml", "reptile", "pretrained")
REPORT_STEPS = (1, 5, 10)
TEST_SEED_OFFSET, VAL_SEED_OFFSET = 10_000, 20_000


def train(method: str, args: argparse.Namespace) -> tuple[torch.nn.Module, dict[str, Any], float]:
    """Train one method within the budget; return the model, its history and its test-time lr."""
    net = sinusoid_mlp(seed=args.seed)
    loss_fn = functional_loss(net, "mse")
    tasks = SinusoidTasks(seed=args.seed)
    k = args.train_shots
    episodes = lambda i: tasks.episode(i, k_shot=k, k_query=k)  # noqa: E731
    common = dict(steps=args.max_steps, time_budget=args.budget, seed=args.seed, progress=args.progress,
                  log_every=args.log_every)
    if method in ("maml", "fomaml"):
        history = meta_train(net, loss_fn, episodes, meta_batch_size=25, inner_lr=0.01, inner_steps=1,
                             outer_lr=1e-3, first_order=method == "fomaml", **common)
        lr = 0.01
    elif method == "reptile":
        history = reptile_train(net, loss_fn, episodes, meta_batch_size=1, inner_lr=0.01, inner_steps=5,
                                outer_lr=0.1, anneal=True, **common)
        lr = 0.01
    elif method == "pretrained":
        history = multitask_pretrain(net, loss_fn, episodes, tasks_per_step=25, lr=1e-3, **common)
        lr = tune_lr(net, args)
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    return net, history.to_dict(), lr


def tune_lr(net: torch.nn.Module, args: argparse.Namespace) -> float:
    """The fine-tuning step size with the lowest 10-step MSE on validation tasks."""
    val = SinusoidTasks(seed=VAL_SEED_OFFSET + args.seed)
    episodes = [val.episode(i, args.eval_shots, k_query=100) for i in range(args.val_tasks)]
    loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
    scores = {}
    for lr in args.baseline_lrs:
        try:
            scores[lr] = evaluate_adaptation(loss_fn, params, episodes, lr, max(REPORT_STEPS)).at(max(REPORT_STEPS))[0]
        except InnerLoopDivergedError:
            scores[lr] = float("inf")  # too large a step for this network
    print("  baseline step sizes (10-step validation MSE):", {lr: round(s, 3) for lr, s in scores.items()})
    return min(scores, key=scores.get)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per method (default 120)")
    p.add_argument("--max-steps", type=int, default=70_000, help="cap on outer steps (Finn et al.: 70,000)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--train-shots", type=int, default=10)
    p.add_argument("--eval-shots", type=int, default=5)
    p.add_argument("--eval-tasks", type=int, default=600)
    p.add_argument("--val-tasks", type=int, default=100)
    p.add_argument("--baseline-lrs", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03, 0.1])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (tiny matrices: 1 is fastest)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--out", type=Path, default=None, help="write results as JSON here")
    p.add_argument("--save-models", type=Path, default=None,
                   help="also save each trained network here as METHOD.pt (for the sinusoid playground)")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: 5 s per method, 60 test tasks")
    args = p.parse_args()
    if args.quick:
        args.budget, args.eval_tasks, args.val_tasks, args.log_every = 5.0, 60, 20, 10
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")  # budgets in CPU seconds: fair when runs share a machine

    test = SinusoidTasks(seed=TEST_SEED_OFFSET + args.seed)
    test_episodes = [test.episode(i, args.eval_shots, k_query=100) for i in range(args.eval_tasks)]
    results: dict[str, Any] = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "paper": {k: list(v) for k, v in PAPER.items()},
        "methods": {},
    }
    if args.out is not None and args.out.exists():  # a stopped study resumes: finished methods are kept
        previous = json.loads(args.out.read_text())
        if previous.get("settings", {}).get("max_steps") == args.max_steps:
            results["methods"] = previous.get("methods", {})
    for method in args.methods:
        if method in results["methods"]:
            print(f"{method}: already in {args.out}, skipped", flush=True)
            continue
        print(f"training {method} for at most {args.max_steps:,} steps or {args.budget:g} s ...", flush=True)
        start = time.perf_counter()
        net, history, lr = train(method, args)
        seconds = time.perf_counter() - start
        if args.save_models is not None:  # before the evaluation, so a long training run is never lost
            save_sinusoid_model(net, args.save_models, method, lr, train_steps=history["steps"][-1])
        curve = evaluate_adaptation(functional_loss(net, "mse"), dict(net.named_parameters()), test_episodes,
                                    lr, max(REPORT_STEPS), on_divergence="record")
        steps = history["steps"][-1] if history["steps"] else 0
        results["methods"][method] = {"test_lr": lr, "train_steps": steps, "train_seconds": seconds,
                                      "history": history, "curve": curve.to_dict()}
        print(f"  {steps} steps; " + ", ".join(f"{k} step(s): {curve.format(k)}" for k in REPORT_STEPS)
              + (f"; diverged tasks by step {max(REPORT_STEPS)}: {curve.n_diverged[-1]}" if curve.n_diverged[-1] else ""),
              flush=True)
        if args.save_models is not None:
            save_sinusoid_model(net, args.save_models, method, lr, train_steps=steps, curve=curve.to_dict())
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1) + "\n")

    print(f"\n5-shot sine regression: MSE after 1 / 5 / 10 test-time steps, mean ± 95% CI over "
          f"{args.eval_tasks} test tasks ({args.budget:g} s of training per method, seed {args.seed})\n")
    print("| method | outer steps | test lr | " + " | ".join(f"{k} step(s)" for k in REPORT_STEPS)
          + " | paper (1 / 5 / 10) |")
    print("|---|---:|---:|" + "---:|" * len(REPORT_STEPS) + "---|")
    for method, r in results["methods"].items():
        curve = r["curve"]
        cells = [format_ci(curve["mean"][k], curve["ci"][k], 2) for k in REPORT_STEPS]
        paper = " / ".join(f"{v:.2f}" for v in PAPER[method]) if method in PAPER else "—"
        diverged = curve.get("n_diverged") or [0]
        note = f" ({diverged[-1]} task(s) diverged; left out)" if diverged[-1] else ""
        print(f"| {method} | {r['train_steps']:,} | {r['test_lr']:g} | " + " | ".join(cells) + f" | {paper} |{note}")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
