"""Chapter 9's study: a black-box (in-context) learner beside MAML, Reptile and ProtoNet on the same tasks.

    python benchmarks/in_context.py --out benchmarks/results/in_context.json \\
        --save-models data/checkpoints/in_context            # all parts, 3 seeds: ~25 CPU-minutes
    python benchmarks/in_context.py --parts compare --out benchmarks/results/in_context.json
                                                             # re-evaluate the shipped MAML-family networks (seconds)
    python benchmarks/in_context.py --quick --out runs/icl-quick.json   # smoke run (~1 min)

Parts (``--parts``, comma-separated; a stopped study resumes and skips finished runs):

* ``sinusoid``: for each seed, meta-train an `InContextRegressor` (set encoder, 3 blocks of width 64)
  on Finn et al.'s tasks (``SinusoidTasks(seed=s)``: A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[−5, 5]) with
  K drawn from 1..20 at every step, for ``--sin-steps`` steps (CPU seconds measured with
  ``METALEARN_CLOCK=process``); then score it on every test condition below.
* ``compare``: the shipped MAML, first-order MAML, Reptile and "pretrained on all tasks" networks
  (``data/checkpoints/sinusoid``), each fine-tuned for 10 SGD steps at its own test learning rate
  (`evaluate_adaptation` with ``on_divergence="record"``), on the same conditions. No training:
  rerun it when those networks change.
* ``text``: for each seed, an `InContextClassifier` over frozen ``mlm-micro`` features (mean-pooled
  last hidden states), meta-trained on SMLMT training episodes (``train_seed=s``, as chapter 5's
  meta-learners), K drawn from 1..5, labels permuted every episode; scored on exactly the test
  episodes of ``benchmarks/few_shot_text.py``: seed s on episodes ``100·s … 100·s + 99`` of every
  suite (held-out SMLMT, BBC) and K (1, 5), so the differences from that study's ProtoNet and
  first-order MAML (per episode, per seed) are paired.
* ``induction``: for each seed, a two-layer attention-only Transformer trained on sequences that
  repeat a random segment (`repeated_segments`); the loss on the repeats and each head's induction
  score during training.

Test conditions for sinusoids (600 tasks each, ``SinusoidTasks(seed=10_000)``, 100 query points):
``in_k5``, ``in_k10``, ``in_k20`` (in distribution); ``amp_k10`` (amplitudes A ~ U[5, 10], beyond
training, same phases and x); ``x_k20`` (x ~ U[−10, 10] for support and query points, K = 20 so
the density of support points is that of K = 10 on [−5, 5]); ``many_k40``, ``many_k80`` (more
support points than training ever showed). The JSON keeps every per-task MSE.
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

from metalearn_edu.analysis import format_ci, mean_ci, paired_ci, seed_ci
from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import evaluate_adaptation, functional_loss, load_sinusoid_models
from metalearn_edu.meta.in_context import (
    AttentionOnlyLM,
    FeatureEpisodes,
    InContextClassifier,
    InContextConfig,
    InContextRegressor,
    classification_accuracy,
    feature_episode,
    regression_mse,
    save_in_context_model,
    train_in_context_classifier,
    train_in_context_regressor,
    train_induction_model,
)

ROOT = Path(__file__).resolve().parents[1]
TEST_SEED = 10_000
# name -> (SinusoidTasks keyword arguments, K)
CONDITIONS: dict[str, tuple[dict[str, Any], int]] = {
    "in_k5": ({}, 5), "in_k10": ({}, 10), "in_k20": ({}, 20),
    "amp_k10": ({"amplitude": (5.0, 10.0)}, 10),
    "x_k20": ({"x_range": (-10.0, 10.0)}, 20),
    "many_k40": ({}, 40), "many_k80": ({}, 80),
}
SIN_CONFIG = InContextConfig(d_model=64, n_layers=3, n_heads=4, d_ff=128)
TEXT_CONFIG = InContextConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128)
TEXT_CELLS = [f"{t}_k{k}" for t in ("smlmt", "bbc") for k in (1, 5)]


def test_episodes(condition: str, n: int) -> list:
    kwargs, k = CONDITIONS[condition]
    tasks = SinusoidTasks(seed=TEST_SEED, **kwargs)
    return [tasks.episode(i, k_shot=k, k_query=100) for i in range(n)]


def run_sinusoid(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = InContextRegressor(SIN_CONFIG)
    t0 = time.process_time()
    history = train_in_context_regressor(model, SinusoidTasks(seed=seed), steps=args.sin_steps, batch_size=64,
                                         k_range=(1, 20), k_query=20, lr=1e-3, seed=seed, progress=args.progress,
                                         log_every=50)
    cpu = time.process_time() - t0
    if args.save_models:
        save_in_context_model(model, Path(args.save_models) / f"sinusoid-seed{seed}.pt", seed=seed,
                              steps=args.sin_steps, train_cpu_seconds=round(cpu, 1))
    per_task = {c: regression_mse(model, test_episodes(c, args.tasks)) for c in CONDITIONS}
    return {"train_cpu_seconds": cpu, "steps": args.sin_steps, "history": history.to_dict(), "per_task": per_task}


def run_compare(args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for method, (net, lr) in load_sinusoid_models(ROOT / "data" / "checkpoints" / "sinusoid").items():
        loss_fn, params = functional_loss(net, "mse"), dict(net.named_parameters())
        entry = {"test_lr": lr, "per_task": {}, "curve_mean": {}, "n_diverged": {}}
        for c in CONDITIONS:
            curve = evaluate_adaptation(loss_fn, params, test_episodes(c, args.tasks), lr, 10, on_divergence="record")
            entry["per_task"][c] = [row[-1] for row in curve.per_episode]  # NaN where the inner loop diverged
            entry["curve_mean"][c] = curve.mean
            entry["n_diverged"][c] = curve.n_diverged[-1]
        out[method] = entry
        print(f"{method:>10}: " + "  ".join(f"{c} {entry['curve_mean'][c][-1]:.3f}" for c in CONDITIONS), flush=True)
    return out


def feature_pool(encoder: Any, sampler: Any, n: int) -> FeatureEpisodes:
    """Frozen features of `n` 5-way SMLMT training episodes, as (E, N, K + Q, D)."""
    pools = []
    for i in range(n):
        ep = feature_episode(encoder, sampler.episode(i))
        N = ep.n_way
        for y in (ep.support_y, ep.query_y):
            if not torch.equal(y, torch.arange(N).repeat_interleave(y.shape[0] // N)):
                raise RuntimeError("expected class-major episodes")
        pools.append(torch.cat([ep.support_x.view(N, -1, ep.support_x.shape[-1]),
                                ep.query_x.view(N, -1, ep.query_x.shape[-1])], dim=1))
    return FeatureEpisodes(torch.stack(pools))


def run_text(seed: int, encoder: Any, tokenizer: Any, args: argparse.Namespace,
             test_cache: dict[str, list]) -> dict[str, Any]:
    from metalearn_edu.meta.text import text_task_suites

    t0 = time.process_time()
    sampler = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5, train_seed=seed).smlmt_train
    pool = feature_pool(encoder, sampler, args.text_pool)
    features_cpu = time.process_time() - t0
    torch.manual_seed(seed)
    model = InContextClassifier(encoder.cfg.d_model, n_labels=5, cfg=TEXT_CONFIG)
    t1 = time.process_time()
    history = train_in_context_classifier(model, pool, steps=args.text_steps, batch_size=32, k_range=(1, 5),
                                          q_query=5, lr=1e-3, seed=seed, progress=args.progress)
    train_cpu = time.process_time() - t1
    if args.save_models and seed == 0:
        save_in_context_model(model, Path(args.save_models) / f"text-seed{seed}.pt", seed=seed,
                              steps=args.text_steps, pool=args.text_pool, train_cpu_seconds=round(train_cpu, 1))
    per_episode = {}
    for cell in TEXT_CELLS:
        key = f"{cell}:{seed}"
        if key not in test_cache:
            task, k = cell.split("_k")
            suites = text_task_suites(tokenizer, n_way=5, k_shot=int(k), q_query=5)
            test_cache[key] = [feature_episode(encoder, ep)
                               for ep in suites.test_episodes(task, args.text_episodes, seed * args.text_episodes)]
        per_episode[cell] = classification_accuracy(model, test_cache[key])
    return {"features_cpu_seconds": features_cpu, "train_cpu_seconds": train_cpu, "steps": args.text_steps,
            "first_episode": seed * args.text_episodes, "history": history.to_dict(), "per_episode": per_episode}


def run_induction(seed: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = AttentionOnlyLM(vocab_size=64, d_model=64, n_layers=2, n_heads=4, max_len=64)
    t0 = time.process_time()
    history = train_induction_model(model, steps=args.induction_steps, seed=seed, eval_every=20)
    from metalearn_edu.meta.in_context import evaluate_induction, previous_token_scores, repeated_segments

    ids, lengths = repeated_segments(64, 48, 64, (6, 24), torch.Generator().manual_seed(seed + 20_000))
    _, scores = evaluate_induction(model, ids, lengths)
    with torch.no_grad():
        _, attentions = model(ids[:, :-1], return_attention=True)
    return {"train_cpu_seconds": time.process_time() - t0, "history": history,
            "induction_scores": scores.tolist(), "previous_token_scores": previous_token_scores(attentions).tolist()}


# ---------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------
def sinusoid_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per condition: the in-context learner over seeds and each MAML-family network, with paired differences."""
    runs = results.get("sinusoid", {})
    seeds = sorted(runs, key=int)
    out: dict[str, Any] = {}
    for c in CONDITIONS:
        row: dict[str, Any] = {}
        if len(seeds) >= 2:
            per_seed = [runs[s]["per_task"][c] for s in seeds]
            m, h, values = seed_ci(per_seed)
            row["in_context"] = {"mean": m, "half": h, "per_seed": values}
        for method, entry in results.get("compare", {}).items():
            values = entry["per_task"][c]
            finite = [v for v in values if math.isfinite(v)]
            m, h = mean_ci(finite)
            row[method] = {"mean": m, "half": h, "n_diverged": len(values) - len(finite)}
            if len(seeds) >= 2:
                keep = [i for i, v in enumerate(values) if math.isfinite(v)]
                per_seed = [[runs[s]["per_task"][c][i] for i in keep] for s in seeds]
                base = [[values[i] for i in keep]] * len(seeds)
                d, dh, dv = seed_ci(per_seed, base)
                avg = [sum(runs[s]["per_task"][c][i] for s in seeds) / len(seeds) for i in keep]
                td, th = paired_ci(avg, [values[i] for i in keep])
                row[method].update(diff=d, diff_half=dh, diff_per_seed=dv, task_diff=td, task_diff_half=th)
        out[c] = row
    return out


