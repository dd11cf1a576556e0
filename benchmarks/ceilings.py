"""Full-data ceilings: is the few-shot null of chapters 7 and 8 the features' fault, or the five examples'?

    OMP_NUM_THREADS=1 python benchmarks/ceilings.py --out benchmarks/results/ceilings.json \
        --meta-learners maml,fomaml,reptile,protonet   # ~6 min on 1 thread + 4 × 240 CPU-s of meta-training
    OMP_NUM_THREADS=1 python benchmarks/ceilings.py --quick        # smoke run (40 texts per class) -> runs/ceilings-quick.json

For every encoder and suite, a linear probe on the encoder's frozen mean-pooled features
(`metalearn_edu.ceilings.probe_accuracy`: logistic regression on standardised features, C chosen on
the validation split from ``--cs`` by balanced accuracy, refitted on the *whole* training split,
scored once on the test split), and per suite TF-IDF + logistic regression on the same texts and
splits (`tfidf_accuracy`: word unigrams for English, character 1–2-grams for Chinese). Texts are
those the few-shot episodes encode (`lead_text`, 64 tokens with [CLS]/[SEP]).

* English suites — BBC topics (5-way), movie-review sentiment (2-way), debate speakers (the four
  meta-test speakers Cooper / Kaine / Trump / Wallace, document-level `debate_splits` restricted to
  them, so train and test are disjoint statements): encoders ``random`` (the mlm-micro architecture,
  ``torch.manual_seed(0)``), ``mlm`` (``load_pretrained("mlm-micro")``), ``minilm``
  (``load_hf_bert(minilm_path())`` with its own tokenizer).
* Chinese review sentiment (2-way): ``random`` (the zh-mlm-micro shape, seed 0), ``mlm``
  (``zh-mlm-micro``), ``smlmt_fomaml`` (the shipped ``zh-smlmt-micro``), all with
  `load_chinese_tokenizer`.

Chapter 5's English meta-learned encoders (MAML, first-order MAML, Reptile, ProtoNet on SMLMT) are
not shipped. ``--meta-learners fomaml,protonet,...`` retrains seed 0 of each exactly as
``benchmarks/few_shot_text.py`` does (its `meta_train_copy`: from ``mlm-micro``, ``--budget`` CPU
seconds of SMLMT meta-training, default 240) into ``runs/ceilings/<method>-seed0`` (reused when there)
and probes it like the other encoders; these are new runs of the recipe, not the models whose
few-shot accuracy the stored study holds (that is the mean over three seeds). Those not run are listed
under ``not_run`` in the JSON.

The debates' test split is small (41 statements of the four speakers, two of them Cooper's), so for
the suites in ``--cv-suites`` (default: debates) the JSON also holds, under ``cv``, the same probe and
TF-IDF by ``--cv-folds``-fold stratified cross-validation over all of the suite's statements (train,
val and test together; each fold's C picked on the next fold; every statement tested once).

Every row keeps its test predictions (``predictions``; the suite's ``test_labels``, and for
cross-validation ``cv.labels``), so two encoders can be compared on the same items
(`metalearn_edu.studies.paired_ceiling`).

**Named entities** (``--ner``, chapter 8): the token-level counterpart. For each Chinese encoder, a
per-token logistic-regression tagger on its frozen last-layer features (`metalearn_edu.ceilings.token_features`,
the tokens the few-shot tagger sees, 64 per sentence), trained on the first ``--ner-train`` People's
Daily training sentences, C chosen on ``--ner-val`` validation sentences by entity F1, scored on every
test sentence by entity-level micro F1 on exact spans, like the few-shot tagger (`tagger_f1`). Beside
it, the same tagger on lexical character-window features (`window_features`: the characters at
offsets −2 … 2 and the pairs around each character), the NER counterpart of TF-IDF. To see whether the
probe is limited by its training sentences, the MLM encoder's probe is also trained on a quarter of
them (``learning``). Every tagger is also scored on the query sentences of each of chapter 8's test
episodes (``episodes``: one F1 per episode, the episodes ``benchmarks/chinese.py`` draws), so its F1
compares with the few-shot taggers' on exactly the same sentences. Stored under ``ner`` in the same JSON.

The JSON is written atomically (`metalearn_edu.checkpoint.save_json`) after every finished
(encoder, suite); a rerun with the same settings resumes and skips what it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

import numpy as np

from metalearn_edu.ceilings import C_GRID, ceiling_splits, cross_validated, pooled_features, probe_accuracy, tfidf_accuracy
from metalearn_edu.checkpoint import save_json

ENGLISH = ("bbc", "movies", "debates")
CHINESE = ("zh_sentiment",)
ENCODERS = {"en": ("random", "mlm", "minilm"), "zh": ("random", "mlm", "smlmt_fomaml")}
META = ("maml", "fomaml", "reptile", "protonet")
NOT_RUN = "chapter 5's meta-learned English encoder is not shipped; it would need retraining (240 CPU-s per seed) — left out"
RUNS = Path("runs/ceilings")


def meta_learner(method: str, start: Any, tokenizer: Any, budget: float) -> Any:
    """Seed 0 of chapter 5's `method` from `start`, trained as ``benchmarks/few_shot_text.py`` does (cached in runs/)."""
    import importlib.util

    from metalearn_edu.pretrained import export_model, load_pretrained

    folder = RUNS / f"{method}-seed0-budget{budget:g}"
    if (folder / "model.pt").exists():
        return load_pretrained(folder, with_tokenizer=False)[0]
    spec = importlib.util.spec_from_file_location("few_shot_text", Path(__file__).with_name("few_shot_text.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.environ.setdefault("METALEARN_CLOCK", "process")  # CPU-second budgets, as in chapter 5
    args = argparse.Namespace(budget=budget, inner_lr=0.05, outer_lr=1e-4, train_steps=3, quiet=True)
    model, train = module.meta_train_copy(method, start, tokenizer, 0, args)
    export_model(model, folder, metrics={"train": train["outer_steps"]})
    print(f"{method}: {train['outer_steps']} outer steps in {budget:g} CPU-s", flush=True)
    return model
KEYS = ("cs", "max_len", "pooling", "select_by", "subset", "stores_predictions")


def load_encoder(language: str, name: str, budget: float = 240) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) of one encoder of the study."""
    from metalearn_edu.model import BertEncoder
    from metalearn_edu.pretrained import load_pretrained

    if language == "en":
        from metalearn_edu.data import load_tokenizer, minilm_path
        from metalearn_edu.interop import load_hf_bert
        if name == "minilm":
            return load_hf_bert(minilm_path()).eval(), load_tokenizer("minilm")
        start, tokenizer, _ = load_pretrained("mlm-micro")
        if name in META:
            return meta_learner(name, start, tokenizer, budget).eval(), tokenizer
    else:
        from metalearn_edu.data.chinese import load_chinese_tokenizer
        tokenizer = load_chinese_tokenizer()
        start = load_pretrained("zh-smlmt-micro" if name == "smlmt_fomaml" else "zh-mlm-micro", with_tokenizer=False)[0]
        if start.cfg.vocab_size != len(tokenizer):
            raise ValueError(f"the Chinese checkpoint has {start.cfg.vocab_size} token embeddings but the Chinese "
                             f"tokenizer {len(tokenizer)} pieces")
    if name == "random":
        torch.manual_seed(0)
        return BertEncoder(start.cfg).eval(), tokenizer
    return start, tokenizer


def subset(split: tuple[list, list], n: int | None) -> tuple[list, list]:
    """The first `n` items of every class in turn (all when n is None), in their original order."""
    if n is None:
        return split
    texts, labels = split
    keep, seen = [], {}
    for i, y in enumerate(labels):
        if seen.get(y, 0) < n:
            keep.append(i)
            seen[y] = seen.get(y, 0) + 1
    return [texts[i] for i in keep], [labels[i] for i in keep]


def pooled(data: dict[str, Any]) -> tuple[list, list]:
    """Texts and labels of the train, val and test splits together (in that order), for cross-validation."""
    return ([t for split in ("train", "val", "test") for t in data[split][0]],
            [y for split in ("train", "val", "test") for y in data[split][1]])


def ner_ceilings(results: dict[str, Any], out: Path, args: argparse.Namespace) -> None:
    """The token-level ceilings of chapter 8 (``results["ner"]``), resumable per encoder."""
    from sklearn.feature_extraction import DictVectorizer

    from metalearn_edu.ceilings import NER_TAGS, f1_on_subsets, tagger_f1, token_features, window_features
    from metalearn_edu.data.chinese import load_chinese_tokenizer, peoples_daily_sentences
    from metalearn_edu.ner import NEREpisodes

    sizes = {"train": args.ner_train, "val": args.ner_val, "test": None}
    if args.quick:
        sizes, args.ner_episodes = {"train": 200, "val": 100, "test": 1000}, 3
    sentences = {s: peoples_daily_sentences(s)[:n] for s, n in sizes.items()}
    settings = {"train_sentences": len(sentences["train"]), "val_sentences": len(sentences["val"]),
                "test_sentences": len(sentences["test"]), "max_len": args.max_len, "probe_cs": list(NER_CS),
                "window_cs": list(WINDOW_CS), "tags": list(NER_TAGS),
                "train_split_sentences": len(peoples_daily_sentences("train"))}
    settings["episodes"] = {"cells": list(NER_CELLS), "n": args.ner_episodes, "sampler": NER_SAMPLER}
    entry = results.get("ner", {})
    if entry.get("settings") != settings:
        entry = {"settings": settings, "encoders": {}}
    results["ner"] = entry
    zh_tokenizer = load_chinese_tokenizer()
    queries = {cell: [NEREpisodes(sentences["test"], zh_tokenizer, 3, int(cell.split("_k")[1]), 5, max_len=64,
                                  seed=7).episode(i).info["query_ids"] for i in range(args.ner_episodes)]
               for cell in NER_CELLS}

    def on_episodes(row: dict[str, Any], labels: Any, lengths: list[int]) -> dict[str, list[float]]:
        """The tagger's F1 on each few-shot test episode's query sentences (as benchmarks/chinese.py draws them)."""
        predicted = row.pop("predictions")
        return {cell: f1_on_subsets(labels, predicted, lengths, subsets) for cell, subsets in queries.items()}
    if "window" not in entry:
        t0 = time.process_time()
        feats = {s: window_features(v, args.max_len) for s, v in sentences.items()}
        vectorizer = DictVectorizer()
        x_tr = vectorizer.fit_transform(feats["train"][0])
        splits = [(x_tr, *feats["train"][1:])] + [(vectorizer.transform(feats[s][0]), *feats[s][1:]) for s in ("val", "test")]
        row = tagger_f1(*splits, cs=WINDOW_CS, return_predictions=True)
        row["episodes"] = on_episodes(row, feats["test"][1], feats["test"][2])
        entry["window"] = {**row, "n_features": int(x_tr.shape[1]), "cpu_seconds": time.process_time() - t0}
        print(f"ner window tagger: F1 {entry['window']['f1']:.3f} ± {entry['window']['f1_ci']:.3f}", flush=True)
        save_json(out, results)
    for name in ENCODERS["zh"]:
        if name in entry["encoders"]:
            continue
        t0 = time.process_time()
        model, tokenizer = load_encoder("zh", name)
        feats = {s: token_features(model, tokenizer, v, args.max_len, args.batch_size) for s, v in sentences.items()}
        splits = [(f[0].numpy(), f[1], f[2]) for f in (feats["train"], feats["val"], feats["test"])]
        row = tagger_f1(*splits, cs=NER_CS, return_predictions=True)
        row["episodes"] = on_episodes(row, feats["test"][1], feats["test"][2])
        entry["encoders"][name] = {**row, "cpu_seconds": time.process_time() - t0}
        if name == "mlm":  # is the probe limited by its training sentences? the same with a quarter of them
            quarter = len(feats["train"][2]) // 4
            n_tokens = sum(feats["train"][2][:quarter])
            small = (splits[0][0][:n_tokens], splits[0][1][:n_tokens], splits[0][2][:quarter])
            entry["learning"] = {"mlm": {str(quarter): tagger_f1(small, *splits[1:], cs=NER_CS)}}
            print(f"ner probe mlm on {quarter} sentences: F1 {entry['learning']['mlm'][str(quarter)]['f1']:.3f}", flush=True)
        r = entry["encoders"][name]
        print(f"ner probe {name}: F1 {r['f1']:.3f} ± {r['f1_ci']:.3f} (C={r['c']:g}), {r['cpu_seconds']:.0f} CPU-s", flush=True)
        save_json(out, results)


NER_CS = (0.1, 1.0)
NER_CELLS = ("ner_k1", "ner_k5")
NER_SAMPLER = "NEREpisodes(test sentences, zh tokenizer, 3, K, 5, max_len=64, seed=7), episodes 0 … n − 1"
WINDOW_CS = (0.1, 1.0, 10.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suites", default=",".join(ENGLISH + CHINESE))
    p.add_argument("--encoders", default=None, help="only these encoder names (default: all of each language)")
    p.add_argument("--cs", type=float, nargs="+", default=list(C_GRID))
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--meta-learners", default="", help=f"also retrain and probe these of {META} (seed 0)")
    p.add_argument("--budget", type=float, default=240, help="CPU seconds of meta-training per --meta-learners method")
    p.add_argument("--cv-suites", default="debates", help="suites also scored by cross-validation ('' for none)")
    p.add_argument("--cv-folds", type=int, default=5)
    p.add_argument("--ner", action="store_true", help="also (or, with --suites '', only) the NER ceilings of chapter 8")
    p.add_argument("--ner-train", type=int, default=10000, help="People's Daily training sentences of the NER probes")
    p.add_argument("--ner-val", type=int, default=2000, help="validation sentences that choose C")
    p.add_argument("--ner-episodes", type=int, default=120,
                   help="few-shot test episodes per NER cell on whose query sentences the taggers are also scored "
                        "(chapter 8's study: 3 seeds × 40)")
    p.add_argument("--quick", action="store_true", help="40 texts per class and split, for a smoke run")
    p.add_argument("--out", default=None,
                   help="default benchmarks/results/ceilings.json (runs/ceilings-quick.json with --quick)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out or ("runs/ceilings-quick.json" if args.quick else "benchmarks/results/ceilings.json"))
    settings = {"cs": args.cs, "max_len": args.max_len, "pooling": "mean", "select_by": "balanced_accuracy",
                "subset": 40 if args.quick else None, "threads": args.threads, "stores_predictions": True,
                "probe": "LogisticRegression(lbfgs, L2) on standardised features, C by val balanced accuracy, "
                         "refit on train", "tfidf": "TfidfVectorizer(sublinear_tf) word unigrams (en) / char 1-2-grams (zh)"}
    meta = [m for m in args.meta_learners.split(",") if m]
    unknown = sorted(set(meta) - set(META))
    if unknown:
        raise SystemExit(f"--meta-learners: unknown {unknown}; choose from {META}")
    encoders = {"en": ENCODERS["en"] + tuple(meta), "zh": ENCODERS["zh"]}
    results: dict[str, Any] = {"settings": settings, "suites": {}, "partial": True}
    if out.exists():
        previous = json.loads(out.read_text())
        if all(previous.get("settings", {}).get(k) == settings[k] for k in KEYS):
            results["suites"] = previous.get("suites", {})
            if "ner" in previous:
                results["ner"] = previous["ner"]
            results["run_seconds"] = previous.get("run_seconds", []) + (
                [previous["seconds_this_run"]] if "seconds_this_run" in previous else [])
            print(f"resuming from {out}", flush=True)
    suites = [s for s in args.suites.split(",") if s]
    wanted = None if args.encoders is None else set(args.encoders.split(","))
    cv_suites = {s for s in args.cv_suites.split(",") if s}
    t_all = time.perf_counter()
    if args.ner:
        ner_ceilings(results, out, args)
    for language, names in encoders.items():
        mine = [s for s in suites if (s in CHINESE) == (language == "zh")]
        if not mine:
            continue
        data = {s: ceiling_splits(s, args.max_len) for s in mine}
        for s in mine:
            for split in ("train", "val", "test"):
                data[s][split] = subset(data[s][split], settings["subset"])
            entry = results["suites"].setdefault(s, {"encoders": {}})
            entry.update({"classes": data[s]["classes"], "chance": 1 / len(data[s]["classes"]),
                          "test_labels": list(data[s]["test"][1]),
                          **{f"n_{split}": len(data[s][split][1]) for split in ("train", "val", "test")}})
            if "tfidf" not in entry:
                t0 = time.perf_counter()
                entry["tfidf"] = tfidf_accuracy(data[s]["train"], data[s]["val"], data[s]["test"],
                                                analyzer="char" if language == "zh" else "word", cs=args.cs,
                                                return_predictions=True)
                entry["tfidf"]["seconds"] = time.perf_counter() - t0
                print(f"{s:>12} tfidf: balanced accuracy {entry['tfidf']['balanced_accuracy']:.3f} "
                      f"(accuracy {entry['tfidf']['accuracy']:.3f}, C={entry['tfidf']['c']:g})", flush=True)
                save_json(out, results)
            if s in cv_suites and entry.get("cv", {}).get("folds") != args.cv_folds:
                entry["cv"] = {"folds": args.cv_folds, "encoders": {}}  # none yet, or made with other folds
            if s in cv_suites:
                entry["cv"]["labels"] = pooled(data[s])[1]
            if s in cv_suites and "tfidf" not in entry["cv"]:
                texts, labels = pooled(data[s])
                entry["cv"]["tfidf"] = cross_validated(tfidf_accuracy, texts, labels, args.cv_folds,
                                                       analyzer="char" if language == "zh" else "word", cs=args.cs)
                print(f"{s:>12} tfidf, {args.cv_folds}-fold CV: balanced accuracy "
                      f"{entry['cv']['tfidf']['balanced_accuracy']:.3f}", flush=True)
                save_json(out, results)
        for name in names:
            if wanted is not None and name not in wanted:
                continue
            def missing(s: str) -> bool:
                entry = results["suites"][s]
                return name not in entry["encoders"] or (s in cv_suites and name not in entry["cv"]["encoders"])

            todo = [s for s in mine if missing(s)]
            if not todo:
                continue
            model, tokenizer = load_encoder(language, name, args.budget)
            for s in todo:
                entry = results["suites"][s]
                t0 = time.perf_counter()
                feats = {split: pooled_features(model, tokenizer, data[s][split][0], args.max_len, args.batch_size,
                                                progress=True, desc=f"{name} {s} {split}").numpy()
                         for split in ("train", "val", "test")}
                t_feat = time.perf_counter() - t0
                if name not in entry["encoders"]:
                    row = probe_accuracy(*((feats[split], data[s][split][1]) for split in ("train", "val", "test")),
                                         cs=args.cs, return_predictions=True)
                    row.update(seconds=time.perf_counter() - t0, feature_seconds=t_feat, dim=int(feats["train"].shape[1]))
                    entry["encoders"][name] = row
                    print(f"{s:>12} {name:>13}: balanced accuracy {row['balanced_accuracy']:.3f} ± "
                          f"{row['balanced_accuracy_ci']:.3f} (accuracy {row['accuracy']:.3f}, C={row['c']:g}), "
                          f"{row['seconds']:.0f} s", flush=True)
                if s in cv_suites and name not in entry["cv"]["encoders"]:
                    x = np.concatenate([feats[split] for split in ("train", "val", "test")])
                    entry["cv"]["encoders"][name] = cross_validated(probe_accuracy, x, pooled(data[s])[1],
                                                                    args.cv_folds, cs=args.cs)
                    print(f"{s:>12} {name:>13}, {args.cv_folds}-fold CV: balanced accuracy "
                          f"{entry['cv']['encoders'][name]['balanced_accuracy']:.3f} ± "
                          f"{entry['cv']['encoders'][name]['balanced_accuracy_ci']:.3f}", flush=True)
                save_json(out, results)
    done_meta = [m for m in META if all(m in results["suites"].get(s, {}).get("encoders", {}) for s in ENGLISH)]
    results["not_run"] = {m: NOT_RUN for m in META if m not in done_meta}
    results["meta_learners"] = {m: f"seed 0 retrained here ({args.budget:g} CPU-s of chapter 5's recipe), not the "
                                   "stored study's models" for m in done_meta}
    expected = {s: ENCODERS["zh" if s in CHINESE else "en"] for s in ENGLISH + CHINESE}
    results["partial"] = any(name not in results["suites"].get(s, {}).get("encoders", {})
                             for s, names in expected.items() for name in names) or any(
        name not in results["suites"].get(s, {}).get("cv", {}).get("encoders", {}) for s in cv_suites
        for name in expected.get(s, ()))
    results["run_seconds"] = results.get("run_seconds", []) + [time.perf_counter() - t_all]
    save_json(out, results)
    print(f"done in {results['run_seconds'][-1]:.0f} s (wall clock of every run so far: "
          f"{sum(results['run_seconds']):.0f} s) -> {out}" + (" (partial)" if results["partial"] else ""))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
