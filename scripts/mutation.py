"""Mutation testing of the library's core with mutmut, in resumable pieces (one per module).

    python scripts/mutation.py run [MODULE ...] [--limit N]   test the mutants not yet tested
    python scripts/mutation.py report                          the score of every module
    python scripts/mutation.py smoke                           CI's check that the configuration works
    python scripts/mutation.py modules                         the modules and their test files

`bash scripts/course.sh mutation [MODULE ...]` sets up the venv with the [mutation] extra, then runs
`run` and `report`. A module is named by its dotted path under metalearn_edu (`analysis`,
`meta.maml`, `exercises.chapter1`, ...); a prefix names several (`meta`, `exercises`).

mutmut's settings are in pyproject.toml ([tool.mutmut]); it keeps its working copy and every
mutant's verdict in mutants/ (git-ignored). `run` gives mutmut, for one module at a time, only
the mutants that have no verdict yet, so an interrupted run (Ctrl-C, a closed laptop) resumes where
it stopped. `--limit N` stops each module after N mutants (a module's very first run with it tests
the first mutant of each function); `--retest` tests the survivors again after new tests were
written (mutmut keeps the verdicts of the mutants already killed). A changed source file gets new
mutants (mutmut notices); `rm -rf mutants` starts afresh. Logs and the report go to runs/mutation/.

Score of a module = killed / (mutants - equivalent), where a timeout counts as killed (the mutant
made the tests hang), and "no tests" (no test of the selection calls the function) counts as
survived. mutation-survivors.txt, beside pyproject.toml, lists the survivors that are equivalent
(no observable change) or accepted, one line each with the reason:

    metalearn_edu.analysis.x_format_ci__mutmut_7  equivalent  <why>
    metalearn_edu.model.xǁBertEncoderǁforward__mutmut_3  accepted  <why>

Only `equivalent` lines leave the denominator; `accepted` ones stay survivors. mutmut numbers the
mutants of a function in order, so an edit to a function can renumber them: the report names the
listed mutants that no longer survive, to be removed or re-checked.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SURVIVORS_FILE = ROOT / "mutation-survivors.txt"
OUT = ROOT / "runs" / "mutation"
PACKAGE = "metalearn_edu"

# The core: each module with the test files that exercise it. The union is mutmut's test selection
# (pyproject's pytest_add_cli_args_test_selection); mutmut then runs, for each mutant, only the
# tests of that selection that call the mutated function.
MODULES: dict[str, list[str]] = {
    "analysis": ["test_analysis.py"],
    "masking": ["test_masking.py"],
    "studies": ["test_studies.py"],
    "episodes": ["test_episodes.py"],
    "checkpoint": ["test_checkpoint.py"],
    "model": ["test_model.py"],
    "ner": ["test_ner.py"],
    "pretrain": ["test_pretrain.py"],
    "meta.inner_loop": ["test_inner_loop.py"],
    "meta.maml": ["test_maml.py"],
    "meta.reptile": ["test_reptile.py"],
    "meta.vectorized": ["test_vectorized.py"],
    "meta.losses": ["test_losses.py"],
    "meta.baselines": ["test_baselines.py"],
    "meta.evaluation": ["test_evaluation.py"],
    "meta.tokens": ["test_tokens.py"],
    **{f"exercises.{name}": ["test_exercise_checks.py", "test_exercise_checks_text.py",
                             "test_exercise_checks_in_context.py"]
       for name in ["framework"] + [f"chapter{i}" for i in range(10)]},
}

# mutmut's exit codes (mutmut.stats.status_by_exit_code), grouped as the report counts them
KILLED = {1: "killed", 3: "killed", 37: "killed"}
TIMEOUT = {36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests"}

# The smoke: one small module against its own tests, a handful of mutants.
SMOKE_MODULE = "analysis"
SMOKE_MUTANTS = f"{PACKAGE}.analysis.x_unigram_loss__mutmut_*"


def source_file(module: str) -> Path:
    return Path(PACKAGE, *module.split(".")).with_suffix(".py")


def select(names: list[str]) -> list[str]:
    if not names:
        return list(MODULES)
    chosen = [m for n in names for m in MODULES if m == n or m.startswith(n + ".")]  # in the order given
    chosen = list(dict.fromkeys(chosen))
    unknown = [n for n in names if not any(m == n or m.startswith(n + ".") for m in MODULES)]
    if unknown:
        sys.exit(f"unknown module(s) {unknown}; see `python scripts/mutation.py modules`")
    return chosen


def verdicts(module: str, root: Path | None = None) -> dict[str, int | None] | None:
    """{mutant name: mutmut's exit code, None when not tested yet}; None when not generated yet."""
    meta = (root or ROOT) / "mutants" / source_file(module).with_suffix(".py.meta")
    if not meta.exists():
        return None
    return json.loads(meta.read_text())["exit_code_by_key"]


def mutmut(args: list[str], cwd: Path, log: Path | None = None) -> int:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", MPLBACKEND="Agg",
               METALEARN_PRESET=os.environ.get("METALEARN_PRESET", "ci"),
               OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    cmd = [str(Path(sys.executable).parent / "mutmut"), *args]  # its console script, as mutmut asks
    if log is None:
        return subprocess.call(cmd, cwd=cwd, env=env)
    with log.open("a") as f:
        f.write(f"\n$ {' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''}  ({len(cmd) - 3} arguments)\n")
        f.flush()
        return subprocess.call(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)


def run(modules: list[str], limit: int | None, max_children: int, retest: bool = False) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for module in modules:
        found = verdicts(module)
        if found is None:  # never generated: mutmut generates every module's mutants on its first run,
            # here with the first mutant of each function when --limit asks for a short run
            names = [f"{PACKAGE}.{module}.*" if limit is None else f"{PACKAGE}.{module}.*__mutmut_1"]
        else:
            names = [name for name, code in found.items() if code is None or (retest and code in SURVIVED)]
            if not names:
                print(f"[mutation] {module}: every mutant has a verdict")
                continue
            names = names[:limit] if limit is not None else names
        log = OUT / f"{module}.log"
        what = len(names) if found is not None else "all" if limit is None else "the first of each function's"
        print(f"[mutation] {module}: {what} mutants to test (log: {log.relative_to(ROOT)})")
        start = time.monotonic()
        code = mutmut(["run", "--max-children", str(max_children), *names], ROOT, log)
        minutes = (time.monotonic() - start) / 60
        print(f"[mutation] {module}: done in {minutes:.1f} min (mutmut exit code {code})")
        with (OUT / "timings.jsonl").open("a") as f:
            f.write(json.dumps({"module": module, "mutants": None if found is None else len(names),
                                "seconds": round(minutes * 60, 1), "exit_code": code}) + "\n")
        if code != 0:
            print(f"[mutation] mutmut failed on {module}; the end of its log:\n"
                  + "\n".join(log.read_text(errors="replace").replace("\r", "\n").splitlines()[-30:]))
            return code
    return 0


def listed_survivors(path: Path = SURVIVORS_FILE) -> dict[str, tuple[str, str]]:
    """{mutant name: (equivalent|accepted, reason)} from mutation-survivors.txt ('#' starts a comment)."""
    listed = {}
    if not path.exists():
        return listed
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not line:
            continue
        parts = line.split(None, 2)
        if len(parts) < 3 or parts[1] not in ("equivalent", "accepted") or not parts[0].startswith(PACKAGE + "."):
            raise SystemExit(f"{path.name}:{number}: expected 'NAME equivalent|accepted REASON', got {line!r}")
        listed[parts[0]] = (parts[1], parts[2])
    return listed


def count(module: str, listed: dict[str, tuple[str, str]]) -> dict | None:
    found = verdicts(module)
    if found is None:
        return None
    row = {"module": module, "mutants": len(found), "killed": 0, "timeout": 0, "survived": 0, "no tests": 0,
           "not tested": 0, "other": 0, "equivalent": 0, "accepted": 0, "stale": []}
    for name, code in found.items():
        if code in KILLED:
            row["killed"] += 1
        elif code in TIMEOUT:
            row["timeout"] += 1
        elif code in SURVIVED:
            kind = listed.get(name, (None,))[0]
            if kind in ("equivalent", "accepted"):
                row[kind] += 1
            row[SURVIVED[code]] += 1
        elif code is None:
            row["not tested"] += 1
        else:
            row["other"] += 1  # suspicious, segfault, skipped: rerun them
    row["stale"] = sorted(n for n in listed if n.startswith(f"{PACKAGE}.{module}.x")
                          and (n not in found or found[n] not in SURVIVED))
    tested = row["mutants"] - row["not tested"] - row["equivalent"]
    row["score"] = None if tested <= 0 else round(100 * (row["killed"] + row["timeout"]) / tested, 1)
    return row


def report(modules: list[str]) -> int:
    listed = listed_survivors()
    rows = [r for r in (count(m, listed) for m in modules) if r is not None]
    if not rows:
        print("[mutation] nothing tested yet: run `bash scripts/course.sh mutation` first")
        return 0
    groups = {}
    for r in rows:
        top = r["module"].split(".")[0] if r["module"].startswith("exercises.") else None
        if top:
            g = groups.setdefault(top, {k: 0 for k in r if k not in ("module", "stale", "score")} | {"module": top})
            for k in g:
                if k != "module":
                    g[k] += r[k]
    for g in groups.values():
        tested = g["mutants"] - g["not tested"] - g["equivalent"]
        g["score"] = None if tested <= 0 else round(100 * (g["killed"] + g["timeout"]) / tested, 1)
        g["stale"] = []
    header = ["module", "mutants", "killed", "timeout", "survived", "no tests", "equivalent", "accepted",
              "not tested", "score"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows + list(groups.values()):
        score = "–" if r["score"] is None else f"{r['score']:.1f} %"
        lines.append("| " + " | ".join([f"`{r['module']}`"] + [str(r[k]) for k in header[1:-1]] + [score]) + " |")
    text = "\n".join(lines)
    print(text)
    stale = [n for r in rows for n in r["stale"]]
    if stale:
        print("\nListed in mutation-survivors.txt but no longer surviving (renumbered or killed):")
        print("\n".join("  " + n for n in stale))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report.md").write_text(text + "\n")
    (OUT / "report.json").write_text(json.dumps(rows + list(groups.values()), indent=1))
    print(f"\n(survived includes no tests; score = (killed + timeout) / (mutants - not tested - equivalent); "
          f"written to {(OUT / 'report.md').relative_to(ROOT)})")
    return 0


def smoke(max_children: int) -> int:
    """A handful of mutants of one small module, in a scratch copy: fails only if the set-up is broken.

    It checks that mutmut runs with the project's configuration (process isolation, copied data,
    pytest arguments), that the tests import the mutated copy (at least one mutant is killed) and
    that every mutant gets a verdict; and that mutation-survivors.txt parses. It does not require
    every mutant to be killed: that is the full run's business.
    """
    listed_survivors()  # raises on a malformed line
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="metalearn-mutation-smoke-") as tmp:
        work = Path(tmp)
        for name in ["pyproject.toml", PACKAGE, "tests", "data"]:
            src = ROOT / name
            (shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
             if src.is_dir() else shutil.copy2(src, work / name))
        config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
        config["only_mutate"] = [str(source_file(SMOKE_MODULE))]
        config["pytest_add_cli_args_test_selection"] = [f"tests/{t}" for t in MODULES[SMOKE_MODULE]]
        text = (work / "pyproject.toml").read_text()
        start_section = text.index("\n[tool.mutmut]\n")
        end_section = text.find("\n[", start_section + 1)
        section = "\n[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in config.items())
        (work / "pyproject.toml").write_text(text[:start_section] + section
                                             + ("" if end_section < 0 else text[end_section:]))
        code = mutmut(["run", "--max-children", str(max_children), SMOKE_MUTANTS], work)
        found = verdicts(SMOKE_MODULE, root=work)
        if code != 0 or not found:
            print(f"[mutation smoke] FAILED: mutmut exited with {code}")
            return 1
        tried = {n: c for n, c in found.items() if n.startswith(SMOKE_MUTANTS.rstrip("*"))}
        killed = [n for n, c in tried.items() if c in KILLED or c in TIMEOUT]
        unjudged = [n for n, c in tried.items() if c not in KILLED and c not in TIMEOUT and c not in SURVIVED]
        print(f"[mutation smoke] {len(tried)} mutants of {SMOKE_MUTANTS}: {len(killed)} killed, "
              f"{len(unjudged)} without a verdict, in {time.monotonic() - start:.0f} s")
        if len(tried) < 3 or not killed or unjudged:
            print("[mutation smoke] FAILED: the configuration does not test mutants "
                  f"(verdicts: {tried})")
            return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="test the mutants that have no verdict yet, module by module")
    p_run.add_argument("modules", nargs="*", help="modules (default: the whole core), e.g. analysis meta.maml")
    p_run.add_argument("--limit", type=int, help="at most N mutants per module in this call")
    p_run.add_argument("--max-children", type=int, default=1, help="mutmut's worker processes (default 1)")
    p_run.add_argument("--retest", action="store_true",
                       help="also test again the survivors (after new tests; killed mutants stay killed)")
    p_report = sub.add_parser("report", help="the score of every module (from mutants/)")
    p_report.add_argument("modules", nargs="*")
    p_smoke = sub.add_parser("smoke", help="CI: a handful of mutants in a scratch copy (about a minute)")
    p_smoke.add_argument("--max-children", type=int, default=1)
    sub.add_parser("modules", help="the core modules and their test files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.chdir(ROOT)
    if args.command == "run":
        return run(select(args.modules), args.limit, args.max_children, args.retest)
    if args.command == "report":
        return report(select(args.modules))
    if args.command == "smoke":
        return smoke(args.max_children)
    for module, tests in MODULES.items():
        print(f"{module:22s} {source_file(module)}  <- {', '.join(tests)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
