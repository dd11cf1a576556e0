"""Rapid learning or feature reuse? Test-time adaptation sets and CKA for every start of chapter 5.

    python benchmarks/feature_reuse.py --parts rebuild              # the meta-learned encoders (~50 min, 1 thread)
    python benchmarks/feature_reuse.py --parts measure --out benchmarks/results/feature_reuse.json   # ~35 min
    python benchmarks/feature_reuse.py --quick --out runs/fr-quick.json                             # smoke (~2 min)

**Starts.** The MLM checkpoint and the encoders chapter 5 meta-trained from it
(`benchmarks/few_shot_text.py`): MAML, first-order MAML, Reptile, ProtoNet and ANIL, each seed. On CPU
with one thread a run of the same method, seed and steps is the same model, so ``--parts rebuild``
retrains each of the first four from its seed instead of needing the study's own files. The study
recorded every 5th outer step, and its last record is all it kept of a run's length, so a rebuilt
encoder stops there: 0–4 steps before the original did. The script prints (and stores) the largest
gap between the rebuilt encoder's accuracies and the stored ones on ten test episodes. The ANIL
encoders are the study's own (saved when they were trained).

**Measurements** (``--parts measure``), on the first ``--episodes`` test episodes of each seed's
block (the episodes the study tested that seed on; the MLM start on every seed's block), 5-way
5-shot, held-out SMLMT and BBC:

* query accuracy after 0…5 test-time steps moving the head only, the top block and head (the
  course's protocol), or every parameter at α / 10; and, for the MLM start, every parameter at the
  study's α = 0.05 too (it diverges: the support loss rises and accuracy falls to chance);
* linear CKA between each layer's query features before and after 5 steps moving every parameter
  (α / 10), on the first ``--cka-episodes`` of those episodes.

Every per-episode value is kept; a stopped run resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from metalearn_edu.analysis import format_ci, mean_ci
from metalearn_edu.checkpoint import save_json
from metalearn_edu.meta.feature_reuse import adaptation_cka, evaluate_adapted_set
from metalearn_edu.meta.text import evaluate_text_adaptation, text_task_suites
from metalearn_edu.pretrained import load_pretrained

STUDY = Path("benchmarks/results/few_shot_text.json")
METHODS = ("mlm", "maml", "fomaml", "reptile", "protonet", "anil")  # the starts ("mlm": the checkpoint itself)
CELLS = ("smlmt_k5", "bbc_k5")
SETTINGS = (("head", 1.0), ("top1", 1.0), ("all", 1.0), ("all", 0.1))  # (adapted set, α as a fraction of --inner-lr)
# every parameter at the full α diverges from the MLM start (accuracy falls to chance, section 10 of chapter 5);
# the meta-learned starts are measured on the other three settings only
MEASURED_SETTINGS = tuple(s for s in SETTINGS if s != ("all", 1.0))


def setting_name(adapted: str, fraction: float) -> str:
    return adapted if fraction == 1.0 else f"{adapted}@{fraction:g}α"


def rebuild(method: str, seed: int, study: dict, start, tokenizer, args: argparse.Namespace) -> None:
    """Retrain `method`'s seed-`seed` encoder for its stored outer steps and check it against the study."""
    import few_shot_text as fst  # benchmarks/few_shot_text.py: the same training code

    folder = Path(args.models) / f"{method}-seed{seed}"
    if (folder / "model.pt").exists():
        return
    stored = study["models"][method]["seeds"][str(seed)]
    steps = stored["train"]["outer_steps"]
    settings = study["settings"]
    ns = argparse.Namespace(budget=settings["budget"], inner_lr=settings["inner_lr"], outer_lr=settings["outer_lr"],
                            train_steps=settings["train_steps"], quiet=True)
    t0 = time.process_time()
    model, _ = fst.meta_train_copy(method, start, tokenizer, seed, ns, steps=steps)
    suites = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5)
    first = seed * settings["episodes"]
    curve = evaluate_text_adaptation(model, suites.test_episodes("bbc", 10, first), settings["inner_lr"],
                                     settings["test_steps"])
    want = [row[-1] for row in stored["eval"]["bbc_k5"]["per_episode"][:10]]
    got = [row[-1] for row in curve.per_episode]
    gap = max(abs(a - b) for a, b in zip(got, want))
    from metalearn_edu.pretrained import export_model

    export_model(model, folder, metrics={"outer_steps": steps, "check_max_gap": gap})
    print(f"rebuilt {method} seed {seed}: {steps} steps in {time.process_time() - t0:.0f} CPU-s; "
          f"largest gap to the stored accuracies on 10 BBC episodes: {gap:.4f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="rebuild,measure")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--episodes", type=int, default=30, help="test episodes per seed and cell")
    p.add_argument("--cka-episodes", type=int, default=15)
    p.add_argument("--models", default="runs/fr/models", help="the meta-trained encoders (rebuilt or saved)")
    p.add_argument("--quick", action="store_true", help="smoke run: 4 episodes, 2 for CKA, the MLM start only")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.episodes, args.cka_episodes, args.methods = 4, 2, "mlm"
    torch.set_num_threads(1)
    os.environ.setdefault("METALEARN_CLOCK", "process")
    study = json.loads(STUDY.read_text())
    inner_lr, test_steps, block = (study["settings"][k] for k in ("inner_lr", "test_steps", "episodes"))
    seeds = [int(s) for s in args.seeds.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    start, tokenizer, _ = load_pretrained("mlm-micro")

    if "rebuild" in args.parts:
        for seed in seeds:
            for method in methods:
                if method in ("maml", "fomaml", "reptile", "protonet"):
                    rebuild(method, seed, study, start, tokenizer, args)
    if "measure" not in args.parts:
        return

    out = Path(args.out) if args.out else None
    results: dict[str, Any] = {"settings": {"episodes": args.episodes, "cka_episodes": args.cka_episodes,
                                            "inner_lr": inner_lr, "test_steps": test_steps, "block": block,
                                            "seeds": seeds, "settings": [setting_name(*s) for s in SETTINGS]},
                               "starts": {}}
    if out is not None and out.exists():
        previous = json.loads(out.read_text())
        if previous["settings"]["episodes"] == args.episodes:
            results["starts"] = previous["starts"]

    def save() -> None:
        if out is not None:
            save_json(out, results)  # atomic: a stopped study never leaves a truncated file

    suites = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5)
    for seed in seeds:
        for method in methods:
            if method == "mlm":
                model = start
            else:
                folder = Path(args.models) / f"{method}-seed{seed}"
                if not (folder / "model.pt").exists():
                    print(f"skipping {method} seed {seed}: no encoder in {folder}", flush=True)
                    continue
                model = load_pretrained(str(folder))[0]
            entry = results["starts"].setdefault(method, {}).setdefault(str(seed), {})
            for cell in CELLS:
                if cell in entry and "cka" in entry[cell]:
                    continue
                t0 = time.process_time()
                episodes = suites.test_episodes(cell.split("_k")[0], args.episodes, seed * block)
                row: dict[str, Any] = {}
                for adapted, fraction in SETTINGS if method == "mlm" else MEASURED_SETTINGS:
                    curve = evaluate_adapted_set(model, episodes, adapted, inner_lr * fraction, test_steps)
                    row[setting_name(adapted, fraction)] = [list(map(float, r)) for r in curve.per_episode]
                row["cka"] = adaptation_cka(model, episodes[:args.cka_episodes], inner_lr * 0.1, test_steps)
                entry[cell] = row
                save()
                means = {k: mean_ci([r[-1] for r in v]) for k, v in row.items() if k != "cka"}
                print(f"{method:>9} seed {seed} {cell}: " + "  ".join(f"{k} {format_ci(*v)}" for k, v in means.items())
                      + f"  CKA top {sum(r[-1] for r in row['cka']) / len(row['cka']):.3f}"
                      + f" ({time.process_time() - t0:.0f} CPU-s)", flush=True)


if __name__ == "__main__":
    main()
