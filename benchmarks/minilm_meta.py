"""Meta-learning from an encoder that already carries general features: the recipes of chapters 5–7 from MiniLM.

    python benchmarks/minilm_meta.py --jobs start,fomaml-seed0,protonet-seed0,hybrid_smlmt-seed0 &   # one process
    python benchmarks/minilm_meta.py --jobs fomaml-seed1,protonet-seed1,hybrid_smlmt-seed1,... &     # another
    python benchmarks/minilm_meta.py --merge --out benchmarks/results/minilm_meta.json
    python benchmarks/minilm_meta.py --quick --jobs all --pieces runs/minilm_meta-quick             # smoke run

The start is ``all-MiniLM-L6-v2`` (22.7 M parameters, 6 × 384; `load_hf_bert`), with its own
WordPiece tokenizer. Three recipes, each run for ``--budget`` CPU seconds from a copy of the start,
with the same hyper-parameters chapter 5 uses on the course's micro encoder (meta-batch 4, top block
and head adapted, 3 inner steps of rate 0.05, Adam at 1e-4 on every parameter):

* ``fomaml``: first-order MAML on SMLMT tasks from the course's training text;
* ``protonet``: prototypical networks on the same SMLMT tasks;
* ``hybrid_smlmt``: first-order MAML on SMLMT tasks alternating with *supervised* 5-way BBC topic
  tasks from the training articles (Bansal et al.'s Hybrid-SMLMT). Its BBC test cell is therefore
  not few-shot for it: it has seen the five topics (on other articles).

Each trained model, and the start, is tested with chapter 5's protocol (a prototype head, then
``--test-steps`` SGD steps of rate 0.05 on the top block and the head; the whole curve is kept) on
BBC topics (5-way, the course's held-out articles), movie-review sentiment (2-way) and speaker
identification in the debates (4-way, novel speakers), K ∈ {1, 5}. Seed s is tested on episodes
``s·n … s·n + n − 1`` and the start on all three blocks, so every difference from the start is paired
(`metalearn_edu.analysis.seed_ci`). Part two is the movie-review K curve (K = 1 … 64 labelled reviews
per class, 20 query reviews per class), the same episodes for every model.

Precision: on a CPU with bf16 instructions (AMX / AVX512-BF16) training and testing run under bf16
autocast (weights stay fp32; its weight cache off, see `precision_context`), measured 1.7× faster than
fp32 for a first-order MAML step here, with the same meta-losses to three decimals. The
``start`` job also tests the start in fp32 on two cells, so the precision's effect on accuracy is
measured rather than assumed.

Every job writes its own JSON in ``--pieces`` when it finishes (two processes can share the work);
a finished job is skipped when the study is started again. ``--merge`` gathers the pieces into the
study's JSON (the start under ``models.minilm``); `metalearn_edu.studies.minilm_meta_table` reads it
(paired differences from the start, per cell, over the seeds).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch

from metalearn_edu.checkpoint import save_json
from metalearn_edu.data import bbc_splits, load_tokenizer, minilm_path
from metalearn_edu.episodes import TextClassificationEpisodes
from metalearn_edu.interop import load_hf_bert
from metalearn_edu.meta import ProtoNet, TextClassifierLoss, meta_train, protonet_train, select_params
from metalearn_edu.meta.text import domain_task_suite, evaluate_text_adaptation, text_task_suites
from metalearn_edu.model import BertEncoder
from metalearn_edu.runtime import cpu_has_fast_bf16
from metalearn_edu.studies import minilm_meta_table

RECIPES = ("fomaml", "protonet", "hybrid_smlmt")
SUITES = ("bbc", "movies", "debates")
SHOTS = (1, 5)
CELLS = [f"{s}_k{k}" for s in SUITES for k in SHOTS]
KSWEEP = (1, 2, 4, 8, 16, 32, 64)
SEEDS = (0, 1, 2)


def all_jobs(seeds: tuple[int, ...] = SEEDS) -> list[str]:
    return ["start"] + [f"{r}-seed{s}" for s in seeds for r in RECIPES]


def precision_context(precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast without its weight cache, or nothing (fp32).

    Autocast caches the bf16 copy of every leaf tensor that requires grad (the parameters) until the
    context is left, keyed by the tensor and not by its contents. An optimizer updates parameters in
    place, so inside one long context the forward pass would go on using the *first* step's weights
    (and the inner loop's fresh leaves would pile up in the cache: a 15 GB process). Here a whole
    meta-training run happens inside the context, so the cache is switched off.
    """
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)
    return contextlib.nullcontext()