def text_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per cell: the in-context learner over seeds and its paired differences from chapter 5's methods."""
    runs = results.get("text", {})
    seeds = sorted(runs, key=int)
    if len(seeds) < 2:
        return {}
    chapter5 = json.loads((ROOT / "benchmarks" / "results" / "few_shot_text.json").read_text())
    size = chapter5["settings"]["episodes"]
    if any(len(runs[s]["per_episode"][c]) != size or runs[s]["first_episode"] != int(s) * size
           for s in seeds for c in TEXT_CELLS):
        print(f"(text: not the episodes of chapter 5's study ({size} per seed and cell); no paired comparison)")
        return {}
    out: dict[str, Any] = {}
    for cell in TEXT_CELLS:
        per_seed = [runs[s]["per_episode"][cell] for s in seeds]
        m, h, values = seed_ci(per_seed)
        row: dict[str, Any] = {"in_context": {"mean": m, "half": h, "per_seed": values}}
        references = {
            "protonet": [[r[-1] for r in chapter5["models"]["protonet"]["seeds"][s]["eval"][cell]["per_episode"]]
                         for s in seeds],
            "protonet_step0": [[r[0] for r in chapter5["models"]["protonet"]["seeds"][s]["eval"][cell]["per_episode"]]
                               for s in seeds],
            "fomaml": [[r[-1] for r in chapter5["models"]["fomaml"]["seeds"][s]["eval"][cell]["per_episode"]]
                       for s in seeds],
            "mlm_prototypes": [[r[0] for r in chapter5["models"]["mlm"]["eval"][cell]["per_episode"]
                                [int(s) * size:int(s) * size + size]] for s in seeds],
        }
        for name, ref in references.items():
            if [len(r) for r in ref] != [len(a) for a in per_seed]:
                raise RuntimeError(f"{name} {cell}: episode blocks differ from the in-context learner's")
            rm, rh, _ = seed_ci(ref)
            d, dh, dv = seed_ci(per_seed, ref)
            td, th = paired_ci([x for a in per_seed for x in a], [x for r in ref for x in r])
            row[name] = {"mean": rm, "half": rh, "diff": d, "diff_half": dh, "diff_per_seed": dv,
                         "episode_diff": td, "episode_diff_half": th}
        out[cell] = row
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="sinusoid,compare,text,induction")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--tasks", type=int, default=600, help="sinusoid test tasks per condition")
    p.add_argument("--sin-steps", type=int, default=5000)
    p.add_argument("--text-pool", type=int, default=800, help="SMLMT training episodes per seed (features)")
    p.add_argument("--text-steps", type=int, default=3000)
    p.add_argument("--text-episodes", type=int, default=100, help="test episodes per seed and cell (as chapter 5)")
    p.add_argument("--induction-steps", type=int, default=800)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: few steps, 60 tasks, 2 seeds")
    p.add_argument("--save-models", default=None, help="folder for the trained in-context learners")
    p.add_argument("--out", type=Path, default=None, help="results JSON (a stopped study resumes from it)")
    args = p.parse_args()
    if args.quick:
        args.seeds, args.tasks, args.sin_steps, args.text_pool, args.text_steps = "0,1", 60, 100, 30, 100
        args.text_episodes, args.induction_steps = 10, 100
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")
    seeds = [s for s in args.seeds.split(",") if s]
    parts = [s for s in args.parts.split(",") if s]
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "parts", "progress", "save_models")}
    results: dict[str, Any] = {"settings": settings}
    if args.out is not None and args.out.exists():
        previous = json.loads(args.out.read_text())
        if all(previous.get("settings", {}).get(k) == settings[k] for k in ("tasks", "sin_steps", "text_steps")):
            results = previous
            results["settings"] = settings
            print(f"resuming from {args.out}", flush=True)

    def save() -> None:
        results["summary"] = {"sinusoid": sinusoid_summary(results), "text": text_summary(results)}
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1) + "\n")
            tmp.replace(args.out)

    if "compare" in parts:  # cheap, and every rerun replaces it (the shipped networks may have changed)
        results["compare"] = run_compare(args)
        save()
    if "sinusoid" in parts:
        for s in seeds:
            if s in results.setdefault("sinusoid", {}):
                continue
            r = run_sinusoid(int(s), args)
            results["sinusoid"][s] = r
            print(f"sinusoid seed {s}: {r['train_cpu_seconds']:.0f} CPU s; "
                  + "  ".join(f"{c} {sum(v) / len(v):.3f}" for c, v in r["per_task"].items()), flush=True)
            save()
    if "induction" in parts:
        for s in seeds:
            if s in results.setdefault("induction", {}):
                continue
            r = run_induction(int(s), args)
            results["induction"][s] = r
            print(f"induction seed {s}: {r['train_cpu_seconds']:.0f} CPU s; repeat loss "
                  f"{r['history']['repeat_loss'][-1]:.3f}; best induction score {max(map(max, r['induction_scores'])):.2f}",
                  flush=True)
            save()
    if "text" in parts:
        todo = [s for s in seeds if s not in results.setdefault("text", {})]
        if todo:
            from metalearn_edu.pretrained import load_pretrained

            encoder, tokenizer, _ = load_pretrained("mlm-micro")
            cache: dict[str, list] = {}
            for s in todo:
                r = run_text(int(s), encoder, tokenizer, args, cache)
                results["text"][s] = r
                print(f"text seed {s}: {r['features_cpu_seconds']:.0f} + {r['train_cpu_seconds']:.0f} CPU s; "
                      + "  ".join(f"{c} {sum(v) / len(v):.3f}" for c, v in r["per_episode"].items()), flush=True)
                save()
    save()
    summary = results["summary"]
    if any(summary["sinusoid"].values()):
        print("\nSine regression, query MSE (600 tasks): in-context over seeds; others after 10 steps")
        for c, row in summary["sinusoid"].items():
            print(f"  {c:>9}: " + "  ".join(f"{m} {format_ci(r['mean'], r['half'])}"
                                             + (f" (Δ {r['task_diff']:+.3f} ± {r['task_diff_half']:.3f})"
                                                if "task_diff" in r else "") for m, r in row.items()))
    if summary["text"]:
        print("\nText, query accuracy: in-context over seeds; paired differences (in-context − method)")
        for c, row in summary["text"].items():
            print(f"  {c:>9}: in-context {format_ci(row['in_context']['mean'], row['in_context']['half'])}  "
                  + "  ".join(f"{m} {format_ci(r['mean'], r['half'])} (Δ {r['diff']:+.3f} ± {r['diff_half']:.3f})"
                              for m, r in row.items() if m != "in_context"))
    if args.out is not None:
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
