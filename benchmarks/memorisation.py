"""Meta-overfitting by memorisation: MAML with a meta-learned head on fixed-label vs shuffled BBC tasks.

    python benchmarks/memorisation.py --out benchmarks/results/memorisation.json   # ~20 min on 1 thread
    python benchmarks/memorisation.py --quick --out runs/memo-quick.json           # smoke run (~1 min)

Every run starts from the shipped MLM checkpoint ``mlm-micro`` with a zero-initialised 5-way head
registered in θ (`metalearn_edu.meta.memorisation.with_learned_head`: its starting weights are
meta-learned and shared by all episodes, as in the original MAML), and meta-trains it with
first-order MAML on 5-way 5-shot BBC topic episodes from the *training* articles: the inner loop
moves the head only, one step of rate α = ``--inner-lr`` (a short inner loop, the few-step regime in
which Yin et al. saw MAML memorise; with five steps from a zero head the task is solved from the
support set alone and no memorising showed in the first 50 steps of a trial run), Adam
``--outer-lr`` moves everything, 4 episodes per step, ``--steps`` steps. Two labellings of the same
episodes:

* ``fixed``: each topic has the same label in every episode (tasks not mutually exclusive);
* ``shuffled``: the sampler's random label order per episode (the course's usual episodes).

Every ``--every`` steps the model is scored (query accuracy after the inner loop) on
``--episodes`` episodes of each kind:

* ``train``: the first meta-training episodes, labelled as in training;
* ``held_out``: test articles, labelled as in training (new articles, same kind of task);
* ``new_order``: test articles in the fixed order, then relabelled by a random non-identity
  permutation (support and query alike): a learner follows the support, a memoriser cannot;
* ``swapped``: each test episode's query (fixed order) with the support set of another test
  episode in a random order: a learner follows the wrong support, a memoriser does not care.

Seeds 0, 1, 2 (the stream of training episodes and torch's RNG); the test episodes are the same for
every run, so differences between the labellings are paired per episode. The JSON keeps every
per-episode accuracy and is written after every evaluation; a stopped study resumes whole runs.
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

from metalearn_edu.analysis import format_ci, mean_ci
from metalearn_edu.checkpoint import save_json
from metalearn_edu.data import bbc_splits
from metalearn_edu.episodes import TextClassificationEpisodes
from metalearn_edu.meta import TextClassifierLoss, select_params
from metalearn_edu.meta.evaluation import evaluate_adaptation
from metalearn_edu.meta.maml import maml_step
from metalearn_edu.meta.memorisation import LABELLINGS, fixed_labels, random_relabel, swap_support, with_learned_head
from metalearn_edu.pretrained import load_pretrained
from metalearn_edu.runtime import clock

KINDS = ("train", "held_out", "new_order", "swapped")
TEST_SEED = 2  # the BBC test sampler's seed in chapter 5 (`metalearn_edu.meta.text.BBC_TEST_SEED`)


def test_sets(tokenizer: Any, labelling: str, train_sampler, n: int) -> dict[str, list]:
    """The four kinds of scoring episodes for one run (`n` each)."""
    test = TextClassificationEpisodes(bbc_splits()["test"], tokenizer, 5, 5, 5, max_len=64, seed=TEST_SEED,
                                      split="test")
    classes = test.classes

    def label(ep):
        return fixed_labels(ep, classes) if labelling == "fixed" else ep

    return {
        "train": [label(train_sampler.episode(i)) for i in range(n)],
        "held_out": [label(test.episode(i)) for i in range(n)],
        "new_order": [random_relabel(fixed_labels(test.episode(i), classes), seed=i) for i in range(n)],
        "swapped": [swap_support(fixed_labels(test.episode(i), classes),
                                 random_relabel(fixed_labels(test.episode(n + i), classes), seed=n + i))
                    for i in range(n)],
    }


def score(loss_fn, model, sets: dict[str, list], args: argparse.Namespace) -> dict[str, list[float]]:
    """Per kind: each episode's query accuracy after the inner loop."""
    params = {n: p.detach() for n, p in model.named_parameters()}
    names = select_params(model, "head")
    return {kind: [row[-1] for row in evaluate_adaptation(loss_fn, params, episodes, args.inner_lr, args.inner_steps,
                                                          adapt_names=names).per_episode]
            for kind, episodes in sets.items()}


