"""Beyond the training distribution: do the gains measured on news survive other domains and more labels?

    python benchmarks/cross_domain.py --out benchmarks/results/cross_domain.json   # ~2 h on 1 thread
    python benchmarks/cross_domain.py --quick --out runs/cd-quick.json              # smoke run (models: runs/cross_domain-quick)

Needs the encoders the other studies trained: ``runs/few_shot_text/`` (the meta-learners of chapter
5, three seeds each; ``benchmarks/few_shot_text.py`` writes them) and ``runs/equal_compute/`` (the
λ runs of chapter 6). A model whose folder is missing is skipped with a line saying so.

1. **Cross-domain** (``cross``): every model on two suites from outside the news domain, with
   chapter 5's test protocol (prototype head, then ``--test-steps`` SGD steps on the top block and
   the head): movie-review sentiment (2-way; Rotten Tomatoes snippets) and speaker identification
   in the 2016 US debates (4-way, **novel classes**: speakers never seen in meta-training), K ∈ {1, 5},
   5 query texts per class. Models: bag of words, random init, MLM (``mlm-micro``), MiniLM (step 0),
   MLM + MAML / first-order MAML / Reptile / ProtoNet on SMLMT (chapter 5), more MLM / hybrid λ = 0.5
   / SMLMT only (chapter 6), and the Hybrid-SMLMT of part 3. Seed s of a trained model is tested on
   its own block of episodes; models without seeds are tested on every block, so each seed's
   difference from the MLM start is paired (`metalearn_edu.analysis.seed_ci`).
2. **Low resource** (``kshot``): movie-review sentiment at K ∈ {1, 2, 4, 8, 16, 32, 64} labelled
   reviews per class (20 query reviews per class, ``--kshot-episodes`` episodes per K), for TF-IDF +
   logistic regression, a linear probe on the frozen MLM encoder, the prototype head (step 0),
   chapter 5's protocol from the MLM start and from the ProtoNet / first-order MAML encoders (seed 0),
   and fine-tuning the whole MLM encoder (``--finetune-steps`` SGD steps, the step size chosen per K
   on validation episodes from ``--finetune-lrs``). All on the same episodes.
3. **Meta-training on one domain, testing on another** (``hybrid``): first-order MAML from the MLM
   start, for the same budget as chapter 5's meta-learners, on a mix of SMLMT episodes and
   *supervised* BBC topic episodes from the training articles (Bansal et al.'s Hybrid-SMLMT proper),
   three seeds; it joins part 1 as ``hybrid_smlmt`` and is compared with SMLMT-only first-order MAML.

The JSON keeps every per-episode accuracy; a stopped study resumes and skips what it holds.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from metalearn_edu.analysis import format_ci, mean_ci
from metalearn_edu.checkpoint import load_checkpoint
from metalearn_edu.config import ModelConfig
from metalearn_edu.data import bbc_splits, load_tokenizer, minilm_path
from metalearn_edu.episodes import TextClassificationEpisodes
from metalearn_edu.interop import load_hf_bert
from metalearn_edu.meta import TextClassifierLoss, meta_train, select_params
from metalearn_edu.meta.text import (bag_of_words_accuracy, domain_task_suite, evaluate_finetuning,
                                     evaluate_text_adaptation, linear_probe_accuracy, text_task_suites)
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrained import export_model, load_pretrained

DOMAINS = ("movies", "debates")
SHOTS = (1, 5)
KSWEEP = (1, 2, 4, 8, 16, 32, 64)
META = ("maml", "fomaml", "reptile", "protonet")
LAMBDAS = ("0", "0.5", "1")


def cells() -> list[str]:
    return [f"{d}_k{k}" for d in DOMAINS for k in SHOTS]


def episodes_of(tokenizer: Any, cell: str, first: int, n: int, q_query: int = 5) -> list:
    domain, k = cell.rsplit("_k", 1)
    suite = domain_task_suite(tokenizer, domain, int(k), q_query)
    return [suite.episode(first + i) for i in range(n)]


def curve_record(curve, first: int) -> dict[str, Any]:
    return {**curve.to_dict(per_episode=True), "first_episode": first}


def evaluate_model(model: BertEncoder, tokenizer: Any, first: int, n: int, args: argparse.Namespace,
                   steps: int | None = None) -> dict[str, Any]:
    out = {}
    for cell in cells():
        episodes = episodes_of(tokenizer, cell, first, n)
        curve = evaluate_text_adaptation(model, episodes, args.inner_lr, args.test_steps if steps is None else steps)
        out[cell] = curve_record(curve, first)
    return out


def evaluate_bow(tokenizer: Any, first: int, n: int) -> dict[str, Any]:
    out = {}
    for cell in cells():
        accuracies = [bag_of_words_accuracy(ep) for ep in episodes_of(tokenizer, cell, first, n)]
        mean, half = mean_ci(accuracies)
        out[cell] = {"steps": [0], "mean": [mean], "ci": [half], "per_episode": [[a] for a in accuracies],
                     "n_episodes": n, "first_episode": first, "metric": "accuracy"}
    return out


def load_encoder(kind: str, name: str, seed: int, runs_dir: str = "runs/cross_domain") -> BertEncoder | None:
    """A trained encoder from the other studies' run folders (None when it is not there)."""
    if kind == "meta":
        path = Path("runs/few_shot_text") / f"{name}-seed{seed}"
        return load_pretrained(path, with_tokenizer=False)[0] if (path / "model.pt").exists() else None
    if kind == "lambda":
        path = Path("runs/equal_compute") / f"lambda={name}_seed={seed}" / "checkpoint.pt"
        if not path.exists():
            return None
        state = load_checkpoint(path)
        model = BertEncoder(ModelConfig.from_dict(state["config"]))
        model.load_state_dict(state["model"])
        return model.eval()
    path = Path(runs_dir) / f"{name}-seed{seed}"
    return load_pretrained(path, with_tokenizer=False)[0] if (path / "model.pt").exists() else None


