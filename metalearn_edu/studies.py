"""The course's measured studies: where their results live, and the summaries chapters and README quote.

Each study is a script in ``benchmarks/`` that writes a JSON file to ``benchmarks/results/``. The
chapters read those files through this module, and the README's result tables are generated
from them (`readme_tables`; ``tests/test_readme.py`` fails when the README and the JSON disagree),
so a number quoted anywhere is computed from the stored results, never typed.

* `few_shot_table`: chapter 5's table — every model on both suites and K, mean over meta-training
  seeds, and the paired difference from the MLM start (`metalearn_edu.analysis.seed_ci`).
* `equal_compute_table`: chapter 6's λ sweep — final MLM loss and accuracies per λ over seeds, and
  the measured points along each run's budget.
* `cross_domain_table`, `kshot_table`, `crossing_point`, `paired_between`: chapter 7 — the same
  models on movie reviews and debates, the low-resource curve, and two trained models compared
  seed by seed.
* `ceilings_table`, `ceiling_comparison`, `paired_ceiling`: chapters 7 and 8 — a linear probe on each encoder's frozen
  features and TF-IDF, trained on a suite's whole training split, against the same encoders' K-shot
  accuracy (``benchmarks/ceilings.py``).
* `power_table`: for every paired comparison, the smallest difference the study could detect and
  what a study that detects a given effect would need (`metalearn_edu.power`).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from .analysis import format_ci, mean_ci, seed_ci
from .data import DATA_DIR

RESULTS_DIR = DATA_DIR.parent / "benchmarks" / "results"
CELLS = ("smlmt_k1", "smlmt_k5", "bbc_k1", "bbc_k5")
CELL_TITLES = {"smlmt_k1": "SMLMT 1-shot", "smlmt_k5": "SMLMT 5-shot", "bbc_k1": "BBC 1-shot", "bbc_k5": "BBC 5-shot"}
MODEL_NAMES = {"bow": "bag of words", "random": "random init", "mlm": "MLM (mlm-micro)", "maml": "MLM + MAML",
               "fomaml": "MLM + first-order MAML", "reptile": "MLM + Reptile", "protonet": "MLM + ProtoNet",
               "minilm": "MiniLM (step 0)", "lambda=0": "more MLM (λ = 0)", "lambda=0.5": "hybrid (λ = 0.5)",
               "lambda=1": "SMLMT only (λ = 1)", "hybrid_smlmt": "Hybrid-SMLMT (SMLMT + BBC tasks)"}
FEW_SHOT_CONTROLS = ("maml_all", "fomaml_all", "reptile_all", "fomaml_steps", "anil")
MODEL_NAMES.update({"maml_all": "MLM + MAML, every parameter adapts", "fomaml_all": "MLM + first-order MAML, every parameter adapts",
                    "reptile_all": "MLM + Reptile, every parameter adapts",
                    "fomaml_steps": "MLM + first-order MAML, MAML's outer steps", "anil": "MLM + ANIL (head-only inner loop)"})
# chapter 5's like-for-like comparisons: (name, a, b, what is held equal)
LIKE_FOR_LIKE = (("Reptile: every parameter − top block", "reptile_all", "reptile", "CPU time"),
                 ("first-order MAML: every parameter − top block", "fomaml_all", "fomaml", "CPU time"),
                 ("MAML: every parameter − top block", "maml_all", "maml", "CPU time"),
                 ("first-order − second-order MAML, equal time", "fomaml", "maml", "CPU time"),
                 ("first-order − second-order MAML, equal steps", "fomaml_steps", "maml", "outer steps"),
                 ("ANIL (head inner loop) − MAML (top block)", "anil", "maml", "CPU time"))
DOMAIN_CELLS = ("movies_k1", "movies_k5", "debates_k1", "debates_k5")
CHINESE_CELLS = ("ner_k1", "ner_k5", "sent_k1", "sent_k5")
CELL_TITLES_ZH = {"ner_k1": "NER 3-way 1-shot (F1)", "ner_k5": "NER 3-way 5-shot (F1)",
                  "sent_k1": "sentiment 1-shot", "sent_k5": "sentiment 5-shot"}
CHINESE_NAMES = {"bow": "character bag of words", "random": "random init", "mlm": "Chinese MLM (zh-mlm-micro)",
                 "english_body": "English body + new Chinese embeddings", "scratch": "Chinese from scratch (same time)",
                 "ner_fomaml": "MLM + first-order MAML on NER", "ner_maml": "MLM + MAML on NER",
                 "ner_protonet": "MLM + prototypical tagger on NER", "smlmt_fomaml": "MLM + first-order MAML on SMLMT"}
CELL_TITLES.update({"movies_k1": "movies 1-shot", "movies_k5": "movies 5-shot", "debates_k1": "debates 1-shot",
                    "debates_k5": "debates 5-shot"})
KSHOT_NAMES = {"tfidf": "TF-IDF + logistic regression", "linear_probe": "linear probe (frozen MLM)",
               "prototype_head": "prototype head (MLM, step 0)", "mlm_protocol": "MLM, top block + head",
               "finetune_all": "MLM, whole encoder fine-tuned", "protonet_protocol": "ProtoNet init, top block + head",
               "fomaml_protocol": "first-order MAML init, top block + head"}


def load_study(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The JSON of study `name` (e.g. ``"few_shot_text"``) from ``benchmarks/results/``."""
    path = Path(folder or RESULTS_DIR) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}; run `python benchmarks/{name}.py --out {path}`")
    return json.loads(path.read_text(encoding="utf-8"))


def _last_step(curve: dict[str, Any], first: int, size: int) -> list[float]:
    start = first - curve.get("first_episode", 0)
    return [row[-1] for row in curve["per_episode"][start:start + size]]


def _cell_blocks(study: dict[str, Any], entry: dict[str, Any], cell: str) -> dict[int, list[float]]:
    """Seed -> the per-episode values (last test step) of one model on one cell. A model trained once
    per seed was scored on seed s's block of episodes; an untrained model (``eval`` only) was scored
    on every block, and is cut into them (block s: episodes s·E … s·E + E − 1)."""
    size, seeds = study["settings"]["episodes"], study["settings"]["seeds"]
    if "seeds" in entry:
        return {s: [r[-1] for r in entry["seeds"][str(s)]["eval"][cell]["per_episode"]]
                for s in seeds if str(s) in entry["seeds"] and cell in entry["seeds"][str(s)]["eval"]}
    if cell not in entry.get("eval", {}):
        return {}  # e.g. a bag of words has no NER cell
    return {s: _last_step(entry["eval"][cell], s * size, size) for s in seeds}


def few_shot_table(study: dict[str, Any], cells: tuple[str, ...] = CELLS,
                   controls: bool = False) -> dict[str, dict[str, dict[str, Any]]]:
    """Method -> cell -> ``mean``, ``half`` (over seeds), and ``diff``/``diff_half``/``diff_per_seed``
    (paired with the MLM start on each seed's episodes), ``steps`` (outer steps per seed, when the
    study recorded them). Methods with fewer than two finished seeds are left out, and so are chapter
    5's control runs (`FEW_SHOT_CONTROLS`, compared in `like_for_like_table`) unless `controls`."""
    seeds = study["settings"]["seeds"]
    models = study["models"]
    mlm = {c: _cell_blocks(study, models["mlm"], c) for c in cells}
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for method, entry in models.items():
        if method in FEW_SHOT_CONTROLS and not controls:
            continue
        rows: dict[str, dict[str, Any]] = {}
        trained = "seeds" in entry
        done = [s for s in seeds if str(s) in entry.get("seeds", {})] if trained else seeds
        if len(done) < 2:
            continue
        for cell in cells:
            blocks = _cell_blocks(study, entry, cell)
            if len(blocks) < len(done):
                continue  # a seed (or the whole model) has no result on this cell
            per_seed = [blocks[s] for s in done]
            mean, half, values = seed_ci(per_seed)
            row: dict[str, Any] = {"mean": mean, "half": half, "per_seed": values}
            if method != "mlm":
                d, dh, dv = seed_ci(per_seed, [mlm[cell][s] for s in done])
                row.update(diff=d, diff_half=dh, diff_per_seed=dv)
            rows[cell] = row
        if trained and all("train" in entry["seeds"][str(s)] for s in done):
            rows["steps"] = {"per_seed": [entry["seeds"][str(s)]["train"]["outer_steps"] for s in done]}
        table[method] = rows
    return table


def paired_episode_differences(study: dict[str, Any], method: str, cell: str, reference: str = "mlm"
                                ) -> list[list[float]]:
    """Per seed, the per-episode differences `method` − `reference` on that seed's episodes (the
    values behind `few_shot_table`'s ``diff``; blocks as in `_cell_blocks`)."""
    a = _cell_blocks(study, study["models"][method], cell)
    b = _cell_blocks(study, study["models"][reference], cell)
    return [[x - y for x, y in zip(a[s], b[s])] for s in study["settings"]["seeds"] if s in a and s in b]


