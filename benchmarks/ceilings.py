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
            results["run_seconds"] = previous.get("run_seconds", []) + (
                [previous["seconds_this_run"]] if "seconds_this_run" in previous else [])
            print(f"resuming from {out}", flush=True)
    suites = [s for s in args.suites.split(",") if s]
    wanted = None if args.encoders is None else set(args.encoders.split(","))
    cv_suites = {s for s in args.cv_suites.split(",") if s}
    t_all = time.perf_counter()
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
