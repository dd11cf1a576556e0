"""How fast is a meta-step when the meta-batch is one batched computation?

    python benchmarks/maml_speed.py --out benchmarks/results/maml_speed.json   # ~3 min, 1 thread
    python benchmarks/maml_speed.py --quick                                    # smoke run

1. **Sinusoid MAML** (Finn et al.'s setup: 1-40-40-1 ReLU, 25 tasks per meta-batch, K = 10,
   one inner step, second order). Outer steps per second of

   * ``loop``: `maml_step(..., vectorize=False)`, one episode at a time (the readable code);
   * ``vmap``: the batched path with `torch.func.vmap` over the tasks for every model
     (the MLP shortcuts below switched off);
   * ``library_autograd``: batched with stacked weights and fused ``baddbmm``, the inner gradient
     from ``autograd.grad(..., create_graph=True)`` (the library before its hand-written backward);
   * ``library``: `maml_step` as it runs by default: batched, and for an MLP with stacked weights,
     ``baddbmm`` and the inner gradient written out by hand (`metalearn_edu.meta.vectorized`);
   * ``reference``: the forty lines below (`reference_step`), written by hand for this one
     network: stacked weights, ``baddbmm``, two ``autograd.grad`` calls, given the meta-batch's
     data already stacked into (25, 10, 1) tensors;
   * ``reference_from_list``: the same, given the list of 25 episodes like the library, so that
     it stacks them itself (four ``torch.stack`` calls): the like-for-like comparison for ``library``;
   * ``library_stacked``: `maml_step` given the meta-batch already stacked (a `MetaBatch`, as
     ``SinusoidTasks.batch(..., stacked=True)`` returns it): the like-for-like comparison for
     ``reference``.

   All of them take the same pre-sampled meta-batches (the library its list of episodes, the
   reference the stacked tensors it needs) and run in rotating turns, several rounds, so a slow
   spell of the machine hits them alike; the table reports medians and the median per-round ratio.
2. **Text episodes** (the shipped ``mlm-micro`` encoder, SMLMT 5-way 5-shot episodes of
   training sentences, prototype head, top block + head adapting, 3 inner steps): time per
   episode of the loop and the batched path at meta-batch 4 and 8, first and second order, and
   the peak of live tensor memory of one meta-step (as in ``benchmarks/meta_cost.py``), and the share
   of the loop's operator time spent in matrix products (why batching cannot help much on a CPU).
3. **Few-shot playground**: the time of one update (`widgets.render_few_shot`, 8 BBC episodes,
   5 steps) with the loop and with the batched evaluation, at 1 thread and at torch's default
   number of threads (the machine's cores: what a notebook kernel uses).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from meta_cost import peak_memory_mb

from metalearn_edu.episodes import MetaBatch, SinusoidTasks
from metalearn_edu.meta import TextClassifierLoss, functional_loss, maml_step, select_params, sinusoid_mlp
from metalearn_edu.meta import vectorized
from metalearn_edu.meta.vectorized import stack_episodes


# ---------------------------------------------------------------------------------------
# The hand-batched reference (sinusoid MLP only)
# ---------------------------------------------------------------------------------------
def batched_mlp(weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """1-40-40-1 ReLU network with one set of weights per task: x (B, M, 1) -> (B, M, 1)."""
    w1, b1, w2, b2, w3, b3 = weights  # (B, out, in) and (B, out)
    h = torch.relu(torch.baddbmm(b1.unsqueeze(1), x, w1.transpose(1, 2)))
    h = torch.relu(torch.baddbmm(b2.unsqueeze(1), h, w2.transpose(1, 2)))
    return torch.baddbmm(b3.unsqueeze(1), h, w3.transpose(1, 2))


def reference_step(theta: list[torch.Tensor], sx, sy, qx, qy, inner_lr: float) -> tuple[torch.Tensor, tuple]:
    """Second-order MAML with one inner step, all tasks at once; returns (meta-loss, meta-gradients)."""
    B = sx.shape[0]
    stacked = [w.expand(B, *w.shape) for w in theta]  # one copy of θ per task (views)
    support = ((batched_mlp(stacked, sx) - sy) ** 2).mean(dim=(1, 2)).sum()  # Σ_b L_b: its gradient is per task
    grads = torch.autograd.grad(support, stacked, create_graph=True)
    adapted = [w - inner_lr * g for w, g in zip(stacked, grads)]  # φ_b = θ − α ∇L_b(θ)
    query = ((batched_mlp(adapted, qx) - qy) ** 2).mean(dim=(1, 2)).mean()
    return query, torch.autograd.grad(query, theta)


def rounds(methods: dict[str, Callable[[], Any]], seconds: float, n_rounds: int) -> dict[str, list[float]]:
    """Calls per second of each method, in rotating turns of `seconds` each, `n_rounds` times."""
    rates: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for r in range(n_rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            fn, n, start = methods[name], 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                fn()
                n += 1
            rates[name].append(n / (time.perf_counter() - start))
    return rates


def sinusoid_study(args: argparse.Namespace) -> dict[str, Any]:
    net = sinusoid_mlp(seed=0)
    params = dict(net.named_parameters())
    loss_fn = functional_loss(net, "mse")
    tasks = SinusoidTasks(seed=0)
    batches = [tasks.batch(i * 25, 25, k_shot=10, k_query=10) for i in range(8)]
    stacks = [stack_episodes(b) for b in batches]
    metabatches = [MetaBatch.from_episodes(b) for b in batches]
    theta = [params[n] for n in ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias")]
    counter = {"i": 0}

    def next_index() -> int:
        counter["i"] = (counter["i"] + 1) % len(batches)
        return counter["i"]

    def loop():
        maml_step(loss_fn, params, batches[next_index()], 0.01, 1, vectorize=False)

    def library():
        maml_step(loss_fn, params, batches[next_index()], 0.01, 1)

    def without(name: str, replacement: Callable[..., Any], fn: Callable[[], Any]) -> Callable[[], Any]:
        """`fn` with `vectorized.<name>` replaced for the call (to time the batched path without one shortcut)."""
        def run():
            original = getattr(vectorized, name)
            setattr(vectorized, name, replacement)
            try:
                fn()
            finally:
                setattr(vectorized, name, original)
        return run

    vmap_only = without("_mlp_plan", lambda loss_fn: None, library)  # every model through vmap
    library_autograd = without("_backprop_plan", lambda *a: None, library)  # autograd's inner gradient

    def library_stacked():
        maml_step(loss_fn, params, metabatches[next_index()], 0.01, 1)

    def reference():
        st = stacks[next_index()]
        reference_step(theta, st.support_x, st.support_y, st.query_x, st.query_y, 0.01)

    def reference_from_list():
        eps = batches[next_index()]
        reference_step(theta, torch.stack([e.support_x for e in eps]), torch.stack([e.support_y for e in eps]),
                       torch.stack([e.query_x for e in eps]), torch.stack([e.query_y for e in eps]), 0.01)

    # same numbers first
    lib_loss, lib_grads = maml_step(loss_fn, params, batches[0], 0.01, 1)
    st = stacks[0]
    ref_loss, ref_grads = reference_step(theta, st.support_x, st.support_y, st.query_x, st.query_y, 0.01)
    ref_loss = ref_loss.detach()
    max_diff = max((lib_grads[n] - g).abs().max().item() for n, g in zip(params, ref_grads))
    print(f"sinusoid: library vs reference meta-loss {float(lib_loss):.6f} vs {float(ref_loss):.6f}, "
          f"largest gradient difference {max_diff:.2e}", flush=True)
    rates = rounds({"loop": loop, "vmap": vmap_only, "library_autograd": library_autograd, "library": library,
                    "library_stacked": library_stacked, "reference": reference,
                    "reference_from_list": reference_from_list}, args.seconds, args.rounds)
    out = {name: {"steps_per_s": statistics.median(r), "runs": r} for name, r in rates.items()}
    out["library"]["ratio_to_reference_from_list"] = statistics.median(
        a / b for a, b in zip(rates["library"], rates["reference_from_list"]))
    for name in ("loop", "vmap", "library_autograd", "library", "library_stacked", "reference_from_list"):
        out[name]["ratio_to_reference"] = statistics.median(
            a / b for a, b in zip(rates[name], rates["reference"]))
    out["library"]["ratio_to_loop"] = statistics.median(a / b for a, b in zip(rates["library"], rates["loop"]))
    out["max_gradient_difference"] = max_diff
    return out


# ---------------------------------------------------------------------------------------
# Text episodes
# ---------------------------------------------------------------------------------------
MATMUL_OPS = ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "scaled_dot_product")


def matmul_share(run: Callable[[], None]) -> dict[str, float]:
    """The share of operator self time spent in matrix products (and attention kernels) during `run`."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    total = matmul = 0.0
    for event in prof.key_averages():
        total += event.self_cpu_time_total
        if any(op in event.key for op in MATMUL_OPS):
            matmul += event.self_cpu_time_total
    return {"matmul_share": matmul / max(total, 1e-9), "operator_ms": total / 1000}


