"""Few-shot text classification: what pretraining and meta-training buy, over seeds, with paired intervals.

    python benchmarks/few_shot_text.py --out benchmarks/results/few_shot_text.json   # ~2.5 h on 1 thread
                                                  # (the meta-trained encoders go to runs/few_shot_text/)
    python benchmarks/few_shot_text.py --quick --out runs/fst-quick.json              # smoke run (~3 min)

Models (all share the test protocol below; every meta-learner starts from the shipped MLM
checkpoint ``mlm-micro`` and gets the same wall-clock budget of meta-training on
self-supervised SMLMT tasks from the *training* articles, over the training words):

* ``random``: the same architecture, randomly initialised (no pretraining);
* ``mlm``: the MLM checkpoint as it is (the transfer-learning baseline: fine-tuning);
* ``maml`` / ``fomaml``: second- / first-order MAML, top block + head adapt, 3 inner
  steps with α = ``--inner-lr``, meta-batch 4, Adam ``--outer-lr``;
* ``reptile``: Reptile with the same inner loop, ε = 0.1 annealed, meta-batch 4;
* ``protonet``: prototypical-network training on the same episodes (Adam ``--outer-lr``);
* ``minilm``: the real all-MiniLM-L6-v2 encoder (6 × 384, trained on a billion sentence
  pairs) as a reference point, through its own tokenizer on the same episodes, scored at
  step 0 only (frozen encoder, prototype head: a prototypical network);
* ``bow``: logistic regression on the support set's word indicators (sanity baseline).

Controls for the comparisons above (chapter 5's like-for-like section):

* ``maml_all`` / ``fomaml_all`` / ``reptile_all``: the same learners with *every* parameter
  (embeddings, all blocks, head) in the inner loop. With the top block adapting, Reptile's update
  θ ← θ + ε(φ̃ − θ) is zero outside that block; these runs make the adapted set a factor;
* ``fomaml_steps``: first-order MAML stopped at second-order MAML's number of outer steps (per
  seed), so "first-order vs second-order" is also compared at equal steps, not only equal time
  (the count MAML's run recorded: it logged every 5th step, so MAML took up to 4 more);
* ``anil``: second-order MAML whose inner loop adapts the head only (Raghu et al. 2020, ANIL).

Every control gets the same budget (or step count), seeds and test episodes as the main learners.

**Seeds.** Each meta-learner is trained with every seed of ``--seeds`` (the seed picks the
stream of meta-training episodes and torch's RNG). Seed s is tested on its own block of test
episodes, ``s·E … s·E + E − 1`` with E = ``--episodes``; the models that are not trained
(random, mlm, minilm, bow) are tested on all the blocks. So for every seed the difference
"meta-learner − MLM start" is paired (same episodes), and the seeds' differences are
independent: `metalearn_edu.analysis.seed_ci` takes the t-interval over them, which covers
both the seed-to-seed variance of meta-training and the sampling of test episodes.

Test protocol (`metalearn_edu.meta.text.evaluate_text_adaptation`): 5-way K-shot, K ∈ {1, 5},
5 query examples per class; the N-way head starts at the support prototypes (step 0 is a
prototypical network on that encoder) and the top block + head take ``--test-steps`` SGD
steps with α = ``--inner-lr``. Suites: held-out SMLMT (test articles, held-out words) and BBC
topics (test articles; the same five topics the encoder saw in pretraining: few-shot on seen
classes). The JSON keeps every per-episode accuracy at every step; a stopped study resumes and
skips what it already holds.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from metalearn_edu.analysis import format_ci, seed_ci
from metalearn_edu.data import load_tokenizer, minilm_path
from metalearn_edu.interop import load_hf_bert
from metalearn_edu.meta import ProtoNet, TextClassifierLoss, meta_train, protonet_train, reptile_train, select_params
from metalearn_edu.meta.text import SHOTS, TASKS, bag_of_words_on_suites, evaluate_on_suites, text_task_suites
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrained import load_pretrained

MAIN_META_METHODS = ("maml", "fomaml", "reptile", "protonet")
CONTROL_METHODS = ("maml_all", "fomaml_all", "reptile_all", "fomaml_steps", "anil")
META_METHODS = (*MAIN_META_METHODS, *CONTROL_METHODS)
FIXED_METHODS = ("bow", "random", "mlm", "minilm")
ALL_METHODS = ("bow", "random", "mlm", *MAIN_META_METHODS, "minilm", *CONTROL_METHODS)
ADAPTED_SETS = {"maml_all": "all", "fomaml_all": "all", "reptile_all": "all", "anil": "head"}
CELLS = [f"{t}_k{k}" for t in TASKS for k in SHOTS]


def meta_train_copy(method: str, start: BertEncoder, tokenizer: Any, seed: int,
                    args: argparse.Namespace, steps: int | None = None) -> tuple[BertEncoder, dict]:
    """Meta-train a copy of `start` with `method` and meta-training seed `seed`.

    The run lasts `args.budget` seconds, or exactly `steps` outer steps when given (on CPU with one
    thread a run of the same steps and seed is the same model: this rebuilds a stored run).
    """
    model = copy.deepcopy(start).train()
    episodes = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5, train_seed=seed).smlmt_train.episode
    adapt_names = select_params(model, ADAPTED_SETS.get(method, "top1"))
    common = dict(steps=steps, time_budget=None if steps else args.budget, seed=seed, progress=not args.quiet,
                  log_every=5)
    if method in ("maml", "fomaml", "maml_all", "fomaml_all", "fomaml_steps", "anil"):
        second_order = method in ("maml", "maml_all", "anil")
        loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="explicit" if second_order else "fused")
        history = meta_train(model, loss_fn, episodes, meta_batch_size=4, inner_lr=args.inner_lr,
                             inner_steps=args.train_steps, outer_lr=args.outer_lr, first_order=not second_order,
                             adapt_names=adapt_names, on_divergence="skip", **common)
    elif method in ("reptile", "reptile_all"):
        loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
        history = reptile_train(model, loss_fn, episodes, meta_batch_size=4, inner_lr=args.inner_lr,
                                inner_steps=args.train_steps, outer_lr=0.1, adapt_names=adapt_names,
                                on_divergence="skip", **common)
    elif method == "protonet":
        history = protonet_train(model, ProtoNet(model), episodes, meta_batch_size=4, lr=args.outer_lr, **common)
    else:
        raise ValueError(f"unknown meta-learning method {method!r}; choose from {META_METHODS}")
    record = history.to_dict()
    record["outer_steps"] = history.steps[-1] if history.steps else 0
    record["train_seconds"] = history.seconds[-1] if history.seconds else 0.0
    return model.eval(), record


def evaluate_fixed(method: str, start: BertEncoder, tokenizer: Any, n: int, args: argparse.Namespace) -> dict:
    """A model without training, on episodes 0 … n − 1 of every cell."""
    if method == "bow":
        return bag_of_words_on_suites(tokenizer, n)
    if method == "random":
        torch.manual_seed(0)
        return evaluate_on_suites(BertEncoder(start.cfg).eval(), tokenizer, n, args.inner_lr, args.test_steps)
    if method == "mlm":
        return evaluate_on_suites(start, tokenizer, n, args.inner_lr, args.test_steps)
    if method == "minilm":
        return evaluate_on_suites(load_hf_bert(minilm_path()), load_tokenizer("minilm"), n, args.inner_lr, 0)
    raise ValueError(f"unknown method {method!r}")


def block(curve: dict, seed: int, size: int) -> list[float]:
    """The last-step accuracies of seed `seed`'s block of episodes in a curve dict (fixed models)."""
    first = seed * size - curve.get("first_episode", 0)
    return [row[-1] for row in curve["per_episode"][first:first + size]]


