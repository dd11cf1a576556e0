"""The few-shot playground's update: how long it takes, and on which threads.

    python benchmarks/playground_speed.py --out benchmarks/results/playground_speed.json

Part 1 times `evaluate_text_adaptation` on the playground's default update (8 BBC test episodes,
5-way 5-shot, 5 inner steps, the shipped ``mlm-micro`` encoder) six ways, in rotation, each round
taking every way once:

* on the **main thread** (where a notebook cell runs) and on **another thread** (where JupyterLab
  runs a widget callback: an ipykernel *subshell*), after the main thread has used torch, as a
  notebook kernel has;
* the old path (the lower blocks rerun at every update, torch's default threads), the lower blocks
  kept between updates (`TrunkCache`), and that plus episodes side by side (``workers`` = torch's
  thread count, each worker one torch thread).

It prints the median seconds, the ratio to the old path on the main thread (the reference), and the
voluntary context switches per run (the sign of OpenMP threads that sleep and wake).

Part 2 times `render_few_shot` end to end (episodes, bag of words, evaluation, the figure's PNG)
on the other thread for single changes from the default settings, as the panel's Run does.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import threading
import time
from pathlib import Path

import torch

from metalearn_edu.meta.text import TrunkCache, evaluate_text_adaptation, held_out_sampler
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrained import load_pretrained
from metalearn_edu.widgets import render_few_shot

from bench_matmul import cpu_name  # (this folder is on sys.path when run as a script)


def on_other_thread(fn):
    """Run `fn` on a fresh thread (as ipykernel runs a widget callback) and return its result."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def timed(fn) -> tuple[float, int]:
    """(seconds, voluntary context switches of the process) for one call."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    model, tokenizer, _ = load_pretrained("mlm-micro")
    sampler = held_out_sampler(tokenizer, "bbc", 5, 5, 5)
    episodes = [sampler.episode(i) for i in range(8)]
    threads = torch.get_num_threads()
    cache = TrunkCache(model)
    evaluate_text_adaptation(model, episodes, 0.05, 5, trunk=cache)  # the main thread has used torch; cache filled

    def old():
        return evaluate_text_adaptation(model, episodes, 0.05, 5)

    def cached():
        return evaluate_text_adaptation(model, episodes, 0.05, 5, trunk=cache)

    def side_by_side():
        return evaluate_text_adaptation(model, episodes, 0.05, 5, trunk=cache, workers=threads)

    ways = {
        "old path, main thread (reference)": old,
        "old path, other thread": lambda: on_other_thread(old),
        "lower blocks cached, main thread": cached,
        "lower blocks cached, other thread": lambda: on_other_thread(cached),
        f"cached + {threads} workers, main thread": side_by_side,
        f"cached + {threads} workers, other thread": lambda: on_other_thread(side_by_side),
    }
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    switches: dict[str, list[int]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, fn in ways.items():
            s, n = timed(fn)
            seconds[name].append(s)
            switches[name].append(n)
    reference = statistics.median(seconds["old path, main thread (reference)"])
    print(f"evaluation of the default update, torch threads = {threads}, {args.rounds} rounds")
    print(f"{'way':45s} {'median s':>9s} {'ratio':>6s} {'switches':>9s}")
    rows = {}
    for name in ways:
        m = statistics.median(seconds[name])
        rows[name] = {"median_s": m, "ratio_to_reference": m / reference, "seconds": seconds[name],
                      "voluntary_switches_median": statistics.median(switches[name])}
        print(f"{name:45s} {m:9.2f} {m / reference:6.2f} {statistics.median(switches[name]):9.0f}")

    models = {"MLM (ours)": (model, tokenizer), "random init": (BertEncoder(model.cfg).eval(), tokenizer)}
    default = dict(model_name="MLM (ours)", task="bbc", n_way=5, k_shot=5, inner_steps=5, inner_lr=0.05)

    def render(**change):
        figure = render_few_shot(models, **{**default, **change})
        return figure._repr_png_()  # what the panel sends to the browser

    render()
    render(model_name="random init")
    render(task="smlmt")  # what the panel builds when it is made
    changes = {"inner lr 0.1": dict(inner_lr=0.1), "inner lr 0.02": dict(inner_lr=0.02),
               "model: random init": dict(model_name="random init"), "task: smlmt": dict(task="smlmt"),
               "episodes from 8": dict(first_episode=8), "episodes from 16": dict(first_episode=16),
               "N = 2": dict(n_way=2), "K = 1": dict(k_shot=1), "K = 10": dict(k_shot=10),
               "inner steps 10": dict(inner_steps=10)}
    ends = {}
    print("\nrender_few_shot on another thread, one change from the defaults (PNG included)")
    for name, change in changes.items():
        s, _ = timed(lambda: on_other_thread(lambda: render(**change)))
        ends[name] = s
        print(f"{name:25s} {s:6.2f} s")
    print(f"median of these changes: {statistics.median(ends.values()):.2f} s")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "cpu": cpu_name(), "torch": torch.__version__,
            "torch_threads": threads, "rounds": args.rounds, "evaluation": rows,
            "render_other_thread_s": ends, "render_median_s": statistics.median(ends.values()),
        }, indent=2) + "\n")


if __name__ == "__main__":
    main()