def text_study(args: argparse.Namespace) -> list[dict[str, Any]]:
    from metalearn_edu.meta.text import text_task_suites
    from metalearn_edu.pretrained import load_pretrained

    model, tokenizer, _ = load_pretrained("mlm-micro")
    sampler = text_task_suites(tokenizer, 5, 5, 5).smlmt_train
    names = select_params(model, "top1")
    params = dict(model.named_parameters())
    rows = []
    for first_order in (True, False):
        loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused" if first_order else "explicit")
        for batch_size in (4, 8):
            batches = [[sampler.episode(i * batch_size + b) for b in range(batch_size)] for i in range(4)]
            counter = {"i": 0}

            def step(vectorize: bool):
                counter["i"] = (counter["i"] + 1) % len(batches)
                maml_step(loss_fn, params, batches[counter["i"]], 0.05, 3, first_order, names, vectorize=vectorize)

            l_loop, g_loop = maml_step(loss_fn, params, batches[0], 0.05, 3, first_order, names, vectorize=False)
            l_vec, g_vec = maml_step(loss_fn, params, batches[0], 0.05, 3, first_order, names, vectorize=True)
            diff = max((g_loop[n] - g_vec[n]).abs().max().item() for n in g_loop)
            rates = rounds({"loop": lambda: step(False), "batched": lambda: step(True)}, args.seconds, args.rounds)
            memory = {name: peak_memory_mb(lambda v=v: step(v), torch.device("cpu"))
                      for name, v in (("loop", False), ("batched", True))}
            row = {"order": "first" if first_order else "second", "meta_batch": batch_size,
                   "loop_profile": matmul_share(lambda: step(False)),
                   "ms_per_episode": {k: 1000 / (statistics.median(r) * batch_size) for k, r in rates.items()},
                   "speed_up": statistics.median(b / a for a, b in zip(rates["loop"], rates["batched"])),
                   "peak_mib": memory, "max_gradient_difference": diff,
                   "meta_loss": {"loop": float(l_loop), "batched": float(l_vec)}}
            rows.append(row)
            print(f"  (loop: {row['loop_profile']['matmul_share']:.0%} of operator time in matrix products and "
                  f"attention kernels)", flush=True)
            print(f"text {row['order']}-order, meta-batch {batch_size}: "
                  f"{row['ms_per_episode']['loop']:.1f} → {row['ms_per_episode']['batched']:.1f} ms per episode "
                  f"({row['speed_up']:.2f}×), peak {memory['loop']:.0f} → {memory['batched']:.0f} MiB, "
                  f"gradient difference {diff:.1e}", flush=True)
    return rows