def run(labelling: str, seed: int, start, tokenizer, entry: dict, save, args: argparse.Namespace) -> None:
    torch.manual_seed(seed)
    model = with_learned_head(copy.deepcopy(start), 5).train()
    sampler = TextClassificationEpisodes(bbc_splits()["train"], tokenizer, 5, 5, 5, max_len=64, seed=100 + seed,
                                         split="train")
    classes = sampler.classes
    episodes = (lambda i: fixed_labels(sampler.episode(i), classes)) if labelling == "fixed" else sampler.episode
    sets = test_sets(tokenizer, labelling, sampler, args.episodes)
    loss_fn = TextClassifierLoss(model, head_init="learned", attention_impl="fused")
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    names = select_params(model, "head")
    optimizer = torch.optim.Adam(params.values(), lr=args.outer_lr)
    points, t0 = [], clock()
    for step in range(args.steps + 1):
        if step % args.every == 0:
            model.eval()
            points.append({"step": step, "seconds": clock() - t0, **score(loss_fn, model, sets, args)})
            model.train()
            summary = "  ".join(f"{k} {sum(v) / len(v):.3f}" for k, v in points[-1].items() if k in KINDS)
            print(f"{labelling:>8} seed {seed} step {step:4d}: {summary}", flush=True)
        if step == args.steps:
            break
        batch = [episodes(step * 4 + b) for b in range(4)]
        meta_loss, grads = maml_step(loss_fn, params, batch, args.inner_lr, args.inner_steps, True, names)
        optimizer.zero_grad(set_to_none=True)
        for name, g in grads.items():
            params[name].grad = g
        optimizer.step()
    entry.update(points=points, head_norm=float(model.head.weight.norm()))
    save()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--episodes", type=int, default=16, help="scoring episodes per kind")
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--inner-steps", type=int, default=1)
    p.add_argument("--outer-lr", type=float, default=1e-3)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--labellings", default=",".join(LABELLINGS))
    p.add_argument("--quick", action="store_true", help="smoke run: 4 steps, 2 episodes, one seed")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.steps, args.every, args.episodes, args.seeds = 4, 2, 2, "0"
    torch.set_num_threads(1)
    os.environ.setdefault("METALEARN_CLOCK", "process")
    start, tokenizer, _ = load_pretrained("mlm-micro")
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "quick", "seeds", "labellings")}
    results: dict[str, Any] = {"settings": settings, "runs": {}}
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        previous = json.loads(out.read_text())
        if previous["settings"] == settings:
            results["runs"] = previous["runs"]

    def save() -> None:
        if out is not None:
            save_json(out, results)  # atomic: a stopped study never leaves a truncated file

    for seed in [int(s) for s in args.seeds.split(",") if s]:
        for labelling in [x for x in args.labellings.split(",") if x]:
            name = f"{labelling}/seed={seed}"
            if results["runs"].get(name, {}).get("points"):
                continue
            t0 = time.process_time()
            run(labelling, seed, start, tokenizer, results["runs"].setdefault(name, {}), save, args)
            print(f"{name}: {time.process_time() - t0:.0f} CPU-s", flush=True)
    for labelling in LABELLINGS:
        finals = [r["points"][-1] for n, r in results["runs"].items() if n.startswith(labelling) and r.get("points")]
        if finals:
            print(f"{labelling:>8}: " + "  ".join(
                f"{k} {format_ci(*mean_ci([sum(f[k]) / len(f[k]) for f in finals]))}" if len(finals) > 1
                else f"{k} {sum(finals[0][k]) / len(finals[0][k]):.3f}" for k in KINDS))


if __name__ == "__main__":
    main()