def train_hybrid_smlmt(start: BertEncoder, tokenizer: Any, seed: int, args: argparse.Namespace) -> tuple[BertEncoder, dict]:
    """First-order MAML on alternating SMLMT and supervised BBC-topic episodes (training articles)."""
    model = copy.deepcopy(start).train()
    smlmt = text_task_suites(tokenizer, 5, 5, 5, train_seed=seed).smlmt_train
    topics = TextClassificationEpisodes(bbc_splits()["train"], tokenizer, 5, 5, 5, max_len=64, seed=100 + seed,
                                        split="train")
    episodes: Callable[[int], Any] = lambda i: smlmt.episode(i // 2) if i % 2 == 0 else topics.episode(i // 2)  # noqa: E731
    loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
    history = meta_train(model, loss_fn, episodes, steps=None, time_budget=args.budget, meta_batch_size=4,
                         inner_lr=args.inner_lr, inner_steps=3, outer_lr=1e-4, first_order=True,
                         adapt_names=select_params(model, "top1"), seed=seed, log_every=5)
    return model.eval(), {"outer_steps": history.steps[-1] if history.steps else 0, **history.to_dict()}


def finetuning_lr(start: BertEncoder, tokenizer: Any, k: int, args: argparse.Namespace) -> float:
    """The whole-encoder fine-tuning step size with the best validation accuracy at this K.

    Fine-tuning every parameter with the top block's step size (0.05) collapses the classifier to
    one class from K = 4 on, which would make a strawman of the classic baseline; so, like the
    sinusoid baseline of chapter 3, it gets its step size tuned, per K, on episodes of the
    *validation* reviews (``--finetune-lrs``, ``--val-episodes``).
    """
    suite = domain_task_suite(tokenizer, "movies", k, 20, split="val")
    episodes = [suite.episode(i) for i in range(args.val_episodes)]
    scores = {lr: evaluate_finetuning(start, episodes, lr, args.finetune_steps).mean[-1] for lr in args.finetune_lrs}
    best = max(scores, key=scores.get)
    print(f"  K={k}: whole-encoder fine-tuning step sizes (validation accuracy) "
          + ", ".join(f"{lr:g}: {v:.3f}" for lr, v in scores.items()) + f" -> {best:g}", flush=True)
    return best


def kshot_study(start: BertEncoder, tokenizer: Any, args: argparse.Namespace, results: dict, save) -> None:
    """Part 2: accuracy against the number of labelled examples per class (movie reviews)."""
    entry = results.setdefault("kshot", {})
    encoders = {"mlm": start}
    for name in ("protonet", "fomaml"):
        model = load_encoder("meta", name, 0)
        if model is not None:
            encoders[name] = model
    for k in KSWEEP:
        key = str(k)
        if key in entry and entry[key].get("done"):
            continue
        suite = domain_task_suite(tokenizer, "movies", k, 20)
        episodes = [suite.episode(i) for i in range(args.kshot_episodes)]
        row: dict[str, Any] = {}
        t0 = time.perf_counter()
        row["tfidf"] = [bag_of_words_accuracy(ep, weighting="tfidf") for ep in episodes]
        row["linear_probe"] = [linear_probe_accuracy(start, ep) for ep in episodes]
        for name, model in encoders.items():
            curve = evaluate_text_adaptation(model, episodes, args.inner_lr, args.test_steps)
            row[f"{name}_protocol"] = [r[-1] for r in curve.per_episode]
            if name == "mlm":
                row["prototype_head"] = [r[0] for r in curve.per_episode]
        lr = finetuning_lr(start, tokenizer, k, args)
        curve = evaluate_finetuning(start, episodes, lr, args.finetune_steps)
        row["finetune_all"] = [r[-1] for r in curve.per_episode]
        row["finetune_all_lr"] = lr
        row["seconds"] = time.perf_counter() - t0
        row["done"] = True
        entry[key] = row
        print(f"K={k:>2}: " + "  ".join(f"{m} {format_ci(*mean_ci(v))}" for m, v in row.items()
                                        if isinstance(v, list)), flush=True)
        save()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="hybrid,cross,kshot")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--episodes", type=int, default=100, help="test episodes per seed and cell")
    p.add_argument("--kshot-episodes", type=int, default=40)
    p.add_argument("--budget", type=float, default=240, help="meta-training seconds of the Hybrid-SMLMT runs")
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--test-steps", type=int, default=5)
    p.add_argument("--finetune-steps", type=int, default=10)
    p.add_argument("--finetune-lrs", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03],
                   help="step sizes tried for whole-encoder fine-tuning (chosen per K on validation episodes)")
    p.add_argument("--val-episodes", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs-dir", default=None,
                   help="where the Hybrid-SMLMT models go (default runs/cross_domain; runs/cross_domain-quick with --quick)")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.episodes, args.kshot_episodes, args.budget, args.seeds, args.val_episodes = 6, 4, 10, "0,1", 2
    if args.runs_dir is None:  # a smoke run must not leave 10-second models where the full run would reuse them
        args.runs_dir = "runs/cross_domain-quick" if args.quick else "runs/cross_domain"
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = args.parts.split(",")
    start, tokenizer, _ = load_pretrained("mlm-micro")
    settings = {"clock": os.environ["METALEARN_CLOCK"], **{k: v for k, v in vars(args).items() if k not in ("out", "quick", "runs_dir")}}
    settings["seeds"] = seeds
    results: dict[str, Any] = {"settings": settings, "models": {}}
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        previous = json.loads(out.read_text())
        if all(previous["settings"].get(k) == settings[k] for k in ("episodes", "inner_lr", "test_steps")):
            results["models"], results["kshot"] = previous.get("models", {}), previous.get("kshot", {})
            print(f"resuming from {out}", flush=True)

    def save() -> None:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(out)

    if "hybrid" in parts:
        for seed in seeds:
            folder = Path(args.runs_dir) / f"hybrid_smlmt-seed{seed}"
            if (folder / "model.pt").exists():
                continue
            model, train = train_hybrid_smlmt(start, tokenizer, seed, args)
            export_model(model, folder, metrics={"outer_steps": train["outer_steps"]})
            print(f"hybrid_smlmt seed {seed}: {train['outer_steps']} outer steps", flush=True)

    if "cross" in parts:
        n_fixed = args.episodes * (max(seeds) + 1)
        fixed = {"bow": None, "random": None, "mlm": start, "minilm": None}
        for name in fixed:
            entry = results["models"].setdefault(name, {})
            if entry.get("eval", {}).get("movies_k5", {}).get("n_episodes", 0) >= n_fixed:
                continue
            t0 = time.perf_counter()
            if name == "bow":
                entry["eval"] = evaluate_bow(tokenizer, 0, n_fixed)
            elif name == "random":
                torch.manual_seed(0)
                entry["eval"] = evaluate_model(BertEncoder(start.cfg).eval(), tokenizer, 0, n_fixed, args)
            elif name == "mlm":
                entry["eval"] = evaluate_model(start, tokenizer, 0, n_fixed, args)
            else:
                entry["eval"] = evaluate_model(load_hf_bert(minilm_path()), load_tokenizer("minilm"), 0, n_fixed,
                                               args, steps=0)
            print(f"{name:>14}: {time.perf_counter() - t0:.0f} s", flush=True)
            save()
        trained = [("meta", m) for m in META] + [("lambda", lam) for lam in LAMBDAS] + [("cross", "hybrid_smlmt")]
        for kind, name in trained:
            key = name if kind != "lambda" else f"lambda={name}"
            entry = results["models"].setdefault(key, {"seeds": {}})
            for seed in seeds:
                if str(seed) in entry["seeds"]:
                    continue
                model = load_encoder(kind, name, seed, args.runs_dir)
                if model is None:
                    print(f"{key} seed {seed}: no trained encoder found; skipped", flush=True)
                    continue
                t0 = time.perf_counter()
                entry["seeds"][str(seed)] = {"eval": evaluate_model(model, tokenizer, seed * args.episodes,
                                                                    args.episodes, args)}
                print(f"{key:>14} seed {seed}: {time.perf_counter() - t0:.0f} s  " + "  ".join(
                    f"{c}: {format_ci(r['mean'][-1], r['ci'][-1])}"
                    for c, r in entry["seeds"][str(seed)]["eval"].items()), flush=True)
                save()

    if "kshot" in parts:
        kshot_study(start, tokenizer, args, results, save)
    save()


if __name__ == "__main__":
    main()
