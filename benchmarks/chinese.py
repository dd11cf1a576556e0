"""A second language and a token-level task: Chinese NER and sentiment, and what transfers from English.

    python benchmarks/chinese.py --out benchmarks/results/chinese.json   # ~2.5 h on 1 thread
    python benchmarks/chinese.py --quick --out runs/zh-quick.json         # smoke run

On two cores, run it in pieces: ``--parts meta --seeds s`` per seed side by side, the two transfer
runs as ``--parts transfer --methods english_body`` and ``--methods scratch``, then ``--parts eval``
split with ``--methods`` and ``--seeds`` (e.g. the untrained models in one piece, the meta-learners
of each seed in others), and merge the pieces' JSON with ``benchmarks/merge_results.py``. Two pieces
must never train the same model at once: they would share its folder under ``runs/chinese/``.

Needs the Chinese encoder ``data/checkpoints/zh-mlm-micro`` (or ``--start DIR``), made by the two
commands in the README ("A Chinese encoder").

1. **Meta-training** (``meta``) from the Chinese MLM encoder, ``--budget`` CPU seconds per method
   and seed (three seeds): on NER episodes of the *training* sentences (3-way over PER/LOC/ORG,
   5-shot, Few-NERD's greedy sampling; top block + tag head adapt, 3 inner steps) with first-order
   MAML, second-order MAML and a prototypical tagger (the same loss with no inner step), and on
   Chinese SMLMT episodes (whole words from the corpus's segmentation) with first-order MAML.
2. **Cross-lingual transfer of the body** (``transfer``), after Artetxe, Ruder & Yogatama (2020):
   the English ``mlm-micro`` body with new Chinese token embeddings, learnt by MLM while the body is
   frozen, for ``--transfer-budget`` CPU seconds; against the same architecture trained from scratch
   on the same text for the same time (everything trainable).
3. **Evaluation** (``eval``): every model on test-split episodes — NER 3-way K ∈ {1, 5} (entity-level
   micro F1 with exact spans, per episode; step 0 of the token protocol is the nearest-prototype
   tagger, later steps fine-tune the top block and the head) and review sentiment 2-way K ∈ {1, 5}
   (accuracy, chapter 5's protocol; a character bag of words as the sanity baseline). Seed s of a
   trained model is tested on its own block of episodes; models without seeds on every block, so
   differences from the Chinese MLM start are paired per seed.
4. **Fewer or more labels** (``kshot``): review sentiment at K ∈ {1, 2, 4, 8, 16, 32, 64} labelled
   reviews per class (20 query reviews per class, ``--kshot-episodes`` episodes per K, the same for
   every method), as chapter 7 does for movie reviews: character TF-IDF + logistic regression, a
   linear probe on the frozen MLM encoder, the prototype head (step 0) and the test protocol from
   ``zh-mlm-micro``, and the protocol from the shipped ``zh-smlmt-micro``.
5. **Shipping** (``ship``, only when asked: it writes under ``data/``): seed 0 of first-order MAML on
   Chinese SMLMT becomes ``data/checkpoints/zh-smlmt-micro`` (fp16 weights, loaded as fp32), with
   its held-out MLM metrics on the 256 validation blocks that ``zh-mlm-micro`` reports.
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
from metalearn_edu.config import model_config
from metalearn_edu.data.chinese import chinese_sentiment_splits, load_chinese_tokenizer, peoples_daily_sentences, \
    peoples_daily_splits
from metalearn_edu.episodes import SMLMTEpisodes, TextClassificationEpisodes
from metalearn_edu.masking import MaskingVocab
from metalearn_edu.meta import TextClassifierLoss, meta_train, select_params
from metalearn_edu.meta.text import bag_of_words_accuracy, evaluate_text_adaptation
from metalearn_edu.meta.tokens import TokenClassifierLoss, evaluate_token_adaptation
from metalearn_edu.model import BertEncoder
from metalearn_edu.ner import NEREpisodes
from metalearn_edu.pretrain import PretrainConfig, pack_blocks, pretrain
from metalearn_edu.pretrained import export_model, load_pretrained
from metalearn_edu.transfer import freeze_body, transplant_body, unfreeze

CELLS = ("ner_k1", "ner_k5", "sent_k1", "sent_k5")
META = ("ner_fomaml", "ner_maml", "ner_protonet", "smlmt_fomaml")
RUNS = Path("runs/chinese")


def test_episodes(tokenizer: Any, cell: str, first: int, n: int) -> list:
    task, k = cell.split("_k")
    if task == "ner":
        sampler = NEREpisodes(peoples_daily_sentences("test"), tokenizer, 3, int(k), 5, max_len=64, seed=7)
    else:
        sampler = TextClassificationEpisodes(chinese_sentiment_splits()["test"], tokenizer, 2, int(k), 5,
                                             max_len=64, seed=5, split="test")
    return [sampler.episode(first + i) for i in range(n)]


def evaluate(model: BertEncoder, tokenizer: Any, first: int, n: int, args: argparse.Namespace) -> dict[str, Any]:
    out = {}
    for cell in CELLS:
        episodes = test_episodes(tokenizer, cell, first, n)
        if cell.startswith("ner"):
            curve = evaluate_token_adaptation(model, episodes, args.inner_lr, args.test_steps)
        else:
            curve = evaluate_text_adaptation(model, episodes, args.inner_lr, args.test_steps)
        out[cell] = {**curve.to_dict(per_episode=True), "first_episode": first}
    return out


def meta_train_one(method: str, start: BertEncoder, tokenizer: Any, seed: int, args: argparse.Namespace):
    model = copy.deepcopy(start).train()
    names = select_params(model, "top1")
    common = dict(steps=None, time_budget=args.budget, meta_batch_size=4, inner_lr=args.inner_lr, outer_lr=1e-4,
                  adapt_names=names, seed=seed, log_every=5)
    if method.startswith("ner"):
        sampler = NEREpisodes(peoples_daily_sentences("train"), tokenizer, 3, 5, 5, max_len=64, seed=seed)
        loss_fn = TokenClassifierLoss(model, attention_impl="explicit" if method == "ner_maml" else "fused")
        steps = 0 if method == "ner_protonet" else 3
        history = meta_train(model, loss_fn, sampler.episode, inner_steps=steps, first_order=method != "ner_maml",
                             **common)
    else:
        sentences = peoples_daily_sentences("train")
        sampler = SMLMTEpisodes([s.text for s in sentences], tokenizer, 5, 5, 5, max_len=48, seed=seed,
                                min_sentences=20, segmented=[s.words for s in sentences])
        loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
        history = meta_train(model, loss_fn, sampler.episode, inner_steps=3, first_order=True, **common)
    return model.eval(), history.steps[-1] if history.steps else 0


def transfer_runs(english: BertEncoder, tokenizer: Any, args: argparse.Namespace,
                  names: tuple[str, ...] = ("english_body", "scratch")) -> dict[str, Any]:
    """The English body with learnt Chinese embeddings, and a scratch model with the same CPU time."""
    splits = peoples_daily_splits()
    train_blocks = pack_blocks([d.text for d in splits["train"]], tokenizer, 128)
    eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, 128)[:256]
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    out = {}
    for name in names:
        folder = RUNS / name
        if (folder / "model.pt").exists():
            out[name] = json.loads((folder / "metrics.json").read_text())
            continue
        if name == "english_body":
            model = transplant_body(english, len(tokenizer), seed=0)
            trainable = freeze_body(model)
        else:
            torch.manual_seed(0)
            model = BertEncoder(model_config("micro", vocab_size=len(tokenizer), max_len=128, dropout=0.0,
                                             attn_dropout=0.0, pre_ln=english.cfg.pre_ln))
            trainable = [n for n, _ in model.named_parameters()]
        cfg = PretrainConfig(steps=1_000_000, batch_size=32, lr=args.transfer_lr, warmup_steps=50, min_lr_ratio=1.0,
                             precision="fp32", eval_every=1_000_000, checkpoint_every=100,
                             time_budget_s=args.transfer_budget, seed=0)
        history = pretrain(model, train_blocks, eval_blocks, vocab, cfg, out_dir=RUNS / f"{name}-run",
                           tokenizer_ref="zh", progress=False, log=None)
        unfreeze(model)
        metrics = {**history.last_eval(), "steps": history.step[-1], "seconds": history.time[-1],
                   "trainable": len(trainable), "trainable_parameters": sum(p.numel() for n, p in model.named_parameters()
                                                                            if n in trainable)}
        export_model(model.eval(), folder, tokenizer_ref="zh", metrics=metrics, history=history.to_dict())
        out[name] = metrics
        print(f"{name}: {metrics['steps']} steps, held-out MLM {metrics['loss']:.3f} (unigram "
              f"{metrics['unigram_loss']:.3f})", flush=True)
    return out


def ship_smlmt_variant(tokenizer: Any, args: argparse.Namespace, out_dir: Path) -> dict[str, Any]:
    """Export seed 0 of first-order MAML on Chinese SMLMT (fp16 weights) with its held-out MLM metrics."""
    from metalearn_edu.analysis import count_tokens, unigram_log_probs
    from metalearn_edu.pretrain import evaluate_mlm

    model, _, info = load_pretrained(RUNS / "smlmt_fomaml-seed0", with_tokenizer=False)
    splits = peoples_daily_splits()
    vocab = MaskingVocab.from_tokenizer(tokenizer)
    train = pack_blocks([d.text for d in splits["train"]], tokenizer, 128)
    held_out = pack_blocks([d.text for d in splits["val"]], tokenizer, 128)[:256]
    counts = count_tokens(train, vocab.vocab_size, ignore_ids=vocab.special_ids)
    metrics = evaluate_mlm(model, held_out, vocab, unigram_log_probs(counts), precision="fp32")
    metrics.update(outer_steps=info["metrics"].get("outer_steps"), budget_cpu_s=args.budget, seed=0,
                   method="first-order MAML on Chinese SMLMT (5-way 5-shot, 3 inner steps, top block + head)",
                   start="zh-mlm-micro", command=f"python benchmarks/chinese.py --parts meta,ship --budget {args.budget:g}")
    export_model(model, out_dir, tokenizer_ref="zh", metrics=metrics, dtype=torch.float16)
    print(f"shipped {out_dir}: held-out MLM loss {metrics['loss']:.3f} (unigram {metrics['unigram_loss']:.3f}), "
          f"{metrics['outer_steps']} outer steps", flush=True)
    return metrics


KSWEEP = (1, 2, 4, 8, 16, 32, 64)


def kshot_study(start: BertEncoder, tokenizer: Any, args: argparse.Namespace, results: dict, save) -> None:
    """Part 4: review-sentiment accuracy against the number of labelled reviews per class."""
    from metalearn_edu.meta.text import linear_probe_accuracy

    smlmt = load_pretrained("zh-smlmt-micro", with_tokenizer=False)[0]
    entry = results.setdefault("kshot", {})
    for k in KSWEEP:
        if entry.get(str(k), {}).get("done"):
            continue
        sampler = TextClassificationEpisodes(chinese_sentiment_splits()["test"], tokenizer, 2, k, 20, max_len=64,
                                             seed=5, split="test")
        episodes = [sampler.episode(i) for i in range(args.kshot_episodes)]
        t0 = time.perf_counter()
        row: dict[str, Any] = {"tfidf": [bag_of_words_accuracy(ep, weighting="tfidf", analyzer="char") for ep in episodes],
                               "linear_probe": [linear_probe_accuracy(start, ep) for ep in episodes]}
        curve = evaluate_text_adaptation(start, episodes, args.inner_lr, args.test_steps)
        row["prototype_head"] = [r[0] for r in curve.per_episode]
        row["mlm_protocol"] = [r[-1] for r in curve.per_episode]
        curve = evaluate_text_adaptation(smlmt, episodes, args.inner_lr, args.test_steps)
        row["smlmt_fomaml_protocol"] = [r[-1] for r in curve.per_episode]
        row.update(seconds=time.perf_counter() - t0, done=True)
        entry[str(k)] = row
        print(f"K={k:>2}: " + "  ".join(f"{m} {format_ci(*mean_ci(v))}" for m, v in row.items() if isinstance(v, list)),
              flush=True)
        save()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", default="meta,transfer,eval")
    p.add_argument("--start", default="data/checkpoints/zh-mlm-micro", help="the Chinese MLM encoder")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--budget", type=float, default=240)
    p.add_argument("--transfer-budget", type=float, default=900)
    p.add_argument("--transfer-lr", type=float, default=1e-3)
    p.add_argument("--inner-lr", type=float, default=0.05)
    p.add_argument("--test-steps", type=int, default=5)
    p.add_argument("--kshot-episodes", type=int, default=30, help="episodes per K of the kshot part")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--methods", default=None,
                   help="only these models (comma-separated: random, mlm, english_body, scratch, bow and the "
                        f"meta-learners {', '.join(META)}), to split the study into pieces; merge them with "
                        "benchmarks/merge_results.py")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.episodes, args.budget, args.transfer_budget, args.seeds, args.kshot_episodes = 4, 10, 20, "0,1", 3
    torch.set_num_threads(args.threads)
    os.environ.setdefault("METALEARN_CLOCK", "process")
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = args.parts.split(",")
    chosen = set(args.methods.split(",")) if args.methods else None

    def wanted(name: str) -> bool:
        return chosen is None or name in chosen

    tokenizer = load_chinese_tokenizer()
    start = load_pretrained(args.start, with_tokenizer=False)[0]
    settings = {"clock": os.environ["METALEARN_CLOCK"],
                **{k: v for k, v in vars(args).items() if k not in ("out", "quick", "methods", "parts")}}
    settings["seeds"] = seeds
    results: dict[str, Any] = {"settings": settings, "models": {}}
    out = Path(args.out) if args.out else None
    if out is not None and out.exists():
        previous = json.loads(out.read_text())
        if all(previous["settings"].get(k) == settings[k] for k in ("episodes", "inner_lr", "test_steps", "start")):
            results["models"], results["transfer"] = previous.get("models", {}), previous.get("transfer", {})
            if "kshot" in previous:
                results["kshot"] = previous["kshot"]

    def save() -> None:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(out)

    if "meta" in parts:
        for method in filter(wanted, META):
            for seed in seeds:
                folder = RUNS / f"{method}-seed{seed}"
                if (folder / "model.pt").exists():
                    continue
                model, steps = meta_train_one(method, start, tokenizer, seed, args)
                export_model(model, folder, tokenizer_ref="zh", metrics={"outer_steps": steps})
                print(f"{method} seed {seed}: {steps} outer steps", flush=True)
    if "ship" in parts:  # not in the default parts: it writes under data/
        ship_smlmt_variant(tokenizer, args, Path("data/checkpoints/zh-smlmt-micro"))
    if "kshot" in parts:
        kshot_study(start, tokenizer, args, results, save)
    if "transfer" in parts:
        english = load_pretrained("mlm-micro", with_tokenizer=False)[0]
        results["transfer"] = transfer_runs(english, tokenizer, args,
                                            tuple(filter(wanted, ("english_body", "scratch"))))
        save()
    if "eval" in parts:
        n_fixed = args.episodes * (max(seeds) + 1)
        fixed = {"random": None, "mlm": start, "english_body": RUNS / "english_body", "scratch": RUNS / "scratch"}
        for name, source in fixed.items():
            if not wanted(name):
                continue
            entry = results["models"].setdefault(name, {})
            if entry.get("eval", {}).get("sent_k5", {}).get("n_episodes", 0) >= n_fixed:
                continue
            if name == "random":
                torch.manual_seed(0)
                model = BertEncoder(start.cfg).eval()
            elif isinstance(source, Path):
                if not (source / "model.pt").exists():
                    print(f"{name}: not trained; skipped", flush=True)
                    continue
                model = load_pretrained(source, with_tokenizer=False)[0]
            else:
                model = source
            t0 = time.perf_counter()
            entry["eval"] = evaluate(model, tokenizer, 0, n_fixed, args)
            print(f"{name:>14}: {time.perf_counter() - t0:.0f} s  " + "  ".join(
                f"{c}: {format_ci(r['mean'][-1], r['ci'][-1])}" for c, r in entry["eval"].items()), flush=True)
            save()
        bow = results["models"].setdefault("bow", {}) if wanted("bow") else None
        if bow is not None and bow.get("eval", {}).get("sent_k5", {}).get("n_episodes", 0) < n_fixed:
            bow["eval"] = {}
            for cell in ("sent_k1", "sent_k5"):
                values = [bag_of_words_accuracy(ep, analyzer="char") for ep in test_episodes(tokenizer, cell, 0, n_fixed)]
                mean, half = mean_ci(values)
                bow["eval"][cell] = {"steps": [0], "mean": [mean], "ci": [half], "per_episode": [[v] for v in values],
                                     "n_episodes": n_fixed, "first_episode": 0, "metric": "accuracy"}
            save()
        for method in filter(wanted, META):
            entry = results["models"].setdefault(method, {"seeds": {}})
            for seed in seeds:
                folder = RUNS / f"{method}-seed{seed}"
                if str(seed) in entry["seeds"] or not (folder / "model.pt").exists():
                    continue
                model, _, info = load_pretrained(folder, with_tokenizer=False)
                t0 = time.perf_counter()
                entry["seeds"][str(seed)] = {"eval": evaluate(model, tokenizer, seed * args.episodes, args.episodes,
                                                              args), "outer_steps": info["metrics"].get("outer_steps")}
                print(f"{method:>14} seed {seed}: {time.perf_counter() - t0:.0f} s  " + "  ".join(
                    f"{c}: {format_ci(r['mean'][-1], r['ci'][-1])}"
                    for c, r in entry["seeds"][str(seed)]["eval"].items()), flush=True)
                save()
    save()


if __name__ == "__main__":
    main()
