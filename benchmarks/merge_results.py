"""Merge the JSON of one study run in parallel pieces (different seeds or methods) into one file.

    # e.g. the equal-compute study, one process per seed on a machine with three cores:
    python benchmarks/equal_compute.py --seeds 0 --out runs/ec0.json &
    python benchmarks/equal_compute.py --seeds 1 --out runs/ec1.json &
    python benchmarks/equal_compute.py --seeds 2 --out runs/ec2.json &
    wait
    python benchmarks/merge_results.py runs/ec0.json runs/ec1.json runs/ec2.json --seeds 0,1,2 \
        --out benchmarks/results/equal_compute.json

Every piece must have been made with the same settings (apart from ``seeds``, ``methods`` and
equal_compute's λ ``weights``, which the pieces split between them); the script refuses to merge
otherwise. What it merges:

* ``runs`` (equal_compute, sinusoid, plateau): one entry per run name (``lambda=…/seed=…``); a run finished in one
  piece wins over an unfinished copy of it in another;
* ``models`` (few_shot_text, cross_domain, chinese): trained models' ``seeds`` entries are united;
  an untrained model's ``eval`` is taken from the piece that evaluated the most episodes;
* every other entry (``start``, ``transfer``, ``kshot``; sinusoid's ``tuning``; plateau's ``phase1`` and
  ``first_attempt``; …): from the piece that has the most of it.

The merged file's ``settings.seeds`` is ``--seeds`` and its ``weights`` the union of the pieces'
λ values; ``methods`` and ``parts`` (what each piece ran) are left out; every other setting is the
pieces' own.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

SPLIT_SETTINGS = ("seeds", "methods", "parts", "weights", "weights_done", "learner")


def _n_episodes(entry: dict[str, Any]) -> int:
    evaluation = entry.get("eval", {})
    return max((cell.get("n_episodes", len(cell.get("per_episode", []))) for cell in evaluation.values()), default=0)


def _finished(run: dict[str, Any]) -> bool:
    points = run.get("points", [])
    return bool(points) and bool(points[-1].get("final"))


def merge(pieces: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """The merged study (see the module docstring)."""
    first = pieces[0]
    shared = {k: v for k, v in first["settings"].items() if k not in SPLIT_SETTINGS}
    for i, piece in enumerate(pieces[1:], start=2):
        other = {k: v for k, v in piece["settings"].items() if k not in SPLIT_SETTINGS}
        if other != shared:
            diff = sorted(k for k in set(other) | set(shared) if other.get(k) != shared.get(k))
            raise SystemExit(f"piece {i} was made with other settings ({', '.join(diff)}); only seeds, "
                             "methods and λ weights may differ between the pieces of one study")
    # which methods or parts a piece ran describes the piece, not the merged study: left out
    kept = {k: v for k, v in first["settings"].items() if k not in ("methods", "parts")}
    out: dict[str, Any] = {"settings": {**kept, "seeds": seeds}}
    if any("weights" in p["settings"] for p in pieces):  # equal_compute: the union of the pieces' λ values
        out["settings"]["weights"] = sorted({w for p in pieces for w in p["settings"].get("weights", [])})
    if any("runs" in p for p in pieces):
        runs: dict[str, Any] = {}
        for piece in pieces:
            for name, run in piece.get("runs", {}).items():
                if name not in runs or (_finished(run) and not _finished(runs[name])) or \
                        len(run.get("points", [])) > len(runs[name].get("points", [])):
                    runs[name] = run
        out["runs"] = runs
    if any("models" in p for p in pieces):
        models: dict[str, Any] = {}
        for piece in pieces:
            for name, entry in piece.get("models", {}).items():
                merged = models.setdefault(name, {})
                for seed, record in entry.get("seeds", {}).items():
                    merged.setdefault("seeds", {}).setdefault(seed, record)
                if "eval" in entry and _n_episodes(entry) > _n_episodes(merged):
                    merged.update({k: v for k, v in entry.items() if k != "seeds"})
        out["models"] = models
    for key in dict.fromkeys(k for p in pieces for k in p if k not in ("settings", "runs", "models")):
        candidates = [p[key] for p in pieces if p.get(key)]
        if candidates:
            out[key] = max(candidates, key=lambda c: len(json.dumps(c)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pieces", nargs="+", type=Path)
    p.add_argument("--seeds", required=True, help="the seeds of the whole study, e.g. 0,1,2")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args()
    pieces = [json.loads(path.read_text()) for path in args.pieces]
    merged = merge(pieces, [int(s) for s in args.seeds.split(",")])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=1) + "\n")
    counts = {k: len(merged[k]) for k in ("runs", "models") if k in merged}
    print(f"merged {len(pieces)} pieces into {args.out}: {counts}")


if __name__ == "__main__":
    main()
