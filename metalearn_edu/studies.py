"""The course's measured studies: where their results live, and the summaries chapters and README quote.

Each study is a script in ``benchmarks/`` that writes a JSON file to ``benchmarks/results/``. The
chapters read those files through this module, and the README's result tables are generated
from them (`readme_tables`; ``tests/test_readme.py`` fails when the README and the JSON disagree),
so a number quoted anywhere is computed from the stored results, never typed.

* `few_shot_table`: chapter 5's table — every model on both suites and K, mean over meta-training
  seeds, and the paired difference from the MLM start (`metalearn_edu.analysis.seed_ci`).
* `equal_compute_table`: chapter 6's λ sweep — final MLM loss and accuracies per λ over seeds, and
  the measured points along each run's budget.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .analysis import format_ci, seed_ci
from .data import DATA_DIR

RESULTS_DIR = DATA_DIR.parent / "benchmarks" / "results"
CELLS = ("smlmt_k1", "smlmt_k5", "bbc_k1", "bbc_k5")
CELL_TITLES = {"smlmt_k1": "SMLMT 1-shot", "smlmt_k5": "SMLMT 5-shot", "bbc_k1": "BBC 1-shot", "bbc_k5": "BBC 5-shot"}
MODEL_NAMES = {"bow": "bag of words", "random": "random init", "mlm": "MLM (mlm-micro)", "maml": "MLM + MAML",
               "fomaml": "MLM + first-order MAML", "reptile": "MLM + Reptile", "protonet": "MLM + ProtoNet",
               "minilm": "MiniLM (step 0)"}


def load_study(name: str, folder: Path | None = None) -> dict[str, Any]:
    """The JSON of study `name` (e.g. ``"few_shot_text"``) from ``benchmarks/results/``."""
    path = Path(folder or RESULTS_DIR) / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results at {path}; run `python benchmarks/{name}.py --out {path}`")
    return json.loads(path.read_text(encoding="utf-8"))


def _last_step(curve: dict[str, Any], first: int, size: int) -> list[float]:
    start = first - curve.get("first_episode", 0)
    return [row[-1] for row in curve["per_episode"][start:start + size]]


def few_shot_table(study: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Method -> cell -> ``mean``, ``half`` (over seeds), and ``diff``/``diff_half``/``diff_per_seed``
    (paired with the MLM start on each seed's episodes), ``steps`` (outer steps per seed)."""
    size, seeds = study["settings"]["episodes"], study["settings"]["seeds"]
    models = study["models"]
    mlm = {c: [_last_step(models["mlm"]["eval"][c], s * size, size) for s in seeds] for c in CELLS}
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for method, entry in models.items():
        rows: dict[str, dict[str, Any]] = {}
        trained = "seeds" in entry
        done = [s for s in seeds if str(s) in entry.get("seeds", {})] if trained else seeds
        if len(done) < 2:
            continue
        for cell in CELLS:
            if trained:
                per_seed = [[r[-1] for r in entry["seeds"][str(s)]["eval"][cell]["per_episode"]] for s in done]
            else:
                per_seed = [_last_step(entry["eval"][cell], s * size, size) for s in done]
            mean, half, values = seed_ci(per_seed)
            row: dict[str, Any] = {"mean": mean, "half": half, "per_seed": values}
            if method != "mlm":
                d, dh, dv = seed_ci(per_seed, [mlm[cell][seeds.index(s)] for s in done])
                row.update(diff=d, diff_half=dh, diff_per_seed=dv)
            rows[cell] = row
        if trained:
            rows["steps"] = {"per_seed": [entry["seeds"][str(s)]["train"]["outer_steps"] for s in done]}
        table[method] = rows
    return table


def equal_compute_table(study: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """λ (as text) -> ``mlm_loss`` and every cell over seeds (with the paired difference from the start),
    ``steps``/``tokens`` per seed, and ``curve``: per seed, the seconds, MLM losses and step-0 accuracies
    of the measured points."""
    size, seeds, weights = (study["settings"][k] for k in ("episodes", "seeds", "weights"))
    start, runs = study["start"], study["runs"]
    out: dict[str, dict[str, Any]] = {}
    for weight in weights:
        finished = []
        for s in seeds:
            points = runs.get(f"lambda={weight:g}/seed={s}", {}).get("points", [])
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
    """Chapter 5's table as Markdown (the README quotes it verbatim)."""
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
                 "t-interval over seeds; Δ: paired difference from the MLM start on the same episodes.")
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


def readme_tables(folder: Path | None = None) -> dict[str, str]:
    """Marker name -> generated Markdown, for every study whose JSON exists."""
    out = {}
    for name, render in (("few_shot_text", few_shot_markdown), ("equal_compute", equal_compute_markdown)):
        try:
            out[name] = render(load_study(name, folder))
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