def cell_episodes(tokenizer: Any, cell: str, first: int, n: int) -> list:
    suite, k = cell.rsplit("_k", 1)
    if suite == "bbc":
        return text_task_suites(tokenizer, n_way=5, k_shot=int(k), q_query=5).test_episodes("bbc", n, first)
    sampler = domain_task_suite(tokenizer, suite, int(k), 5)
    return [sampler.episode(first + i) for i in range(n)]


def evaluate_cells(model: BertEncoder, tokenizer: Any, first: int, n: int, args: argparse.Namespace,
                   cells: list[str] = CELLS) -> dict[str, Any]:
    """Chapter 5's protocol on episodes first … first + n − 1 of every cell (the whole curve, per episode)."""
    out = {}
    for cell in cells:
        t0 = time.process_time()
        curve = evaluate_text_adaptation(model, cell_episodes(tokenizer, cell, first, n), args.inner_lr,
                                         args.test_steps)
        out[cell] = {**curve.to_dict(per_episode=True), "first_episode": first,
                     "cpu_seconds": time.process_time() - t0}
    return out


def evaluate_kcurve(model: BertEncoder, tokenizer: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Movie-review sentiment at K = 1 … 64 (20 query reviews per class), episodes 0 … n − 1 for every model."""
    out = {}
    for k in KSWEEP:
        sampler = domain_task_suite(tokenizer, "movies", k, 20)
        curve = evaluate_text_adaptation(model, [sampler.episode(i) for i in range(args.kshot_episodes)],
                                         args.inner_lr, args.test_steps)
        out[str(k)] = curve.to_dict(per_episode=True)
    return out


def smlmt_episodes(tokenizer: Any, seed: int) -> Callable[[int], Any]:
    return text_task_suites(tokenizer, 5, 5, 5, train_seed=seed).smlmt_train.episode


def hybrid_episodes(tokenizer: Any, seed: int) -> Callable[[int], Any]:
    """SMLMT tasks (even indices) alternating with supervised BBC topic tasks from the training articles (odd)."""
    smlmt = smlmt_episodes(tokenizer, seed)
    topics = TextClassificationEpisodes(bbc_splits()["train"], tokenizer, 5, 5, 5, max_len=64, seed=100 + seed,
                                        split="train")
    return lambda i: smlmt(i // 2) if i % 2 == 0 else topics.episode(i // 2)


def train_recipe(recipe: str, start: BertEncoder, tokenizer: Any, seed: int,
                 args: argparse.Namespace) -> tuple[BertEncoder, dict[str, Any]]:
    """A copy of `start` meta-trained with `recipe` for ``args.budget`` CPU seconds."""
    model = copy.deepcopy(start).train()
    common = dict(steps=None, time_budget=args.budget, seed=seed, progress=not args.quiet, log_every=5)
    if recipe in ("fomaml", "hybrid_smlmt"):
        episodes = smlmt_episodes(tokenizer, seed) if recipe == "fomaml" else hybrid_episodes(tokenizer, seed)
        loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
        history = meta_train(model, loss_fn, episodes, meta_batch_size=4, inner_lr=args.inner_lr,
                             inner_steps=args.train_steps, outer_lr=args.outer_lr, first_order=True,
                             adapt_names=select_params(model, "top1"), on_divergence="skip", **common)
    elif recipe == "protonet":
        history = protonet_train(model, ProtoNet(model), smlmt_episodes(tokenizer, seed), meta_batch_size=4,
                                 lr=args.outer_lr, **common)
    else:
        raise ValueError(f"recipe={recipe!r} is not allowed; choose from {RECIPES}")
    record = history.to_dict()
    record["outer_steps"] = history.steps[-1] if history.steps else 0
    record["train_seconds"] = history.seconds[-1] if history.seconds else 0.0
    record["relative_change"] = relative_change(start, model)
    return model.eval(), record


def relative_change(start: BertEncoder, model: BertEncoder) -> float:
    """‖θ − θ₀‖ / ‖θ₀‖ over every parameter: how far meta-training moved the encoder."""
    before = dict(start.named_parameters())
    num = sum(float((p.detach() - before[n].detach()).pow(2).sum()) for n, p in model.named_parameters())
    den = sum(float(p.detach().pow(2).sum()) for p in before.values())
    return (num / den) ** 0.5


def run_job(job: str, args: argparse.Namespace) -> dict[str, Any]:
    start, tokenizer = load_hf_bert(minilm_path()).eval(), load_tokenizer("minilm")
    t0 = time.process_time()
    record: dict[str, Any] = {"job": job, "precision": args.precision}
    if job == "start":
        n_all = args.episodes * (max(args.seeds) + 1)
        with precision_context(args.precision):
            record["eval"] = evaluate_cells(start, tokenizer, 0, n_all, args)
            record["kcurve"] = evaluate_kcurve(start, tokenizer, args)
        if args.precision == "bf16":  # the precision control: the same episodes in fp32
            record["fp32_eval"] = evaluate_cells(start, tokenizer, 0, args.episodes, args,
                                                 cells=["bbc_k5", "movies_k5"])
    else:
        recipe, seed = job.rsplit("-seed", 1)
        seed = int(seed)
        with precision_context(args.precision):
            model, record["train"] = train_recipe(recipe, start, tokenizer, seed, args)
            record["eval"] = evaluate_cells(model, tokenizer, seed * args.episodes, args.episodes, args)
            record["kcurve"] = evaluate_kcurve(model, tokenizer, args)
        record["seed"] = seed
    record["cpu_seconds"] = time.process_time() - t0
    return record


def merge(pieces: Path, settings: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {"settings": settings, "models": {}}
    for path in sorted(pieces.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("settings", {}).get("budget") != settings["budget"]:
            print(f"{path}: another budget ({record.get('settings', {}).get('budget')}); left out", flush=True)
            continue
        job = record["job"]
        if job == "start":
            results["models"]["minilm"] = record
        else:
            recipe = job.rsplit("-seed", 1)[0]
            results["models"].setdefault(recipe, {"seeds": {}})["seeds"][str(record["seed"])] = record
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", default="all", help="comma-separated: start, {recipe}-seed{s}, or all")
    p.add_argument("--budget", type=float, default=480, help="CPU seconds of meta-training per recipe and seed")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--episodes", type=int, default=40, help="test episodes per seed and cell")
    p.add_argument("--kshot-episodes", type=int, default=20, help="episodes per K of the movie-review curve")
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--outer-lr", type=float, default=1e-4)
    p.add_argument("--train-steps", type=int, default=3, help="inner steps during meta-training")
    p.add_argument("--test-steps", type=int, default=5, help="inner steps at test time")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto: bf16 autocast where the CPU has bf16 instructions, else fp32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pieces", default=None, help="folder of the per-job JSON (default runs/minilm_meta)")
    p.add_argument("--merge", action="store_true", help="gather the pieces into --out and print the summary")
    p.add_argument("--quick", action="store_true", help="smoke run: 15 s budgets, 3 episodes, 2 seeds")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.budget, args.episodes, args.kshot_episodes, args.seeds = 15, 3, 2, "0,1"
    if args.pieces is None:
        args.pieces = "runs/minilm_meta-quick" if args.quick else "runs/minilm_meta"
    if args.precision == "auto":
        args.precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")  # budgets in CPU seconds: fair when runs share a machine
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    settings = {"clock": os.environ["METALEARN_CLOCK"],
                **{k: v for k, v in vars(args).items() if k not in ("out", "quiet", "jobs", "pieces", "merge")}}
    pieces = Path(args.pieces)
    if args.merge:
        results = merge(pieces, settings)
        if args.out:
            save_json(args.out, results)
        table = minilm_meta_table(results) if "minilm" in results["models"] else {}
        for recipe, rows in table.items():
            print(f"{recipe:>13}: " + "  ".join(f"{c} {r['mean']:.3f} (Δ {r['diff']:+.3f} ± {r['diff_half']:.3f})"
                                                for c, r in rows.items()), flush=True)
        return
    jobs = all_jobs(tuple(args.seeds)) if args.jobs == "all" else [j for j in args.jobs.split(",") if j]
    known = all_jobs(tuple(args.seeds))
    unknown = [j for j in jobs if j not in known]
    if unknown:
        raise SystemExit(f"--jobs: unknown {unknown}; choose from {known}")
    for job in jobs:
        path = pieces / f"{job}.json"
        if path.exists() and json.loads(path.read_text()).get("settings", {}).get("budget") == args.budget:
            print(f"{job}: done ({path})", flush=True)
            continue
        record = run_job(job, args)
        record["settings"] = settings
        save_json(path, record)
        steps = f"{record['train']['outer_steps']} outer steps, " if "train" in record else ""
        print(f"{job}: {steps}{record['cpu_seconds']:.0f} CPU-s  " + "  ".join(
            f"{c} {r['mean'][-1]:.3f}" for c, r in record["eval"].items()), flush=True)


if __name__ == "__main__":
    main()