def summary(results: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Per method and cell: mean over seeds ± half-width, and the paired difference from the MLM start."""
    size, seeds = results["settings"]["episodes"], results["settings"]["seeds"]
    models, out = results["models"], {}
    for method, entry in models.items():
        rows = {}
        for cell in CELLS:
            done = [s for s in seeds if str(s) in entry.get("seeds", {})] if method in META_METHODS else seeds
            if method in META_METHODS:
                per_seed = [[row[-1] for row in entry["seeds"][str(s)]["eval"][cell]["per_episode"]] for s in done]
            else:
                per_seed = [block(entry["eval"][cell], s, size) for s in done]
            if len(per_seed) < 2:
                continue
            mlm = [block(models["mlm"]["eval"][cell], s, size) for s in done] if "mlm" in models else None
            mean, half, _ = seed_ci(per_seed)
            row = {"mean": mean, "half": half}
            if mlm is not None and method != "mlm":
                d, dh, values = seed_ci(per_seed, mlm)
                row.update(diff=d, diff_half=dh, diff_per_seed=values)
            rows[cell] = row
        out[method] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=float, default=240, help="seconds of meta-training per method and seed")
    p.add_argument("--seeds", default="0,1,2", help="meta-training seeds (each tested on its own episodes)")
    p.add_argument("--episodes", type=int, default=100, help="test episodes per seed, suite and K")
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--outer-lr", type=float, default=1e-4)
    p.add_argument("--train-steps", type=int, default=3, help="inner steps during meta-training")
    p.add_argument("--test-steps", type=int, default=5, help="inner steps at test time")
    p.add_argument("--methods", default=",".join(ALL_METHODS), help=f"comma-separated subset of {ALL_METHODS}")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="smoke run: 10 s budgets, 10 episodes, 2 seeds")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", default=None, help="results JSON (a stopped study resumes from it)")
    p.add_argument("--save-models", default="runs/few_shot_text",
                   help="folder for the meta-trained encoders (other studies evaluate them on more suites)")
    args = p.parse_args()
    if args.quick:
        args.budget, args.episodes, args.seeds = 10, 10, "0,1"
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")  # budgets in CPU seconds: fair when runs share a machine
    seeds = [int(s) for s in args.seeds.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(ALL_METHODS))
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; choose from {ALL_METHODS}")

    start, tokenizer, _ = load_pretrained("mlm-micro")
    settings = {"clock": os.environ["METALEARN_CLOCK"],
                **{k: v for k, v in vars(args).items() if k not in ("out", "quiet", "methods", "save_models")}}
    settings["seeds"] = seeds
    results: dict[str, Any] = {"settings": settings, "models": {}}
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        previous = json.loads(out.read_text())
        same = {k: previous["settings"].get(k) for k in ("budget", "episodes", "inner_lr", "test_steps")} == \
            {k: settings[k] for k in ("budget", "episodes", "inner_lr", "test_steps")}
        if same:
            results["models"] = previous["models"]
            print(f"resuming from {out}", flush=True)

    def save() -> None:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(out)

    n_fixed = args.episodes * (max(seeds) + 1)
    for method in [m for m in ALL_METHODS if m in methods]:
        entry = results["models"].setdefault(method, {})
        if method in FIXED_METHODS:
            done = entry.get("eval", {}).get("bbc_k5", {}).get("n_episodes", 0) >= n_fixed
            if not done:
                t0 = time.perf_counter()
                entry["eval"] = evaluate_fixed(method, start, tokenizer, n_fixed, args)
                entry["seconds"] = time.perf_counter() - t0
                print(f"{method:>9}: {n_fixed} episodes per cell in {entry['seconds']:.0f} s", flush=True)
                save()
            continue
        for seed in seeds:
            if str(seed) in entry.get("seeds", {}):
                continue
            t0 = time.perf_counter()
            steps = None
            if method == "fomaml_steps":  # second-order MAML's outer steps for this seed
                maml_seeds = results["models"].get("maml", {}).get("seeds", {})
                if str(seed) not in maml_seeds:
                    raise SystemExit(f"fomaml_steps needs maml's seed {seed} in {out} first")
                steps = maml_seeds[str(seed)]["train"]["outer_steps"]
            model, train = meta_train_copy(method, start, tokenizer, seed, args, steps=steps)
            if args.save_models:
                from metalearn_edu.pretrained import export_model

                export_model(model, Path(args.save_models) / f"{method}-seed{seed}", metrics={"train": train["outer_steps"]})
            evaluation = evaluate_on_suites(model, tokenizer, args.episodes, args.inner_lr, args.test_steps,
                                            first_episode=seed * args.episodes)
            entry.setdefault("seeds", {})[str(seed)] = {"train": train, "eval": evaluation,
                                                        "seconds": time.perf_counter() - t0}
            print(f"{method:>9} seed {seed}: {train['outer_steps']} outer steps; "
                  + "  ".join(f"{c}: {format_ci(r['mean'][-1], r['ci'][-1])}" for c, r in evaluation.items()),
                  flush=True)
            save()

    results["summary"] = summary(results)
    save()
    print("\n| model | " + " | ".join(CELLS) + " |\n|---|" + "---:|" * len(CELLS))
    for method, rows in results["summary"].items():
        cells = []
        for c in CELLS:
            r = rows.get(c)
            cells.append("—" if r is None else format_ci(r["mean"], r["half"])
                         + (f" (Δ {r['diff']:+.3f} ± {r['diff_half']:.3f})" if "diff" in r else ""))
        print(f"| {method} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