def power_table(study: dict[str, Any], cells: tuple[str, ...], effect: float = 0.02, reference: str = "mlm",
                alpha: float = 0.05, power: float = 0.8) -> dict[str, dict[str, dict[str, Any]]]:
    """What the study could detect, per group of models and cell (`metalearn_edu.power`).

    The groups: ``"trained"`` (models trained once per seed: training noise and episodes) and
    ``"fixed"`` (models that are not trained, cut into the same blocks of episodes: episodes only).
    A standard deviation from 3 seeds is too uncertain to use model by model (its 95% interval
    spans a factor of about 12), so the spread is pooled over the models of a group, which share
    the design. Group -> cell -> ``models``, ``seeds``, ``episodes``, and

    * ``seed_sd``: the pooled standard deviation of the per-seed differences (what the intervals use);
    * ``mdd``: the smallest difference the design detects with `power` at level `alpha`;
    * ``seeds_needed``: seeds (each on the same number of episodes) that would detect `effect`;
    * ``episode_sd``: the pooled spread of single episodes' differences within a seed, and
      ``iid_seed_sd`` = episode_sd / √episodes: what ``seed_sd`` would be if a seed's episodes were
      independent draws and training added no spread; ``episodes_needed``: episodes per seed that
      would detect `effect` with the same seeds under that assumption.
    """
    from .power import detectable_difference, episodes_needed, units_needed

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for group in ("trained", "fixed"):
        members = [m for m, e in study["models"].items()
                   if m != reference and m not in FEW_SHOT_CONTROLS and ("seeds" in e) == (group == "trained")]
        for cell in cells:
            seed_vars, episode_vars, used, shape = [], [], [], None
            for method in members:
                per_seed = paired_episode_differences(study, method, cell, reference)
                if len(per_seed) < 2:
                    continue
                used.append(method)
                shape = (len(per_seed), len(per_seed[0]))
                seed_vars.append(statistics.variance([math.fsum(v) / len(v) for v in per_seed]))
                episode_vars += [statistics.variance(v) for v in per_seed]
            if not used:
                continue
            n_seeds, n_episodes = shape
            seed_sd = math.sqrt(math.fsum(seed_vars) / len(seed_vars))
            episode_sd = math.sqrt(math.fsum(episode_vars) / len(episode_vars))
            out.setdefault(group, {})[cell] = {
                "models": used, "seeds": n_seeds, "episodes": n_episodes, "seed_sd": seed_sd,
                "mdd": detectable_difference(seed_sd, n_seeds, alpha, power),
                "seeds_needed": units_needed(effect, seed_sd, alpha, power),
                "episode_sd": episode_sd, "iid_seed_sd": episode_sd / math.sqrt(n_episodes),
                "episodes_needed": episodes_needed(effect, episode_sd, n_seeds, alpha, power)}
    return out


def detectable_view(table: dict[str, dict[str, dict[str, Any]]], power_rows: dict[str, dict[str, dict[str, Any]]],
                    cells: tuple[str, ...]) -> dict[str, dict[str, dict[str, float]]]:
    """What `viz.plot_detectable` draws: model -> cell -> ``mdd`` (its group's, from `power_table`), ``diff`` and
    ``diff_half`` (from a study table such as `few_shot_table`), for every model that `power_rows` pooled."""
    group_of = {m: g for g, rows in power_rows.items() for r in rows.values() for m in r["models"]}
    return {m: {c: {"mdd": power_rows[group_of[m]][c]["mdd"], "diff": r[c]["diff"], "diff_half": r[c]["diff_half"]}
                for c in cells if c in r and "diff" in r[c] and c in power_rows[group_of[m]]}
            for m, r in table.items() if m in group_of}


