"""Cost of one meta-step: second-order MAML, first-order MAML, Reptile, and `higher`'s MAML.

    python benchmarks/meta_cost.py                      # nano encoder, BBC 5-way 5-shot, K = 1/5/10
    python benchmarks/meta_cost.py --quick              # smoke run
    python benchmarks/meta_cost.py --size micro --device cuda --out runs/meta_cost.json

All methods see the same transformer and the same episode: our `BertEncoder` (``--size``,
vocabulary of the course tokenizer, explicit attention everywhere, since second-order
MAML needs it on CPU and a common path keeps the comparison fair) plus a zero-initialised
N-way linear head on mean-pooled features; one BBC episode (5-way, 5 support and 5 query
documents per class, 64 tokens; random tokens if the corpus is missing).

A *meta-step* is everything one outer update needs for a meta-batch of one episode:
MAML / FOMAML: `maml_step` (inner loop + query loss + meta-gradient); Reptile:
`reptile_step` (inner loop without graph + the in-place update); higher:
``innerloop_ctx(copy_initial_weights=False)`` with a differentiable SGD, then
``backward()`` of the query loss. Parameters adapt either all (the encoder body and the
head) or only the top block and the head ("top1").

What is measured:
* **time**: median wall-clock seconds over ``--repeats`` runs after one warm-up run. The
  methods of one (adapted set, K) cell are timed in rotation (run 1 of each, then run 2
  of each, in a rotated order), so a slow spell of the machine hits them all alike
  instead of whichever method happened to be timed then; the ratio to MAML is the
  median of the per-round ratios;
* **peak memory**: on CPU, the peak of live tensor memory allocated by PyTorch during
  one meta-step, above what was allocated before it, reconstructed from
  `torch.profiler`'s memory events (``profile_memory=True``) at operator granularity.
  It counts tensors (activations kept for backward, gradients, adapted weights), not
  Python objects or allocator caching, so it isolates what the algorithms differ in.
  On CUDA: ``torch.cuda.max_memory_allocated`` above the baseline.

Ratios are relative to our second-order MAML with the same K and the same adapted set.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from metalearn_edu.config import model_config
from metalearn_edu.episodes import Episode, TextClassificationEpisodes
from metalearn_edu.meta import functional_loss, maml_step, pool_features, reptile_step, select_params
from metalearn_edu.model import BertEncoder

from bench_matmul import cpu_name  # (this folder is on sys.path when run as a script)

METHODS = ("maml", "fomaml", "reptile", "higher")


class EpisodeClassifier(nn.Module):
    """Encoder + zero-initialised N-way linear head on mean-pooled features (one module, for higher too)."""

    def __init__(self, encoder: BertEncoder, n_way: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.cfg.d_model, n_way)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        out = self.encoder(input_ids, attention_mask=attention_mask, attention_impl="explicit")
        return self.head(pool_features(out.hidden_states, input_ids, attention_mask, "mean"))


def make_episode(args: argparse.Namespace) -> tuple[Episode, int]:
    """One 5-way episode from BBC (or random tokens without the corpus), and the vocabulary size."""
    from metalearn_edu.data import load_tokenizer

    tokenizer = load_tokenizer()
    try:
        from metalearn_edu.data import bbc_splits

        docs = bbc_splits()["train"]
        sampler = TextClassificationEpisodes(docs, tokenizer, args.n_way, args.k_shot, args.q_query,
                                             max_len=args.max_len, seed=0, split="train")
        return sampler.episode(0), len(tokenizer)
    except (ModuleNotFoundError, FileNotFoundError):
        g = torch.Generator().manual_seed(0)
        n_s, n_q = args.n_way * args.k_shot, args.n_way * args.q_query
        x_s = torch.randint(5, len(tokenizer), (n_s, args.max_len), generator=g)
        x_q = torch.randint(5, len(tokenizer), (n_q, args.max_len), generator=g)
        y_s = torch.arange(args.n_way).repeat_interleave(args.k_shot)
        y_q = torch.arange(args.n_way).repeat_interleave(args.q_query)
        return Episode(x_s, y_s, x_q, y_q, torch.ones_like(x_s), torch.ones_like(x_q),
                       classes=[str(i) for i in range(args.n_way)]), len(tokenizer)


def adapt_names(model: EpisodeClassifier, which: str) -> list[str]:
    body = select_params(model.encoder, which, head_names=[])
    return [f"encoder.{n}" for n in body] + ["head.weight", "head.bias"]


def step_fn(method: str, model: EpisodeClassifier, episode: Episode, k: int, which: str,
            inner_lr: float) -> Callable[[], None]:
    """A closure that runs one meta-step of `method`."""
    names = adapt_names(model, which)
    loss_fn = functional_loss(model, "cross_entropy")
    if method in ("maml", "fomaml"):
        params = dict(model.named_parameters())

        def run() -> None:
            maml_step(loss_fn, params, [episode], inner_lr, k, first_order=method == "fomaml", adapt_names=names)
        return run
    if method == "reptile":
        params = dict(model.named_parameters())

        def run() -> None:
            reptile_step(loss_fn, params, [episode], inner_lr, k, outer_lr=0.1, adapt_names=names)
        return run
    if method == "higher":
        import higher

        adapted = [p for n, p in model.named_parameters() if n in set(names)]
        opt = torch.optim.SGD(adapted, lr=inner_lr)

        def run() -> None:
            with higher.innerloop_ctx(model, opt, copy_initial_weights=False) as (fmodel, diffopt):
                for _ in range(k):
                    diffopt.step(F.cross_entropy(fmodel(episode.support_x, episode.support_mask), episode.support_y))
                F.cross_entropy(fmodel(episode.query_x, episode.query_mask), episode.query_y).backward()
            model.zero_grad(set_to_none=True)
        return run
    raise ValueError(f"unknown method {method!r}; choose from {METHODS}")


def interleaved_seconds(runs: dict[str, Callable[[], None]], repeats: int,
                        device: torch.device) -> dict[str, list[float]]:
    """Wall-clock seconds of each run, ``repeats`` rounds, methods in a rotated order per round."""
    for run in runs.values():
        run()  # warm-up
    names = list(runs)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            runs[name]()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return times


def peak_memory_mb(run: Callable[[], None], device: torch.device) -> float:
    """Peak tensor memory allocated during `run`, above the level before it, in MiB."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        run()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        # "[memory]" events are allocations/frees outside any operator; operators carry their own net
        live += event.cpu_memory_usage if event.name == "[memory]" else event.self_cpu_memory_usage
        peak = max(peak, live)
    return peak / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="nano", help="model size from metalearn_edu.config.MODEL_SIZES")
    p.add_argument("--steps", type=int, nargs="+", default=[1, 5, 10], help="inner steps K")
    p.add_argument("--adapt", nargs="+", default=["all", "top1"], help="which parameters adapt")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--n-way", type=int, default=5)
    p.add_argument("--k-shot", type=int, default=5)
    p.add_argument("--q-query", type=int, default=5)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=None, help="write results as JSON here")
    p.add_argument("--quick", action="store_true", help="smoke run: K = 1, 2; one repeat; 3-way 2-shot, 32 tokens")
    args = p.parse_args()
    if args.quick:
        args.steps, args.repeats, args.n_way, args.k_shot, args.q_query, args.max_len = [1, 2], 1, 3, 2, 2, 32
    if args.threads:
        torch.set_num_threads(args.threads)
    if "higher" in args.methods:
        try:
            import higher  # noqa: F401
        except ImportError:
            print("higher is not installed; skipping it (pip install higher)")
            args.methods = [m for m in args.methods if m != "higher"]
    device = torch.device(args.device)

    episode, vocab_size = make_episode(args)
    episode = episode.to(device)
    cfg = model_config(args.size, vocab_size=vocab_size, max_len=max(args.max_len, 64), dropout=0.0, attn_dropout=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        base = EpisodeClassifier(BertEncoder(cfg, attention_impl="explicit"), args.n_way).to(device)
    print(f"{args.size} encoder ({base.encoder.num_parameters():,} parameters), {args.n_way}-way {args.k_shot}-shot, "
          f"{episode.support_x.shape[0]}+{episode.query_x.shape[0]} sequences × {episode.support_x.shape[1]} tokens, "
          f"{torch.get_num_threads()} thread(s), {device}\n", flush=True)

    rows: list[dict[str, Any]] = []
    for which in args.adapt:
        for k in args.steps:
            # a fresh copy per method (Reptile updates its model; each measurement starts equal)
            runs = {m: step_fn(m, copy.deepcopy(base), episode, k, which, args.inner_lr) for m in args.methods}
            times = interleaved_seconds(runs, args.repeats, device)
            for method, run in runs.items():
                seconds = statistics.median(times[method])
                ratio = (statistics.median(t / m for t, m in zip(times[method], times["maml"]))
                         if "maml" in times else None)
                memory = peak_memory_mb(run, device)
                rows.append(dict(method=method, adapt=which, inner_steps=k, seconds=seconds, peak_mb=memory,
                                 runs_s=times[method], time_ratio_vs_maml=ratio))
                print(f"  {method:8s} adapt={which:5s} K={k:2d}: {seconds * 1000:8.1f} ms, {memory:8.1f} MiB",
                      flush=True)

    reference = {(r["adapt"], r["inner_steps"]): r for r in rows if r["method"] == "maml"}
    print("\n| method | adapt | K | ms / meta-step | × MAML time | peak MiB | × MAML memory |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        ref = reference.get((r["adapt"], r["inner_steps"]))
        t_ratio = "—" if r["time_ratio_vs_maml"] is None else f"{r['time_ratio_vs_maml']:.2f}"
        m_ratio = f"{r['peak_mb'] / ref['peak_mb']:.2f}" if ref and ref["peak_mb"] > 0 else "—"
        r["memory_ratio_vs_maml"] = m_ratio
        print(f"| {r['method']} | {r['adapt']} | {r['inner_steps']} | {r['seconds'] * 1000:.1f} | {t_ratio} | "
              f"{r['peak_mb']:.1f} | {m_ratio} |")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        args.out.write_text(json.dumps({"settings": settings, "device": str(device), "cpu": cpu_name(),
                                        "torch": torch.__version__, "rows": rows}, indent=1) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
