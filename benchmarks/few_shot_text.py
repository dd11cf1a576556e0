"""Few-shot text classification: what pretraining and meta-training buy, with 95% CIs.

    python benchmarks/few_shot_text.py --budget 240 --out benchmarks/results/few_shot_text.json  # ~75 min, 1 thread
    python benchmarks/few_shot_text.py --quick                                                   # smoke run (~2 min)

Models (all share the test protocol below; every meta-learner starts from the shipped
MLM checkpoint ``mlm-micro`` and gets the same wall-clock budget of meta-training on
self-supervised SMLMT tasks from the *training* articles, over the training words):

* ``random``: the same architecture, randomly initialised (no pretraining);
* ``mlm``: the MLM checkpoint as it is (the transfer-learning baseline: fine-tuning);
* ``maml`` / ``fomaml``: second- / first-order MAML, top block + head adapt, 3 inner
  steps with α = ``--inner-lr``, meta-batch 4, Adam ``--outer-lr``;
* ``reptile``: Reptile with the same inner loop, ε = 0.1 annealed, meta-batch 4;
* ``protonet``: prototypical-network training on the same episodes (Adam ``--outer-lr``);
* ``minilm``: the real all-MiniLM-L6-v2 encoder (6 × 384, trained on a billion sentence
  pairs) as a reference point; it sees the same episodes through its own tokenizer. It is
  about 10× the micro encoder's compute per token, so by default it is scored at step 0
  only (``--minilm-steps 0``: frozen encoder, prototype head = a prototypical network);
* ``bow``: logistic regression on the support set's word indicators (sanity baseline).

Test protocol (`metalearn_edu.meta.text.evaluate_text_adaptation`): 5-way K-shot,
K ∈ {1, 5}, 5 query examples per class, ``--episodes`` (≥ 200) episodes per suite; the
N-way head starts at the support prototypes (so step 0 is a prototypical network on
that encoder) and the top block + head take ``--test-steps`` SGD steps with α =
``--inner-lr``. Suites: held-out SMLMT (test articles, held-out words) and BBC topics
(test articles). Episodes are the same for every model (paired comparison); the
script reports mean ± 95% CI (Student's t over episodes).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

from metalearn_edu.analysis import format_ci, mean_ci
from metalearn_edu.data import load_tokenizer, minilm_path
from metalearn_edu.interop import load_hf_bert
from metalearn_edu.meta import ProtoNet, TextClassifierLoss, meta_train, protonet_train, reptile_train, select_params
from metalearn_edu.meta.text import SHOTS, TASKS, bag_of_words_accuracy, evaluate_on_suites, text_task_suites
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrained import load_pretrained

META_METHODS = ("maml", "fomaml", "reptile", "protonet")
ALL_METHODS = ("bow", "random", "mlm", *META_METHODS, "minilm")


def meta_train_copy(method: str, start: BertEncoder, suites, args: argparse.Namespace) -> tuple[BertEncoder, dict]:
    """Meta-train a copy of `start` with `method` for `args.budget` seconds."""
    model = copy.deepcopy(start).train()
    episodes = suites.smlmt_train.episode
    adapt_names = select_params(model, "top1")
    common = dict(steps=None, time_budget=args.budget, seed=args.seed, progress=not args.quiet, log_every=5)
    if method in ("maml", "fomaml"):
        loss_fn = TextClassifierLoss(model, head_init="proto",
                                     attention_impl="explicit" if method == "maml" else "fused")
        history = meta_train(model, loss_fn, episodes, meta_batch_size=4, inner_lr=args.inner_lr,
                             inner_steps=args.train_steps, outer_lr=args.outer_lr, first_order=method == "fomaml",
                             adapt_names=adapt_names, **common)
    elif method == "reptile":
        loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
        history = reptile_train(model, loss_fn, episodes, meta_batch_size=4, inner_lr=args.inner_lr,
                                inner_steps=args.train_steps, outer_lr=0.1, adapt_names=adapt_names, **common)
    elif method == "protonet":
        history = protonet_train(model, ProtoNet(model), episodes, meta_batch_size=4, lr=args.outer_lr, **common)
    else:
        raise ValueError(f"unknown meta-learning method {method!r}; choose from {META_METHODS}")
    record = history.to_dict()
    record["outer_steps"] = history.steps[-1] if history.steps else 0
    record["train_seconds"] = history.seconds[-1] if history.seconds else 0.0
    return model.eval(), record


def evaluate_model(model: BertEncoder, tokenizer: Any, args: argparse.Namespace,
                   steps: int | None = None) -> dict[str, Any]:
    """Adaptation curves on both suites for K = 1 and 5 (`steps` test-time steps, default --test-steps)."""
    return evaluate_on_suites(model, tokenizer, args.episodes, args.inner_lr,
                              args.test_steps if steps is None else steps)


def evaluate_bow(tokenizer: Any, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in SHOTS:
        suites = text_task_suites(tokenizer, n_way=5, k_shot=k, q_query=5)
        for task in TASKS:
            accuracies = [bag_of_words_accuracy(ep) for ep in suites.test_episodes(task, args.episodes)]
            mean, half = mean_ci(accuracies)
            out[f"{task}_k{k}"] = {"steps": [0], "mean": [mean], "ci": [half], "metric": "accuracy",
                                   "n_episodes": len(accuracies)}
    return out


def table(results: dict[str, Any]) -> str:
    """A Markdown table: step-0 and last-step accuracy per suite and K."""
    cols = [f"{t}_k{k}" for t in TASKS for k in SHOTS]
    head = "| model | " + " | ".join(f"{c.replace('_k', ' K=')} (step 0 → last)" for c in cols) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 1)]
    for name, entry in results["models"].items():
        cells = []
        for c in cols:
            r = entry["eval"][c]
            first = format_ci(r["mean"][0], r["ci"][0])
            cells.append(first if len(r["mean"]) == 1 else f"{first} → {format_ci(r['mean'][-1], r['ci'][-1])}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=240, help="seconds of meta-training per method")
    p.add_argument("--episodes", type=int, default=200, help="test episodes per suite and K (≥ 200 for the table)")
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--outer-lr", type=float, default=1e-4)
    p.add_argument("--train-steps", type=int, default=3, help="inner steps during meta-training")
    p.add_argument("--test-steps", type=int, default=5, help="inner steps at test time")
    p.add_argument("--minilm-steps", type=int, default=0, help="test-time steps for MiniLM (0: prototypes only)")
    p.add_argument("--methods", default=",".join(ALL_METHODS), help=f"comma-separated subset of {ALL_METHODS}")
    p.add_argument("--add", action="store_true", help="keep the other models already in --out")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="smoke run: 20 s budgets, 10 episodes")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", default=None, help="write results (and settings) here as JSON")
    args = p.parse_args()
    if args.quick:
        args.budget, args.episodes = 20, 10
    torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(ALL_METHODS))
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; choose from {ALL_METHODS}")

    start, tokenizer, _ = load_pretrained("mlm-micro")
    results: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "out"}, "models": {}}
    if args.add and args.out and Path(args.out).exists():
        previous = json.loads(Path(args.out).read_text())
        results["models"] = previous["models"]
        results["settings"] = {**previous["settings"], "minilm_steps": args.minilm_steps}

    def save() -> None:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(results, indent=1))

    train_suites = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5)
    for method in methods:
        t0 = time.perf_counter()
        entry: dict[str, Any] = {}
        if method == "bow":
            entry["eval"] = evaluate_bow(tokenizer, args)
        elif method == "random":
            torch.manual_seed(args.seed)
            entry["eval"] = evaluate_model(BertEncoder(start.cfg).eval(), tokenizer, args)
        elif method == "mlm":
            entry["eval"] = evaluate_model(start, tokenizer, args)
        elif method == "minilm":
            entry["eval"] = evaluate_model(load_hf_bert(minilm_path()), load_tokenizer("minilm"), args,
                                           steps=args.minilm_steps)
        else:
            model, entry["train"] = meta_train_copy(method, start, train_suites, args)
            print(f"{method}: {entry['train']['outer_steps']} outer steps in {entry['train']['train_seconds']:.0f} s",
                  flush=True)
            entry["eval"] = evaluate_model(model, tokenizer, args)
        entry["seconds"] = time.perf_counter() - t0
        results["models"][method] = entry
        summary = "  ".join(f"{c}: {format_ci(r['mean'][-1], r['ci'][-1])}" for c, r in entry["eval"].items())
        print(f"{method:>9} ({entry['seconds']:.0f} s)  {summary}", flush=True)
        save()
    print(table(results))


if __name__ == "__main__":
    main()