def chinese_table(study: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Chapter 8's table: `few_shot_table` on the NER (entity F1) and sentiment (accuracy) cells."""
    return few_shot_table(study, CHINESE_CELLS)


def paired_fixed(study: dict[str, Any], a: str, b: str, cells: tuple[str, ...] = CHINESE_CELLS
                 ) -> dict[str, dict[str, Any]]:
    """Two untrained-per-seed models (each one run) on the same episodes: cell -> paired ``diff``/``diff_half``
    over every episode both were tested on, and ``n`` (a t-interval over episodes: it covers the episodes'
    variance, not that of the runs that made the two models)."""
    from .analysis import paired_ci

    ea, eb = study["models"][a]["eval"], study["models"][b]["eval"]
    out = {}
    for cell in cells:
        if cell not in ea or cell not in eb:
            continue
        va, vb = [r[-1] for r in ea[cell]["per_episode"]], [r[-1] for r in eb[cell]["per_episode"]]
        n = min(len(va), len(vb))
        d, dh = paired_ci(va[:n], vb[:n])
        out[cell] = {"diff": d, "diff_half": dh, "n": n}
    return out


def chinese_markdown(study: dict[str, Any]) -> str:
    """Chapter 8's table as Markdown."""
    table = chinese_table(study)
    s = study["settings"]
    lines = ["| model | " + " | ".join(CELL_TITLES_ZH[c] for c in CHINESE_CELLS) + " |",
             "|---|" + "---:|" * len(CHINESE_CELLS)]
    for method, rows in table.items():
        cells = []
        for c in CHINESE_CELLS:
            if c not in rows:
                cells.append("—")
                continue
            r = rows[c]
            cell = format_ci(r["mean"], r["half"])
            if "diff" in r:
                cell += f" (Δ {r['diff']:+.3f} ± {r['diff_half']:.3f})"
            cells.append(cell)
        lines.append(f"| {CHINESE_NAMES.get(method, method)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"People's Daily NER: entity-level micro F1 with exact spans, 3-way (PER/LOC/ORG) episodes of test "
                 f"sentences; reviews: 2-way sentiment accuracy. After {s['test_steps']} test-time steps (bag of words: "
                 f"step 0); mean over {len(s['seeds'])} seeds, each tested on its own {s['episodes']} episodes per cell, "
                 "± the 95% t-interval over seeds; Δ: paired difference from the Chinese MLM start.")
    transfer = study.get("transfer", {})
    if transfer:
        lines.append("")
        lines.append("| body | steps in the budget | trainable parameters | held-out MLM loss (unigram) |")
        lines.append("|---|---:|---:|---:|")
        for name in ("english_body", "scratch"):
            t = transfer.get(name)
            if t:
                lines.append(f"| {CHINESE_NAMES[name]} | {t['steps']:,} | {t['trainable_parameters']:,} | "
                             f"{t['loss']:.3f} ({t['unigram_loss']:.3f}) |")
    return "\n".join(lines)


def difference_curves(study: dict[str, Any], cell: str) -> dict[str, dict[str, list[float]]]:
    """Per trained method, the paired difference from the MLM start after each test-time step.

    Returns:
        method -> ``{"steps", "mean", "ci"}`` (mean over seeds and the t-interval over seeds, per step), the
        form `viz.plot_adaptation` draws: the gaps a table of final accuracies hides, on a zoomed axis.
    """
    size, seeds = study["settings"]["episodes"], study["settings"]["seeds"]
    start = study["models"]["mlm"]["eval"][cell]
    out = {}
    for method, entry in study["models"].items():
        done = [s for s in seeds if str(s) in entry.get("seeds", {})]
        if len(done) < 2 or method in FEW_SHOT_CONTROLS:
            continue
        rows = [entry["seeds"][str(s)]["eval"][cell]["per_episode"] for s in done]
        n_steps = len(rows[0][0])
        means, halves = [], []
        for j in range(n_steps):
            base = []
            for s in done:
                first = s * size - start.get("first_episode", 0)
                base.append([r[j] for r in start["per_episode"][first:first + size]])
            d, h, _ = seed_ci([[r[j] for r in per] for per in rows], base)
            means.append(d)
            halves.append(h)
        out[method] = {"steps": list(range(n_steps)), "mean": means, "ci": halves}
    return out


def cross_domain_table(study: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Chapter 7's table: `few_shot_table` on the movie-review and debate cells."""
    return few_shot_table(study, DOMAIN_CELLS)


def paired_between(study: dict[str, Any], a: str, b: str, cells: tuple[str, ...] = DOMAIN_CELLS
                   ) -> dict[str, dict[str, Any]]:
    """Two trained models compared seed by seed: seed s of both was tested on the same episodes, so
    mean(a_s) − mean(b_s) is a paired difference per seed; cell -> ``diff``, ``diff_half``, ``per_seed``."""
    ea, eb = study["models"][a]["seeds"], study["models"][b]["seeds"]
    seeds = [s for s in study["settings"]["seeds"] if str(s) in ea and str(s) in eb]
    if len(seeds) < 2:
        raise ValueError(f"{a} and {b} share {len(seeds)} finished seed(s); a paired interval needs at least 2")
    out = {}
    for cell in cells:
        per_a = [[r[-1] for r in ea[str(s)]["eval"][cell]["per_episode"]] for s in seeds]
        per_b = [[r[-1] for r in eb[str(s)]["eval"][cell]["per_episode"]] for s in seeds]
        d, dh, dv = seed_ci(per_a, per_b)
        out[cell] = {"diff": d, "diff_half": dh, "per_seed": dv, "seeds": seeds}
    return out


def kshot_table(study: dict[str, Any], reference: str = "finetune_all") -> dict[str, dict[str, Any]]:
    """The low-resource curve: method -> ``k``, ``mean``, ``half`` (over episodes) and ``diff``/``diff_half``
    (paired with `reference` on the same episodes), one entry per K that every method finished."""
    from .analysis import mean_ci, paired_ci

    rows = study.get("kshot", {})
    ks = sorted(int(k) for k, r in rows.items() if r.get("done"))
    methods = [m for m in rows[str(ks[0])] if isinstance(rows[str(ks[0])][m], list)] if ks else []
    out: dict[str, dict[str, Any]] = {}
    for m in methods:
        entry: dict[str, Any] = {"k": [], "mean": [], "half": [], "diff": [], "diff_half": []}
        for k in ks:
            values, ref = rows[str(k)].get(m), rows[str(k)][reference]
            if values is None:
                continue
            mean, half = mean_ci(values)
            d, dh = (0.0, 0.0) if m == reference else paired_ci(values, ref)
            for key, v in zip(("k", "mean", "half", "diff", "diff_half"), (k, mean, half, d, dh)):
                entry[key].append(v)
        out[m] = entry
    return out


def verdict(diff: float, half: float) -> str:
    """``"higher"``, ``"lower"`` or ``"no measurable difference"``: whether the interval diff ± half excludes 0."""
    if diff - half > 0:
        return "higher"
    if diff + half < 0:
        return "lower"
    return "no measurable difference"


def describe(diff: float, half: float, digits: int = 3, unit: str = "") -> str:
    """A paired difference in words, e.g. ``"+0.021 ± 0.015 (higher)"`` or ``"−0.004 ± 0.020 (no measurable
    difference)"``: what the prose of a chapter quotes, computed rather than typed.

    Example:
        >>> describe(0.021, 0.015)
        '+0.021 ± 0.015 (higher)'
    """
    return f"{diff:+.{digits}f}{unit} ± {half:.{digits}f}{unit} ({verdict(diff, half)})"


def verdicts(table: dict[str, dict[str, dict[str, Any]]], cells: tuple[str, ...], reference: str = "mlm"
             ) -> dict[str, dict[str, str]]:
    """`verdict` of every model's paired difference from `reference`, per cell (cells without one are left out).

    Example:
        >>> verdicts({"mlm": {"a": {"mean": 0.5}}, "x": {"a": {"mean": 0.6, "diff": 0.1, "diff_half": 0.05}}}, ("a",))
        {'x': {'a': 'higher'}}
    """
    return {name: {c: verdict(rows[c]["diff"], rows[c]["diff_half"]) for c in cells if "diff" in rows.get(c, {})}
            for name, rows in table.items() if name != reference}


def difference_findings(table: dict[str, dict[str, dict[str, Any]]], cells: tuple[str, ...], titles: dict[str, str],
                        names: dict[str, str], reference: str = "mlm") -> list[str]:
    """One Markdown bullet per model: its paired difference from `reference` on every cell, in words
    (`describe`); what chapters 7 and 8 print as "what the study shows"."""
    lines = []
    for name, rows in table.items():
        if name == reference:
            continue
        said = "; ".join(f"{titles[c]} {describe(rows[c]['diff'], rows[c]['diff_half'])}"
                         for c in cells if "diff" in rows.get(c, {}))
        lines.append(f"* **{names.get(name, name)}** vs the MLM start: {said}.")
    return lines


def crossing_point(k: list[int], diff: list[float]) -> float | None:
    """Where a paired-difference curve over K first changes sign, interpolated linearly in log₂ K.

    K's where the difference is exactly 0 (a tie: e.g. two methods that coincide at K = 1) are
    skipped; the crossing lies between the last non-zero value and the first one of the opposite sign.

    Returns:
        None when the sign never changes, else the K (a float) at which the curve crosses zero.

    Example:
        >>> crossing_point([1, 2, 4, 8], [0.05, 0.02, -0.02, -0.04])
        2.828...
        >>> crossing_point([1, 2, 4], [0.0, -0.01, -0.03]) is None
        True
    """
    import math

    last = None  # index of the last non-zero difference
    for i, d in enumerate(diff):
        if d == 0:
            continue
        if last is not None and (d > 0) != (diff[last] > 0):
            a, b = diff[last], d
            la, lb = math.log2(k[last]), math.log2(k[i])
            return 2 ** (la + (lb - la) * a / (a - b))
        last = i
    return None


def equal_compute_table(study: dict[str, Any], learner: str = "fomaml") -> dict[str, dict[str, Any]]:
    """λ (as text) -> ``mlm_loss`` and every cell over seeds (with the paired difference from the start),
    ``steps``/``tokens`` per seed, and ``curve``: per seed, the seconds, MLM losses and step-0 accuracies
    of the measured points. `learner`: the meta term's (``"protonet"``: the runs named ``protonet/…``)."""
    size, seeds, weights = (study["settings"][k] for k in ("episodes", "seeds", "weights"))
    start, runs = study["start"], study["runs"]
    prefix = "" if learner == "fomaml" else f"{learner}/"
    out: dict[str, dict[str, Any]] = {}
    for weight in weights:
        finished = []
        for s in seeds:
            points = runs.get(f"{prefix}lambda={weight:g}/seed={s}", {}).get("points", [])
            if points and points[-1].get("final"):
                finished.append((s, points))
        if len(finished) < 2:
            continue
        row: dict[str, Any] = {"seeds": [s for s, _ in finished]}
        mean, half, values = seed_ci([[pts[-1]["eval"]["mlm"]["loss"]] for _, pts in finished])
        d, dh, dv = seed_ci([[pts[-1]["eval"]["mlm"]["loss"]] for _, pts in finished],
                            [[start["mlm"]["loss"]] for _ in finished])
        row["mlm_loss"] = {"mean": mean, "half": half, "per_seed": values, "diff": d, "diff_half": dh}
        for cell in CELLS:
            per_seed = [[r[-1] for r in pts[-1]["eval"][cell]["per_episode"]] for _, pts in finished]
            base = [_last_step(start[cell], s * size, size) for s, _ in finished]
            mean, half, values = seed_ci(per_seed)
            d, dh, dv = seed_ci(per_seed, base)
            row[cell] = {"mean": mean, "half": half, "per_seed": values, "diff": d, "diff_half": dh,
                         "diff_per_seed": dv}
        row["steps"] = [pts[-1]["steps"] for _, pts in finished]
        row["tokens"] = [pts[-1]["tokens"] for _, pts in finished]
        row["curve"] = {
            "seconds": [[0.0] + [p["seconds"] for p in pts] for _, pts in finished],
            "mlm_loss": [[start["mlm"]["loss"]] + [p["eval"]["mlm"]["loss"] for p in pts] for _, pts in finished],
            **{cell: [[_mean(_step0(start[cell], s * size, len(pts[0]["eval"][cell]["per_episode"])))]
                      + [_mean([r[0] for r in p["eval"][cell]["per_episode"]]) for p in pts] for s, pts in finished]
               for cell in ("smlmt_k5", "bbc_k5")},
        }
        out[f"{weight:g}"] = row
    return out


def _step0(curve: dict[str, Any], first: int, size: int) -> list[float]:
    start = first - curve.get("first_episode", 0)
    return [row[0] for row in curve["per_episode"][start:start + size]]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


# ---------------------------------------------------------------------------------------
# README tables
# ---------------------------------------------------------------------------------------
def few_shot_markdown(study: dict[str, Any]) -> str:
    """Chapter 5's table as Markdown (the README quotes it verbatim); the controls have their own table."""
    table = few_shot_table(study)
    s = study["settings"]
    lines = ["| model | outer steps (per seed) | " + " | ".join(CELL_TITLES[c] for c in CELLS) + " |",
             "|---|---:|" + "---:|" * len(CELLS)]
    for method, rows in table.items():
        steps = ", ".join(f"{n:,}" for n in rows["steps"]["per_seed"]) if "steps" in rows else "—"
        cells = []
        for c in CELLS:
            r = rows[c]
            cell = format_ci(r["mean"], r["half"])
            if "diff" in r:
                cell += f" (Δ {r['diff']:+.3f} ± {r['diff_half']:.3f})"
            cells.append(cell)
        lines.append(f"| {MODEL_NAMES.get(method, method)} | {steps} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Accuracy after {s['test_steps']} test-time steps (bag of words and MiniLM: step 0); mean over "
                 f"{len(s['seeds'])} seeds, each tested on its own {s['episodes']} episodes per cell, ± the 95% "
                 "t-interval over seeds; Δ: paired difference from the MLM start on the same episodes. Outer "
                 "steps: the last step the run recorded (it logged every 5th, so a run took up to 4 more).")
    return "\n".join(lines)


def like_for_like_table(study: dict[str, Any]) -> list[dict[str, Any]]:
    """Chapter 5's controlled comparisons (`LIKE_FOR_LIKE`) that the study holds: one row each with
    ``name``, ``a``, ``b``, ``equal`` (what the two runs share), ``steps`` (outer steps per seed of a and b)
    and, per cell, `paired_between`'s ``diff``/``diff_half``/``per_seed`` (seed s of both on the same episodes)."""
    rows = []
    for name, a, b, equal in LIKE_FOR_LIKE:
        models = study["models"]
        if a not in models or b not in models:
            continue
        try:
            cells = paired_between(study, a, b, CELLS)
        except ValueError:
            continue  # fewer than two shared seeds
        seeds = cells[CELLS[0]]["seeds"]
        steps = {m: [models[m]["seeds"][str(s)]["train"]["outer_steps"] for s in seeds] for m in (a, b)}
        rows.append({"name": name, "a": a, "b": b, "equal": equal, "steps": steps, **cells})
    return rows


def like_for_like_markdown(study: dict[str, Any]) -> str:
    """`like_for_like_table` as Markdown."""
    lines = ["| comparison (held equal) | outer steps a / b | " + " | ".join(CELL_TITLES[c] for c in CELLS) + " |",
             "|---|---:|" + "---:|" * len(CELLS)]
    for row in like_for_like_table(study):
        steps = " / ".join(", ".join(str(n) for n in row["steps"][m]) for m in (row["a"], row["b"]))
        lines.append(f"| {row['name']} ({row['equal']}) | {steps} | "
                     + " | ".join(f"{row[c]['diff']:+.3f} ± {row[c]['diff_half']:.3f}" for c in CELLS) + " |")
    lines.append("")
    lines.append("Paired difference a − b in accuracy after the test protocol, seed s of both on seed s's episodes; "
                 "± the 95% t-interval over seeds.")
    return "\n".join(lines)


FEATURE_REUSE_SETS = {"head": "head only", "top1": "top block + head", "all": "every parameter (α)",
                      "all@0.1α": "every parameter (α / 10)"}


def feature_reuse_table(study: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Start -> cell -> adapted set -> accuracy after the last test step (mean over seeds ± t-interval,
    ``diff``/``diff_half``: paired with the top-block protocol on the same episodes), and ``step0``; plus
    ``cka`` -> cell -> ``mean``/``half`` per layer over seeds (each seed's mean over its episodes, the
    t-interval over seeds) and ``per_seed`` (S, L + 1)."""
    out: dict[str, dict[str, Any]] = {}
    for start, per_seed in study["starts"].items():
        seeds = sorted(per_seed, key=int)
        if len(seeds) < 2:
            continue
        row: dict[str, Any] = {"seeds": [int(s) for s in seeds], "cka": {}}
        for cell in ("smlmt_k5", "bbc_k5"):
            if not all(cell in per_seed[s] for s in seeds):
                continue
            entry: dict[str, Any] = {}
            for setting in FEATURE_REUSE_SETS:
                if not all(setting in per_seed[s][cell] for s in seeds):
                    continue  # e.g. every parameter at the full α, measured on the MLM start only
                values = [[r[-1] for r in per_seed[s][cell][setting]] for s in seeds]
                base = [[r[-1] for r in per_seed[s][cell]["top1"]] for s in seeds]
                mean, half, _ = seed_ci(values)
                d, dh, _ = seed_ci(values, base)
                entry[setting] = {"mean": mean, "half": half, "diff": d, "diff_half": dh,
                                  "curve": [_mean([_mean([r[j] for r in per_seed[s][cell][setting]]) for s in seeds])
                                            for j in range(len(per_seed[seeds[0]][cell][setting][0]))]}
            entry["step0"] = seed_ci([[r[0] for r in per_seed[s][cell]["top1"]] for s in seeds])[0]
            row[cell] = entry
            layers = len(per_seed[seeds[0]][cell]["cka"][0])
            by_seed = [[_mean([r[j] for r in per_seed[s][cell]["cka"]]) for j in range(layers)] for s in seeds]
            per_layer = [seed_ci([[v[j]] for v in by_seed])[:2] for j in range(layers)]
            row["cka"][cell] = {"mean": [m for m, _ in per_layer], "half": [h for _, h in per_layer],
                                "per_seed": by_seed}
        out[start] = row
    return out


def feature_reuse_markdown(study: dict[str, Any]) -> str:
    """`feature_reuse_table` as Markdown: accuracy per start, cell and adapted set, and the top layer's CKA."""
    lines = ["| start | cell | " + " | ".join(FEATURE_REUSE_SETS.values()) + " | CKA of the top block |",
             "|---|---|" + "---:|" * (len(FEATURE_REUSE_SETS) + 1)]
    for start, row in feature_reuse_table(study).items():
        for cell in ("smlmt_k5", "bbc_k5"):
            if cell not in row:
                continue
            cka = row["cka"][cell]
            lines.append(f"| {MODEL_NAMES.get(start, start)} | {CELL_TITLES[cell]} | "
                         + " | ".join(format_ci(row[cell][k]["mean"], row[cell][k]["half"]) if k in row[cell] else "—"
                                      for k in FEATURE_REUSE_SETS)
                         + f" | {format_ci(cka['mean'][-1], cka['half'][-1])} |")
    s = study["settings"]
    lines.append("")
    lines.append(f"Accuracy after {s['test_steps']} test-time steps moving only the named set (α = {s['inner_lr']}, or "
                 f"α / 10), mean over {len(s['seeds'])} seeds × the first {s['episodes']} episodes of each seed's "
                 f"block ± the t-interval over seeds; CKA: top block's query features before vs after 5 steps on "
                 f"every parameter (α / 10), {s['cka_episodes']} episodes per seed.")
    return "\n".join(lines)


def memorisation_markdown(study: dict[str, Any]) -> str:
    """The end of `memorisation_curves` as Markdown, with the paired fixed − shuffled difference."""
    curves = memorisation_curves(study)
    kinds = {"train": "meta-training episodes", "held_out": "new articles", "new_order": "new label order",
             "swapped": "another episode's support"}
    lines = ["| scored on | fixed labels | shuffled labels | fixed − shuffled |", "|---|---:|---:|---:|"]
    for kind, title in kinds.items():
        d = memorisation_difference(study, kind)
        f, sh = curves["fixed"][kind], curves["shuffled"][kind]
        lines.append(f"| {title} | {format_ci(f['mean'][-1], f['half'][-1])} | {format_ci(sh['mean'][-1], sh['half'][-1])} "
                     f"| {d['diff']:+.3f} ± {d['diff_half']:.3f} |")
    s = study["settings"]
    lines.append("")
    lines.append(f"Query accuracy after the inner loop at the end of {s['steps']} meta-training steps, mean over "
                 f"{curves['fixed']['seeds']} seeds ± the t-interval over seeds, {s['episodes']} scoring episodes "
                 "per kind (the same for every run); chance 0.2.")
    return "\n".join(lines)


def memorisation_curves(study: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Labelling -> ``steps`` and, per scoring kind, ``mean`` and ``half`` per evaluation step (the
    t-interval over seeds of each seed's mean accuracy), ``per_seed`` (S, P) and ``final``: the last point's
    per-seed means. The test episodes are the same for every run, so a difference between labellings at
    one point is paired over seeds by `memorisation_difference`."""
    from .meta.memorisation import LABELLINGS

    kinds = ("train", "held_out", "new_order", "swapped")
    out: dict[str, dict[str, Any]] = {}
    for labelling in LABELLINGS:
        runs = [r for name, r in sorted(study["runs"].items()) if name.startswith(f"{labelling}/") and r.get("points")]
        if len(runs) < 2:
            continue
        n = min(len(r["points"]) for r in runs)
        entry: dict[str, Any] = {"steps": [p["step"] for p in runs[0]["points"][:n]], "seeds": len(runs)}
        for kind in kinds:
            per_seed = [[_mean(r["points"][i][kind]) for i in range(n)] for r in runs]  # (S, P)
            per_point = [seed_ci([[row[i]] for row in per_seed])[:2] for i in range(n)]
            entry[kind] = {"mean": [m for m, _ in per_point], "half": [h for _, h in per_point],
                           "per_seed": per_seed, "final": [row[-1] for row in per_seed]}
        out[labelling] = entry
    return out


def memorisation_difference(study: dict[str, Any], kind: str, a: str = "fixed", b: str = "shuffled"
                            ) -> dict[str, Any]:
    """At the last evaluation: labelling `a` − `b` on one scoring kind, seed s of both on the same episodes
    (``diff``/``diff_half``/``per_seed``, the t-interval over seeds)."""
    runs = {lab: {name.split("seed=")[1]: r for name, r in study["runs"].items()
                  if name.startswith(f"{lab}/") and r.get("points")} for lab in (a, b)}
    seeds = sorted(set(runs[a]) & set(runs[b]), key=int)
    if len(seeds) < 2:
        raise ValueError(f"{a} and {b} share {len(seeds)} finished seed(s); a paired interval needs at least 2")
    d, h, v = seed_ci([runs[a][s]["points"][-1][kind] for s in seeds], [runs[b][s]["points"][-1][kind] for s in seeds])
    return {"diff": d, "diff_half": h, "per_seed": v}


def equal_steps_table(study: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The optimizer-restart control of chapter 6: run name prefix (``"lambda=0.5"``, ``"protonet/lambda=0.5"``,
    …) -> ``steps`` per seed, ``mlm_vs_start`` (the run's final held-out MLM loss − the start's) and
    ``mlm_vs_equal_steps`` (− λ = 0 from the same restart after the same number of optimizer steps), each
    ``diff``/``diff_half``/``per_seed`` over seeds; and, where λ = 0 was scored on the few-shot cells at those
    steps, per cell the paired accuracy difference from it (``cells``)."""
    equal = study.get("equal_steps", {})
    size = study["settings"]["episodes"]
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for name, entry in study["runs"].items():  # names: "lambda=0.5/seed=0", "protonet/lambda=0.5/seed=0"
        prefix, seed = name.rsplit("/seed=", 1)
        if float(prefix.rsplit("lambda=", 1)[1]) == 0 or not entry["points"] or not entry["points"][-1].get("final"):
            continue
        groups.setdefault(prefix, []).append((int(seed), entry["points"][-1]))
    out: dict[str, dict[str, Any]] = {}
    start_loss = study["start"]["mlm"]["loss"]
    for prefix, finals in sorted(groups.items()):
        finals = [(s, pt) for s, pt in sorted(finals) if str(pt["steps"]) in equal.get(str(s), {})]
        if len(finals) < 2:
            continue
        ref = [equal[str(s)][str(pt["steps"])] for s, pt in finals]
        losses = [[pt["eval"]["mlm"]["loss"]] for _, pt in finals]
        d0, h0, v0 = seed_ci(losses, [[start_loss]] * len(finals))
        d1, h1, v1 = seed_ci(losses, [[r["mlm"]["loss"]] for r in ref])
        row: dict[str, Any] = {"seeds": [s for s, _ in finals], "steps": [pt["steps"] for _, pt in finals],
                               "mlm_vs_start": {"diff": d0, "diff_half": h0, "per_seed": v0},
                               "mlm_vs_equal_steps": {"diff": d1, "diff_half": h1, "per_seed": v1},
                               "equal_steps_mlm": [r["mlm"]["loss"] for r in ref], "cells": {}}
        if all(c in r for r in ref for c in CELLS):
            for cell in CELLS:
                a = [[x[-1] for x in pt["eval"][cell]["per_episode"]] for _, pt in finals]
                b = [[x[-1] for x in r[cell]["per_episode"]] for r in ref]
                base = [_last_step(study["start"][cell], s * size, size) for s, _ in finals]
                d, h, v = seed_ci(a, b)
                dz, hz, _ = seed_ci(b, base)
                row["cells"][cell] = {"diff": d, "diff_half": h, "per_seed": v, "lambda0_vs_start": dz,
                                      "lambda0_vs_start_half": hz}
        out[prefix] = row
    return out


def equal_steps_name(prefix: str) -> str:
    """``"protonet/lambda=0.5"`` -> ``"λ = 0.5, ProtoNet term"``; ``"lambda=0.25"`` -> ``"λ = 0.25"``."""
    learner, _, weight = prefix.rpartition("/")
    return f"λ = {weight.split('=')[1]}" + (f", {'ProtoNet' if learner == 'protonet' else learner} term" if learner else "")


def equal_steps_markdown(study: dict[str, Any]) -> str:
    """`equal_steps_table` as Markdown: each λ run's held-out MLM loss against the start and against λ = 0
    after the same number of optimizer steps from the same restart."""
    lines = ["| run | steps (per seed) | MLM loss − start | MLM loss − λ = 0 at equal steps |",
             "|---|---:|---:|---:|"]
    for prefix, row in equal_steps_table(study).items():
        a, b = row["mlm_vs_start"], row["mlm_vs_equal_steps"]
        lines.append(f"| {equal_steps_name(prefix)} | {', '.join(map(str, row['steps']))} | "
                     f"{a['diff']:+.4f} ± {a['diff_half']:.4f} | {b['diff']:+.4f} ± {b['diff_half']:.4f} |")
    lines.append("")
    lines.append(f"Held-out MLM loss in nats (256 validation blocks, fixed masks), mean over {len(study['settings']['seeds'])} "
                 "seeds ± the 95% t-interval of the paired difference; λ = 0 is rerun from the same restart (fresh "
                 "AdamW, 20 warm-up steps), seed and batches, and stopped at each run's own step count.")
    return "\n".join(lines)


def equal_compute_markdown(study: dict[str, Any]) -> str:
    """Chapter 6's λ-sweep table as Markdown."""
    table = equal_compute_table(study)
    s = study["settings"]
    lines = ["| λ | steps (per seed) | held-out MLM loss | " + " | ".join(CELL_TITLES[c] for c in CELLS) + " |",
             "|---:|---:|---:|" + "---:|" * len(CELLS)]
    start = study["start"]
    lines.append("| start (`mlm-micro`) | 0 | " + f"{start['mlm']['loss']:.3f} | "
                 + " | ".join(f"{_mean(_last_step(start[c], 0, len(start[c]['per_episode']))):.3f}" for c in CELLS)
                 + " |")
    for weight, row in table.items():
        steps = ", ".join(f"{n:,}" for n in row["steps"])
        cells = [f"{format_ci(row[c]['mean'], row[c]['half'])} (Δ {row[c]['diff']:+.3f} ± {row[c]['diff_half']:.3f})"
                 for c in CELLS]
        lines.append(f"| {weight} | {steps} | {format_ci(row['mlm_loss']['mean'], row['mlm_loss']['half'])} | "
                     + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"{s['budget']:g} CPU seconds of training per run ({len(s['seeds'])} seeds per λ); accuracy after "
                 f"{s['test_steps']} test-time steps on each seed's own {s['episodes']} episodes per cell; ± the 95% "
                 "t-interval over seeds; Δ: paired difference from the start on the same episodes.")
    return "\n".join(lines)


def cross_domain_markdown(study: dict[str, Any]) -> str:
    """Chapter 7's cross-domain table and low-resource sweep as Markdown."""
    table = cross_domain_table(study)
    s = study["settings"]
    lines = ["| model | " + " | ".join(CELL_TITLES[c] for c in DOMAIN_CELLS) + " |",
             "|---|" + "---:|" * len(DOMAIN_CELLS)]
    for method, rows in table.items():
        cells = []
        for c in DOMAIN_CELLS:
            r = rows[c]
            cell = format_ci(r["mean"], r["half"])
            if "diff" in r:
                cell += f" (Δ {r['diff']:+.3f} ± {r['diff_half']:.3f})"
            cells.append(cell)
        lines.append(f"| {MODEL_NAMES.get(method, method)} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Movie reviews: 2-way sentiment; debates: 4-way speaker identification on speakers never seen in "
                 f"meta-training. Accuracy after {s['test_steps']} test-time steps (bag of words and MiniLM: step 0); "
                 f"mean over {len(s['seeds'])} seeds, each tested on its own {s['episodes']} episodes per cell, ± the "
                 "95% t-interval over seeds; Δ: paired difference from the MLM start.")
    return "\n".join(lines)


def kshot_markdown(study: dict[str, Any]) -> str:
    """Chapter 7's low-resource sweep as Markdown (empty when the study has none)."""
    ks = kshot_table(study)
    s = study["settings"]
    lines: list[str] = []
    if ks:
        first = next(iter(ks.values()))
        lines += ["| method | " + " | ".join(f"K = {k}" for k in first["k"]) + " |",
                  "|---|" + "---:|" * len(first["k"])]
        for m, e in ks.items():
            lines.append(f"| {KSHOT_NAMES.get(m, m)} | " + " | ".join(format_ci(a, h) for a, h in zip(e["mean"], e["half"]))
                         + " |")
        lines.append("")
        lines.append(f"Movie-review sentiment with K labelled reviews per class, {s['kshot_episodes']} episodes per K "
                     "(20 query reviews per class), the same episodes for every method; mean ± 95% CI over episodes.")
    return "\n".join(lines)


SINUSOID_NAMES = {"maml": "MAML", "fomaml": "first-order MAML", "reptile": "Reptile, same steps",
                  "reptile_time": "Reptile, same CPU time as MAML",
                  "pretrained": "pretrained on all tasks (fine-tuned)"}
SINUSOID_STEPS = (1, 5, 10)


def sinusoid_runs(study: dict[str, Any], method: str) -> list[dict[str, Any]]:
    """The runs of `method` in the sinusoid study, one per training seed, in seed order."""
    runs = [r for r in study["runs"].values() if r["method"] == method]
    if not runs:
        raise KeyError(f"method={method!r} has no runs in the sinusoid study; it has "
                       f"{sorted({r['method'] for r in study['runs'].values()})}")
    return sorted(runs, key=lambda r: r["seed"])


def _task_mean(values: list[float | None]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return math.fsum(finite) / len(finite)


def sinusoid_table(study: dict[str, Any], reference: str = "maml") -> dict[str, dict[int, dict[str, Any]]]:
    """Finn et al.'s table over training seeds: method -> test-time step -> summary.

    Each seed's network is scored on the same test tasks. Per seed: the mean MSE over the tasks
    whose inner loop did not diverge, and the paired difference from `reference`'s network of the
    same seed over the tasks where neither diverged. The summary is the mean over seeds with the
    95% t-interval over seeds (``mean``, ``half``; ``diff``, ``diff_half``, as `analysis.seed_ci`),
    the per-seed values (``per_seed``, ``per_seed_diff``) and the diverged tasks per seed.
    """
    ref = {r["seed"]: r for r in sinusoid_runs(study, reference)}
    table: dict[str, dict[int, dict[str, Any]]] = {}
    order = list(SINUSOID_NAMES)
    for method in sorted(dict.fromkeys(r["method"] for r in study["runs"].values()),
                         key=lambda m: order.index(m) if m in order else len(order)):
        runs = sinusoid_runs(study, method)
        table[method] = {}
        for k in range(len(runs[0]["curve"]["per_task"][0])):
            per_seed = [_task_mean([row[k] for row in r["curve"]["per_task"]]) for r in runs]
            mean, half = mean_ci(per_seed) if len(per_seed) > 1 else (per_seed[0], math.nan)
            cell = {"mean": mean, "half": half, "per_seed": per_seed, "seeds": [r["seed"] for r in runs],
                    "diverged": [sum(row[k] is None for row in r["curve"]["per_task"]) for r in runs]}
            if method != reference:
                cell["diff"], cell["diff_half"], cell["per_seed_diff"] = sinusoid_difference(study, method, reference, k)
            table[method][k] = cell
    return table


def sinusoid_difference(study: dict[str, Any], a: str, b: str, step: int) -> tuple[float, float, list[float]]:
    """MSE of `a` − MSE of `b` after `step` test-time steps: paired per seed, then over seeds.

    For each training seed, the mean over the test tasks on which neither network's inner loop
    diverged of the per-task difference (the same tasks: a paired difference); then the mean over
    seeds and its 95% t-interval over seeds.

    Returns:
        ``(mean, half_width, per_seed)``.
    """
    other = {r["seed"]: r for r in sinusoid_runs(study, b)}
    diffs = []
    for r in sinusoid_runs(study, a):
        pairs = [(x[step], y[step]) for x, y in zip(r["curve"]["per_task"], other[r["seed"]]["curve"]["per_task"])
                 if x[step] is not None and y[step] is not None]
        diffs.append(math.fsum(x - y for x, y in pairs) / len(pairs))
    mean, half = mean_ci(diffs) if len(diffs) > 1 else (diffs[0], math.nan)
    return mean, half, diffs


def sinusoid_markdown(study: dict[str, Any]) -> str:
    """Finn et al.'s sinusoid table over seeds as Markdown (MSE after 1 / 5 / 10 steps, Δ from MAML)."""
    table = sinusoid_table(study)
    lines = ["| method | outer steps (per seed) | CPU-s (mean) | 1 step | 5 steps | 10 steps | Finn et al. 2017 |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for method, rows in table.items():
        runs = sinusoid_runs(study, method)
        steps = ", ".join(f"{r['train_steps']:,}" for r in runs) if len({r["train_steps"] for r in runs}) > 1 \
            else f"{runs[0]['train_steps']:,}"
        cells = []
        for k in SINUSOID_STEPS:
            c = rows[k]
            one = len(c["per_seed"]) < 2  # one seed: a value, no interval
            text = f"{c['mean']:.2f} (one seed)" if one else format_ci(c["mean"], c["half"], 2)
            if "diff" in c:
                text += f" (Δ {c['diff']:+.2f})" if one else f" (Δ {c['diff']:+.2f} ± {c['diff_half']:.2f})"
            cells.append(text)
        diverged = sum(rows[SINUSOID_STEPS[-1]]["diverged"])
        notes = [f"{diverged} test task-runs diverged, left out"] if diverged else []
        failed = sorted(f["seed"] for f in study.get("failed", {}).values() if f["method"] == method)
        if failed:
            notes.append(f"seeds {', '.join(str(r['seed']) for r in runs)} only: training diverged on seed "
                         + ", ".join(map(str, failed)))
        name = SINUSOID_NAMES.get(method, method) + (f" ({'; '.join(notes)})" if notes else "")
        paper = study.get("paper", {}).get(method)
        cpu = _mean([r["train_cpu_seconds"] for r in runs])
        lines.append(f"| {name} | {steps} | {cpu:,.0f} | " + " | ".join(cells) + " | "
                     + (" / ".join(f"{v:.2f}" for v in paper) if paper else "—") + " |")
    s = study["settings"]
    seeds = sorted({r["seed"] for r in study["runs"].values()})
    lines += ["", f"5-shot MSE after 1 / 5 / 10 test-time steps: mean over the {len(seeds)} training seeds of each "
              f"network's mean over the same {s['eval_tasks']} test tasks, ± the 95% t-interval over seeds; Δ: the "
              "paired difference from MAML of the same seed on the same tasks, ± its t-interval over seeds. Every "
              f"method: {s['meta_batch']} tasks per outer step."]
    return "\n".join(lines)


IN_CONTEXT_CONDITIONS = {"in_k5": "K = 5", "in_k10": "K = 10", "in_k20": "K = 20",
                         "amp_k10": "A ∈ [5, 10], K = 10 (beyond training)", "x_k20": "x ∈ [−10, 10], K = 20 (beyond training)",
                         "many_k40": "K = 40 (beyond training)", "many_k80": "K = 80 (beyond training)"}


def in_context_markdown(study: dict[str, Any]) -> str:
    """Chapter 9's tables: sine MSE per test condition (in-context learner vs the MAML family), and text
    accuracy of the in-context classifier with its paired differences from chapter 5's meta-learners."""
    sin, text = study["summary"]["sinusoid"], study["summary"]["text"]
    methods = ["in_context", "maml", "fomaml", "reptile", "pretrained"]
    names = {"in_context": "in context (3 seeds)", **SINUSOID_NAMES, "pretrained": "pretrained (fine-tuned)"}
    lines = ["| sine test condition (600 tasks) | " + " | ".join(names[m] for m in methods) + " |",
             "|---|" + "---:|" * len(methods)]
    for c, row in sin.items():
        cells = []
        for m in methods:
            r = row.get(m)
            cells.append("—" if r is None else format_ci(r["mean"], r["half"], 3)
                         + (f" ({r['n_diverged']} div.)" if r.get("n_diverged") else ""))
        lines.append(f"| {IN_CONTEXT_CONDITIONS.get(c, c)} | " + " | ".join(cells) + " |")
    if text:
        lines += ["", "| text cell (3 seeds × 100 episodes) | in context | − ProtoNet | − first-order MAML "
                  "| − prototypes on the same frozen features |", "|---|---:|---:|---:|---:|"]
        for cell, row in text.items():
            ic = row["in_context"]
            diffs = [f"{row[m]['diff']:+.3f} ± {row[m]['diff_half']:.3f}" for m in ("protonet", "fomaml", "mlm_prototypes")]
            lines.append(f"| {CELL_TITLES.get(cell, cell)} | {format_ci(ic['mean'], ic['half'])} | " + " | ".join(diffs) + " |")
    return "\n".join(lines)


CEILING_NAMES = {"tfidf": "bag of words (K-shot) / TF-IDF (all)", "random": "random init", "mlm": "MLM",
                 "minilm": "MiniLM", "smlmt_fomaml": "MLM + first-order MAML on SMLMT", "maml": "MLM + MAML",
                 "fomaml": "MLM + first-order MAML", "reptile": "MLM + Reptile", "protonet": "MLM + ProtoNet"}
CEILING_SUITES = ("bbc", "movies", "debates", "zh_sentiment")
_FEW_SHOT_SOURCE = {"bbc": ("few_shot_text", "bbc"), "movies": ("cross_domain", "movies"),
                    "debates": ("cross_domain", "debates"), "zh_sentiment": ("chinese", "sent")}


def ceilings_table(study: dict[str, Any], metric: str = "balanced_accuracy") -> dict[str, dict[str, Any]]:
    """The full-data ceilings of ``benchmarks/ceilings.py``: suite -> ``chance``, ``majority``, ``n_train``,
    ``n_val``, ``n_test``, ``classes`` and ``rows``: name -> ``{"mean", "half", "c"}``.

    ``rows`` holds every finished encoder (``"random"``, ``"mlm"``, ``"minilm"``, ``"smlmt_fomaml"``) and
    ``"tfidf"``; ``mean`` is the test-split `metric` of the probe and ``half`` its 95 % bootstrap half-width.
    ``chance`` is 1/N (the level of balanced accuracy and of the class-balanced few-shot episodes);
    ``majority`` is the test split's largest class share (the chance level of plain accuracy). A suite
    the study also cross-validated (the debates) has ``cv``: name -> ``{"mean", "half"}`` over all of
    its statements, and ``cv_folds`` and ``n_cv``.

    Args:
        study: the JSON of ``benchmarks/ceilings.py``.
        metric: ``"balanced_accuracy"`` (comparable with few-shot episodes) or ``"accuracy"``.

    Raises:
        ValueError: for an unknown `metric` or a study without ``suites``.
    """
    if metric not in ("balanced_accuracy", "accuracy"):
        raise ValueError(f"metric={metric!r} is not allowed; choose 'balanced_accuracy' or 'accuracy'")
    if not isinstance(study, dict) or "suites" not in study:
        raise ValueError("study has no 'suites'; give the JSON of benchmarks/ceilings.py (load_study('ceilings'))")
    out: dict[str, dict[str, Any]] = {}
    for suite, entry in study["suites"].items():
        found = {**entry.get("encoders", {}), **({"tfidf": entry["tfidf"]} if "tfidf" in entry else {})}
        rows = {name: {"mean": r[metric], "half": r[f"{metric}_ci"], "c": r["c"]} for name, r in found.items()}
        majority = next((r["majority"] for r in found.values()), None)
        out[suite] = {"chance": entry["chance"], "majority": majority, "classes": entry["classes"],
                      **{k: entry[k] for k in ("n_train", "n_val", "n_test")}, "rows": rows}
        if "cv" in entry:
            cv = {**entry["cv"].get("encoders", {}), **({"tfidf": entry["cv"]["tfidf"]} if "tfidf" in entry["cv"] else {})}
            out[suite].update(cv={name: {"mean": r[metric], "half": r[f"{metric}_ci"]} for name, r in cv.items()},
                              cv_folds=entry["cv"]["folds"], n_cv=next((r["n"] for r in cv.values()), None))
    return out


def paired_ceiling(study: dict[str, Any], suite: str, a: str, b: str, metric: str = "balanced_accuracy",
                   cv: bool | None = None) -> dict[str, Any]:
    """Two ceilings of one suite compared on the same test items: ``diff`` (a − b), ``half`` (95 % paired
    bootstrap half-width, `metalearn_edu.ceilings.paired_bootstrap`), ``n`` and ``from`` (which split).

    Args:
        study: the JSON of ``benchmarks/ceilings.py``.
        suite: e.g. ``"movies"``; a, b: encoder names or ``"tfidf"``.
        cv: compare the cross-validated predictions (default: when the suite has them).

    Raises:
        ValueError: naming the argument, for an unknown suite or name, or a study without predictions.
    """
    from .ceilings import paired_bootstrap

    suites = study.get("suites", {}) if isinstance(study, dict) else {}
    if suite not in suites:
        raise ValueError(f"suite={suite!r} is not in the study; choose from {sorted(suites)}")
    entry = suites[suite]
    cv = "cv" in entry if cv is None else cv
    source = entry["cv"] if cv else entry
    if cv and "cv" not in entry:
        raise ValueError(f"cv=True but suite {suite!r} was not cross-validated")
    rows = {**source.get("encoders", {}), **({"tfidf": source["tfidf"]} if "tfidf" in source else {})}
    for name, value in (("a", a), ("b", b)):
        if value not in rows:
            raise ValueError(f"{name}={value!r} is not a ceiling of {suite!r}; choose from {sorted(rows)}")
        if "predictions" not in rows[value]:
            raise ValueError(f"{name}={value!r} has no stored predictions; rerun benchmarks/ceilings.py")
    labels = entry["cv"]["labels"] if cv else entry["test_labels"]
    diff, half = paired_bootstrap(labels, rows[a]["predictions"], rows[b]["predictions"], metric)
    return {"diff": diff, "half": half, "n": len(labels),
            "from": f"{entry['cv']['folds']}-fold CV" if cv else "test split"}


def ceiling_comparison(ceilings: dict[str, Any], few_shot_text: dict[str, Any] | None = None,
                       cross_domain: dict[str, Any] | None = None, chinese: dict[str, Any] | None = None,
                       metric: str = "balanced_accuracy", use_cv: bool = True,
                       minilm_meta: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Each encoder's K-shot accuracy next to its full-data ceiling: suite -> ``chance``, ``n_train``,
    ``per_class`` (training texts per class behind the ceiling, on average), ``ceiling_from`` and
    ``rows``: name -> ``{"k", "mean", "half", "ceiling", "ceiling_half"}``.

    With `use_cv`, a suite that was also cross-validated (the debates, whose test split has only 41
    statements) takes its ceilings from the cross-validation (``ceiling_from`` says
    ``"5-fold CV, n = 410"``); otherwise from the test split (``"test split, n = …"``).

    The K-shot points are chapter 5's and 7's test protocol at K = 1 and 5 (`few_shot_table` for BBC,
    `cross_domain_table` for movies and debates, `chinese_table` for Chinese sentiment; mean ± 95 % CI
    over seeds) and, for movie reviews, K = 64 from `kshot_table` (``mlm_protocol`` for the MLM encoder,
    ``tfidf`` for TF-IDF; with `minilm_meta`, MiniLM's K = 64 at step 0 from that study's K curve, as its
    K = 1 and 5 points are step 0). The ``"tfidf"`` row's K = 1, 5 points are the studies' *binary* bag of words
    (``bow``; for Chinese a character bag of words). Chinese ``smlmt_fomaml`` K-shot values are the
    mean over its three meta-training seeds, its ceiling the shipped seed 0. A study passed as None
    (or a model it lacks) leaves those rows with only their ceiling (``k`` empty).

    Args:
        ceilings: the JSON of ``benchmarks/ceilings.py``.
        few_shot_text, cross_domain, chinese: the stored studies of the same names (`load_study`).
        metric: the ceiling's metric, as in `ceilings_table`.
    """
    table = ceilings_table(ceilings, metric)
    sources = {"few_shot_text": (few_shot_text, few_shot_table), "cross_domain": (cross_domain, cross_domain_table),
               "chinese": (chinese, chinese_table)}
    for name, (study, _) in sources.items():
        if study is not None and not (isinstance(study, dict) and "models" in study):
            raise ValueError(f"{name} has no 'models'; give the JSON of benchmarks/{name}.py (load_study({name!r}))")
    shots = {name: fn(study) for name, (study, fn) in sources.items() if study is not None}
    kshot = kshot_table(cross_domain) if cross_domain is not None and cross_domain.get("kshot") else {}
    out: dict[str, dict[str, Any]] = {}
    for suite, entry in table.items():
        source, prefix = _FEW_SHOT_SOURCE.get(suite, (None, None))
        few = shots.get(source, {})
        rows = {}
        cv = use_cv and "cv" in entry
        ceilings = entry["cv"] if cv else entry["rows"]
        for name, ceiling in ceilings.items():
            row: dict[str, Any] = {"k": [], "mean": [], "half": [], "ceiling": ceiling["mean"],
                                   "ceiling_half": ceiling["half"]}
            cells = few.get("bow" if name == "tfidf" else name, {})
            for k in (1, 5):
                cell = cells.get(f"{prefix}_k{k}")
                if cell is not None:
                    row["k"].append(k)
                    row["mean"].append(cell["mean"])
                    row["half"].append(cell["half"])
            curve = kshot.get({"mlm": "mlm_protocol", "tfidf": "tfidf"}.get(name, ""), {})
            if suite == "movies" and name == "minilm" and minilm_meta is not None:
                from .analysis import mean_ci
                mean, half = mean_ci([r[0] for r in minilm_meta["models"]["minilm"]["kcurve"]["64"]["per_episode"]])
                curve = {"k": [64], "mean": [mean], "half": [half]}
            if suite == "movies" and 64 in curve.get("k", []):
                i = curve["k"].index(64)
                row["k"].append(64)
                row["mean"].append(curve["mean"][i])
                row["half"].append(curve["half"][i])
            rows[name] = row
        where = f"{entry['cv_folds']}-fold CV, n = {entry['n_cv']}" if cv else f"test split, n = {entry['n_test']}"
        trained_on = (entry["cv_folds"] - 2) / entry["cv_folds"] * entry["n_cv"] if cv else entry["n_train"]
        out[suite] = {"chance": entry["chance"], "n_train": entry["n_train"], "ceiling_from": where,
                      "per_class": trained_on * entry["chance"], "rows": rows}
    return out


def ceilings_markdown(study: dict[str, Any]) -> str:
    """The full-data ceilings (``benchmarks/ceilings.py``) as Markdown: suite rows, encoder columns."""
    table = ceilings_table(study)
    names = [n for n in ("random", "mlm", "maml", "fomaml", "reptile", "protonet", "smlmt_fomaml", "minilm", "tfidf")
             if any(n in entry["rows"] for entry in table.values())]
    titles = {"random": "random init", "mlm": "MLM", "minilm": "MiniLM", "smlmt_fomaml": "MLM + FOMAML on SMLMT",
              "tfidf": "TF-IDF", "maml": "+ MAML", "fomaml": "+ FOMAML", "reptile": "+ Reptile", "protonet": "+ ProtoNet"}
    suite_titles = {"bbc": "BBC topics", "movies": "movie reviews", "debates": "debates, 4 speakers",
                    "zh_sentiment": "Chinese reviews"}
    lines = ["| suite (N) | " + " | ".join(titles[n] for n in names) + " | chance | majority | train / test |",
             "|---|" + "---:|" * (len(names) + 3)]
    for suite, entry in table.items():
        def cell(rows: dict[str, Any], n: str) -> str:
            return format_ci(rows[n]["mean"], rows[n]["half"]) if n in rows else "–"
        counts = f"{entry['n_train']} / {entry['n_test']}"
        lines.append(f"| {suite_titles.get(suite, suite)} ({len(entry['classes'])}) | "
                     + " | ".join(cell(entry["rows"], n) for n in names)
                     + f" | {entry['chance']:.3f} | {entry['majority']:.3f} | {counts} |")
        if "cv" in entry:
            lines.append(f"| ↳ {entry['cv_folds']}-fold CV over all {entry['n_cv']} | "
                         + " | ".join(cell(entry["cv"], n) for n in names) + f" | {entry['chance']:.3f} | | |")
    s = study["settings"]
    lines += ["", "Balanced accuracy (mean recall over classes; chance 1/N, as in the class-balanced few-shot "
              "episodes) on the test split ± the 95% bootstrap interval over test items. Logistic regression, C from "
              f"{{{', '.join(f'{c:g}' for c in s['cs'])}}} chosen on the validation split, refitted on the whole "
              "training split; encoders: standardised mean-pooled features of the frozen encoder (texts as the "
              f"episodes encode them, {s['max_len']} tokens). ↳ rows: every item of the suite tested once by "
              "stratified cross-validation, C picked on the next fold. MLM + FOMAML on SMLMT is the shipped "
              "`zh-smlmt-micro`."]
    retrained = sorted(study.get("meta_learners", {}))
    if retrained:
        lines[-1] += (" + MAML / FOMAML / Reptile / ProtoNet: seed 0 of chapter 5's recipe (240 CPU-s of SMLMT "
                      "meta-training from the MLM start) retrained for this table, not the study's own models.")
    if study.get("not_run"):
        lines[-1] += (" Not run: " + ", ".join(sorted(study["not_run"]))
                      + " (chapter 5's English meta-learners, not shipped).")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Meta-learning from MiniLM (chapter 7, benchmarks/minilm_meta.py) and the NER ceiling (chapter 8)
# ---------------------------------------------------------------------------------------
MINILM_RECIPES = ("fomaml", "protonet", "hybrid_smlmt")
MINILM_CELLS = ("bbc_k1", "bbc_k5", "movies_k1", "movies_k5", "debates_k1", "debates_k5")
MINILM_SHORT = {"fomaml": "first-order MAML", "protonet": "ProtoNet", "hybrid_smlmt": "Hybrid-SMLMT"}
MINILM_NAMES = {"minilm": "MiniLM (the start)", "fomaml": "MiniLM + first-order MAML on SMLMT",
                "protonet": "MiniLM + ProtoNet on SMLMT", "hybrid_smlmt": "MiniLM + Hybrid-SMLMT (SMLMT + BBC topics)"}


def _minilm_block(curve: dict[str, Any], first: int, n: int, step: int) -> list[float]:
    offset = first - curve.get("first_episode", 0)
    return [row[step] for row in curve["per_episode"][offset:offset + n]]


def minilm_meta_table(study: dict[str, Any], step: int = -1) -> dict[str, dict[str, dict[str, Any]]]:
    """Each MiniLM recipe against its start: recipe -> cell -> ``mean``, ``half`` (over seeds), ``start``
    (the start's mean on the same blocks), ``diff``, ``diff_half`` and ``diff_per_seed``.

    Seed s of a recipe is tested on episodes s·n … s·n + n − 1 of a cell and the start on all of them,
    so seed s's difference is paired (`metalearn_edu.analysis.seed_ci`, t-interval over the seeds).
    Cells are `MINILM_CELLS` and ``"movies_K{k}"`` for the K curve (the same episodes for every model
    and seed). `step`: the test-time step whose accuracy is compared (−1: the protocol's last; 0: the
    prototype head before any step). Recipes with fewer than two finished seeds are left out.
    """
    from .analysis import mean_ci, seed_ci

    n, seeds = study["settings"]["episodes"], study["settings"]["seeds"]
    start = study["models"]["minilm"]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for recipe in MINILM_RECIPES:
        runs = study["models"].get(recipe, {}).get("seeds", {})
        done = [s for s in seeds if str(s) in runs]
        if len(done) < 2:
            continue
        pairs = {cell: ([_minilm_block(runs[str(s)]["eval"][cell], s * n, n, step) for s in done],
                        [_minilm_block(start["eval"][cell], s * n, n, step) for s in done]) for cell in MINILM_CELLS}
        for k in sorted(int(k) for k in start["kcurve"]):
            pairs[f"movies_K{k}"] = ([[r[step] for r in runs[str(s)]["kcurve"][str(k)]["per_episode"]] for s in done],
                                     [[r[step] for r in start["kcurve"][str(k)]["per_episode"]] for _ in done])
        rows = {}
        for cell, (per_seed, base) in pairs.items():
            mean, half, _ = seed_ci(per_seed)
            d, dh, values = seed_ci(per_seed, base)
            rows[cell] = {"mean": mean, "half": half, "start": mean_ci([sum(b) / len(b) for b in base])[0],
                          "diff": d, "diff_half": dh, "diff_per_seed": values}
        out[recipe] = rows
    return out


def minilm_kcurve_table(study: dict[str, Any], step: int = -1) -> dict[str, dict[str, list[float]]]:
    """The movie-review K curve of the MiniLM study in `kshot_table`'s shape (for `viz.plot_low_resource`):
    ``"minilm"`` (mean ± CI over episodes) and each recipe (mean ± t-interval over seeds, ``diff`` paired
    with the start on the same episodes)."""
    from .analysis import mean_ci

    start = study["models"]["minilm"]["kcurve"]
    ks = sorted(int(k) for k in start)
    first = {"k": ks, "mean": [], "half": [], "diff": [0.0] * len(ks), "diff_half": [0.0] * len(ks)}
    for k in ks:
        mean, half = mean_ci([r[step] for r in start[str(k)]["per_episode"]])
        first["mean"].append(mean)
        first["half"].append(half)
    out = {"minilm": first}
    for recipe, rows in minilm_meta_table(study, step).items():
        out[recipe] = {"k": ks, **{key: [rows[f"movies_K{k}"][src] for k in ks]
                                   for key, src in (("mean", "mean"), ("half", "half"), ("diff", "diff"),
                                                    ("diff_half", "diff_half"))}}
    return out


def minilm_training(study: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Per recipe: ``outer_steps``, ``train_seconds`` (CPU) and ``relative_change`` (‖θ − θ₀‖/‖θ₀‖), one per seed."""
    out = {}
    for recipe in MINILM_RECIPES:
        runs = study["models"].get(recipe, {}).get("seeds", {})
        out[recipe] = {key: [runs[s]["train"][key] for s in sorted(runs)]
                       for key in ("outer_steps", "train_seconds", "relative_change")}
    return out


def minilm_precision_check(study: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The start in bf16 autocast against fp32 on the same episodes (block 0): cell -> paired ``diff`` and
    ``diff_half`` of the protocol's last step, and ``step0_diff`` / ``step0_diff_half`` of the prototype head."""
    from .analysis import paired_ci

    start = study["models"]["minilm"]
    out = {}
    for cell, fp32 in start.get("fp32_eval", {}).items():
        n = fp32["n_episodes"]
        row = {}
        for step, key in ((-1, ""), (0, "step0_")):
            d, dh = paired_ci(_minilm_block(start["eval"][cell], 0, n, step), _minilm_block(fp32, 0, n, step))
            row[f"{key}diff"], row[f"{key}diff_half"] = d, dh
        out[cell] = row
    return out


def ner_ceiling_comparison(ceilings: dict[str, Any], chinese: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Chapter 8's NER panel in `ceiling_comparison`'s shape (for `viz.plot_ceilings`): ``{"zh_ner": …}``.

    Rows: each Chinese encoder's few-shot entity F1 at K = 1 and 5 (`chinese_table`: mean ± 95 % CI over
    seeds) with its token probe as the ceiling, scored on the same query sentences as the 5-shot test
    episodes (mean F1 over those episodes ± 95 % CI), and ``"tfidf"`` for the character-window tagger
    (a ceiling only; no few-shot lexical tagger was run). ``chance`` is None (entity F1 has no chance
    level); ``per_class`` is the mentions per entity type in the probes' training sentences (K counts
    mentions per type in an episode's support set).
    """
    from .data.chinese import peoples_daily_sentences
    from .ner import bio_to_spans

    table = ner_ceiling_table(ceilings)
    few = chinese_table(chinese)
    mentions = sum(len(bio_to_spans(s.tags)) for s in peoples_daily_sentences("train")[:table["train_sentences"]])
    rows: dict[str, dict[str, Any]] = {}
    for name, r in table["rows"].items():
        key = "tfidf" if name == "window" else name
        ceiling, half = r["episodes"]["ner_k5"]
        row: dict[str, Any] = {"k": [], "mean": [], "half": [], "ceiling": ceiling, "ceiling_half": half}
        for k in (1, 5):
            cell = few.get(name, {}).get(f"ner_k{k}")
            if cell is not None:
                row["k"].append(k)
                row["mean"].append(cell["mean"])
                row["half"].append(cell["half"])
        rows[key] = row
    return {"zh_ner": {"chance": None, "n_train": table["train_sentences"], "per_class": mentions / 3,
                       "ceiling_from": "the 5-shot test episodes' query sentences", "rows": rows}}


ZH_KSHOT_NAMES = {"tfidf": "character TF-IDF + logistic regression", "linear_probe": "linear probe (frozen zh MLM)",
                  "prototype_head": "prototype head (zh MLM, step 0)", "mlm_protocol": "zh MLM, top block + head",
                  "smlmt_fomaml_protocol": "zh SMLMT (zh-smlmt-micro), top block + head"}


def chinese_kshot_markdown(study: dict[str, Any]) -> str:
    """Chapter 8's low-resource sweep (Chinese review sentiment) as Markdown, with each method's paired
    difference from the prototype head; empty when the study has none."""
    if not study.get("kshot"):
        return ""
    table = kshot_table(study, reference="prototype_head")
    first = next(iter(table.values()))
    lines = ["| method | " + " | ".join(f"K = {k}" for k in first["k"]) + " |", "|---|" + "---:|" * len(first["k"])]
    for m, e in table.items():
        cells = [format_ci(a, h) + ("" if m == "prototype_head" else f" (Δ {d:+.3f} ± {dh:.3f})")
                 for a, h, d, dh in zip(e["mean"], e["half"], e["diff"], e["diff_half"])]
        lines.append(f"| {ZH_KSHOT_NAMES.get(m, m)} | " + " | ".join(cells) + " |")
    lines += ["", f"Chinese review sentiment with K labelled reviews per class, {study['settings']['kshot_episodes']} "
              "episodes per K (20 query reviews per class), the same episodes for every method; mean ± 95% CI over "
              "episodes; Δ: paired difference from the prototype head on the same episodes."]
    return "\n".join(lines)


def ner_ceiling_markdown(study: dict[str, Any]) -> str:
    """The NER ceilings (``benchmarks/ceilings.py --ner``) as Markdown."""
    table = ner_ceiling_table(study)
    titles = {"random": "random init", "mlm": "Chinese MLM (zh-mlm-micro)", "smlmt_fomaml": "MLM + FOMAML on SMLMT",
              "window": "character-window tagger (no encoder)"}
    lines = ["| tagger on all the labels | test split F1 | precision | recall | F1 on the 1-shot episodes' queries | "
             "F1 on the 5-shot episodes' queries |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in table["rows"].items():
        episodes = [format_ci(*r["episodes"][c]) for c in ("ner_k1", "ner_k5")]
        lines.append(f"| {titles.get(name, name)} | {format_ci(r['f1'], r['half'])} | {r['precision']:.3f} | "
                     f"{r['recall']:.3f} | " + " | ".join(episodes) + " |")
    quarter = min(table["learning"]) if table["learning"] else None
    lines += ["", f"Per-token logistic regression (BIO tags of PER/LOC/ORG) trained on the first "
              f"{table['train_sentences']:,} of {table['train_split_sentences']:,} People's Daily training sentences "
              f"(C chosen on {table['val_sentences']:,} validation sentences by entity F1), predicted tags read as "
              f"entities; entity-level micro F1 with exact spans on all {table['test_sentences']:,} test sentences "
              "(± 95% bootstrap over sentences), and the mean F1 over the query sentences of chapter 8's test "
              "episodes (± 95% CI over episodes). Encoders: frozen last-layer features of every token (64 per "
              "sentence); the window tagger: characters at offsets −2 … 2 and the pairs around each character."
              + (f" With {quarter:,} training sentences the MLM probe reaches {table['learning'][quarter]['f1']:.3f}."
                 if quarter else "")]
    return "\n".join(lines)


def _mean_ci(values: list[float]) -> tuple[float, float]:
    from .analysis import mean_ci
    return mean_ci(values)


def minilm_meta_markdown(study: dict[str, Any]) -> str:
    """The MiniLM study as Markdown: the start and each recipe on every cell (Δ: paired difference from the start)."""
    table = minilm_meta_table(study)
    s = study["settings"]
    any_recipe = next(iter(table.values()))
    cells = list(MINILM_CELLS) + [c for c in ("movies_K16", "movies_K64") if c in any_recipe]
    titles = {**CELL_TITLES, "movies_K16": "movies K = 16", "movies_K64": "movies K = 64"}
    lines = ["| model | " + " | ".join(titles[c] for c in cells) + " |", "|---|" + "---:|" * len(cells)]
    any_recipe = next(iter(table.values()))
    lines.append(f"| {MINILM_NAMES['minilm']} | " + " | ".join(f"{any_recipe[c]['start']:.3f}" for c in cells) + " |")
    for recipe, rows in table.items():
        lines.append(f"| {MINILM_NAMES[recipe]} | " + " | ".join(
            f"{rows[c]['mean']:.3f} (Δ {rows[c]['diff']:+.3f} ± {rows[c]['diff_half']:.3f})" for c in cells) + " |")
    steps = minilm_training(study)
    lines += ["", f"Accuracy after chapter 5's protocol ({s['test_steps']} steps of rate {s['inner_lr']:g} on the top "
              f"block and the head); {len(s['seeds'])} meta-training seeds × {s['episodes']} episodes per cell "
              f"({s['kshot_episodes']} per K on the movie-review curve, 20 query reviews per class); Δ: paired difference "
              "from the start on the same episodes, t-interval over the seeds. "
              f"{s['budget']:g} CPU-seconds of meta-training per run ({s['precision']} autocast, one thread); outer steps: "
              + "; ".join(f"{MINILM_SHORT[r]} {', '.join(str(v) for v in steps[r]['outer_steps'])}"
                          for r in table) + ". Hybrid-SMLMT has seen the five BBC topics in meta-training (on other "
              "articles), so its BBC cells are not few-shot for it. `python benchmarks/minilm_meta.py`."]
    return "\n".join(lines)


def ner_ceiling_table(study: dict[str, Any]) -> dict[str, Any]:
    """The NER ceilings of ``benchmarks/ceilings.py --ner``: ``rows``: name -> ``{"f1", "half", "c", "precision",
    "recall"}`` on the test split and ``episodes``: cell -> (mean, half) of the F1 on each few-shot test
    episode's query sentences (the encoders' token probes and ``"window"``, the character-window tagger), ``learning`` (the MLM probe on a
    quarter of the sentences: ``{"sentences", "f1", "half"}``) and the split sizes."""
    ner = study.get("ner")
    if not ner:
        raise ValueError("the ceilings study has no 'ner'; run `python benchmarks/ceilings.py --ner`")
    found = {**ner["encoders"], **({"window": ner["window"]} if "window" in ner else {})}
    rows = {name: {"f1": r["f1"], "half": r["f1_ci"], "c": r["c"], "precision": r["precision"], "recall": r["recall"],
                   "episodes": {cell: _mean_ci(v) for cell, v in r.get("episodes", {}).items()}}
            for name, r in found.items()}
    learning = {int(k): {"sentences": int(k), "f1": r["f1"], "half": r["f1_ci"]}
                for k, r in ner.get("learning", {}).get("mlm", {}).items()}
    return {"rows": rows, "learning": learning, **{k: ner["settings"][k] for k in
                                                    ("train_sentences", "val_sentences", "test_sentences",
                                                     "train_split_sentences")}}


def readme_tables(folder: Path | None = None) -> dict[str, str]:
    """Marker name -> generated Markdown, for every study whose JSON exists."""
    out = {}
    for marker, name, render in (
            ("sinusoid", "sinusoid", sinusoid_markdown), ("few_shot_text", "few_shot_text", few_shot_markdown),
            ("like_for_like", "few_shot_text", like_for_like_markdown),
            ("feature_reuse", "feature_reuse", feature_reuse_markdown),
            ("memorisation", "memorisation", memorisation_markdown),
            ("equal_compute", "equal_compute", equal_compute_markdown),
            ("equal_steps", "equal_compute", equal_steps_markdown),
            ("cross_domain", "cross_domain", lambda st: cross_domain_markdown(st) + "\n\n" + kshot_markdown(st)),
            ("chinese", "chinese", lambda st: chinese_markdown(st) + ("\n\n" + chinese_kshot_markdown(st)
                                                                      if st.get("kshot") else "")),
            ("in_context", "in_context", in_context_markdown),
            ("ceilings", "ceilings", ceilings_markdown), ("ner_ceilings", "ceilings", ner_ceiling_markdown),
            ("minilm_meta", "minilm_meta", minilm_meta_markdown)):
        try:
            out[marker] = render(load_study(name, folder))
        except FileNotFoundError:
            continue
    return out


def update_readme(readme: Path, folder: Path | None = None, check: bool = False) -> list[str]:
    """Rewrite the README sections between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``.

    Returns:
        The names of the sections that changed (or would, with ``check=True``).
    """
    text = readme.read_text(encoding="utf-8")
    changed = []
    for name, table in readme_tables(folder).items():
        begin, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
        if begin not in text or end not in text:
            continue
        head, rest = text.split(begin, 1)
        old, tail = rest.split(end, 1)
        new = f"\n{table}\n"
        if old != new:
            changed.append(name)
            text = head + begin + new + end + tail
    if changed and not check:
        readme.write_text(text, encoding="utf-8")
    return changed


if __name__ == "__main__":  # python -m metalearn_edu.studies: refresh the README's result tables
    names = update_readme(DATA_DIR.parent / "README.md")
    print("updated:", ", ".join(names) or "nothing")