def playground_study(args: argparse.Namespace) -> dict[str, Any]:
    """The time of one playground update with the loop and batched, at 1 thread and at torch's default
    number of threads (what a notebook kernel uses: the machine's cores)."""
    from metalearn_edu.meta import text as text_module
    from metalearn_edu.pretrained import load_pretrained
    from metalearn_edu.widgets import render_few_shot

    model, tokenizer, _ = load_pretrained("mlm-micro")
    models = {"MLM (ours)": (model, tokenizer)}
    render_few_shot(models, "MLM (ours)", "bbc", 5, 5, 5, 0.05)  # builds and caches the suites
    original, threads_before = text_module.evaluate_text_adaptation, torch.get_num_threads()
    out: dict[str, Any] = {}
    for threads in sorted({1, args.default_threads}):
        torch.set_num_threads(threads)
        times: dict[str, list[float]] = {"loop": [], "batched": []}
        for r in range(args.rounds):
            for name in ("loop", "batched") if r % 2 == 0 else ("batched", "loop"):
                text_module.evaluate_text_adaptation = (
                    lambda *a, v=(name == "batched"), **k: original(*a, **{**k, "vectorize": v}))
                start = time.perf_counter()
                render_few_shot(models, "MLM (ours)", "bbc", 5, 5, 5, 0.05, first_episode=8 * (r + 1))
                times[name].append(time.perf_counter() - start)
        text_module.evaluate_text_adaptation = original
        row = {name: {"median_s": statistics.median(t), "runs": t} for name, t in times.items()}
        out[f"threads_{threads}"] = row
        print(f"few-shot playground update (8 BBC episodes, 5-way 5-shot, 5 steps), {threads} thread(s): "
              f"{row['loop']['median_s']:.2f} s with the loop, {row['batched']['median_s']:.2f} s batched", flush=True)
    torch.set_num_threads(threads_before)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=3.0, help="length of one timed turn")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--parts", default="sinusoid,text,playground")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    args.default_threads = torch.get_num_threads()  # before --threads: what a notebook kernel would use
    if args.quick:
        args.seconds, args.rounds = 0.5, 2
    torch.set_num_threads(args.threads)
    parts = args.parts.split(",")
    results: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items() if k != "out"},
                               "torch": torch.__version__}
    try:
        from meta_cost import cpu_name

        results["cpu"] = cpu_name()
    except ImportError:
        pass
    if "sinusoid" in parts:
        results["sinusoid"] = s = sinusoid_study(args)
        print("\n| path | outer steps/s | ratio to the hand-batched reference |\n|---|---:|---:|")
        for name in ("loop", "vmap", "library_autograd", "library", "reference_from_list", "library_stacked",
                     "reference"):
            ratio = s[name].get("ratio_to_reference", 1.0)
            print(f"| {name} | {s[name]['steps_per_s']:.0f} | {ratio:.2f} |")
        print(f"library / loop: {s['library']['ratio_to_loop']:.1f}×; library / reference_from_list: "
              f"{s['library']['ratio_to_reference_from_list']:.2f}; library given a stacked MetaBatch / "
              f"reference given stacked tensors: {s['library_stacked']['ratio_to_reference']:.2f}\n", flush=True)
    if "text" in parts:
        results["text"] = text_study(args)
    if "playground" in parts:
        results["playground"] = playground_study(args)
    if args.out:
        out = Path(args.out)
        if out.exists():  # a run of some parts keeps the other parts' stored results
            previous = json.loads(out.read_text())
            results = {**{k: v for k, v in previous.items() if k in ("sinusoid", "text", "playground")
                          and k not in parts}, **results}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
