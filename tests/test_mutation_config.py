"""The mutation-testing set-up (issue #30) stays consistent: scripts/mutation.py's modules, pyproject's
[tool.mutmut] and mutation-survivors.txt name the same files. The run itself is `bash scripts/course.sh
mutation` (hours); `bash scripts/course.sh test` runs its smoke (`python scripts/mutation.py smoke`)."""

from __future__ import annotations

import fnmatch
import tomllib

import pytest

from helpers import REPO, load_script

mutation = load_script("mutation")
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CONFIG = PYPROJECT["tool"]["mutmut"]


def test_every_core_module_is_mutated_and_tested():
    files = {str(mutation.source_file(m)) for m in mutation.MODULES}
    for path in files:
        assert (REPO / path).is_file(), path
        assert any(fnmatch.fnmatch(path, glob) for glob in CONFIG["only_mutate"]), f"{path} is not in only_mutate"
    mutated = {str(p.relative_to(REPO)) for glob in CONFIG["only_mutate"] for p in REPO.glob(glob)
               if p.name != "__init__.py"}
    assert mutated == files, "only_mutate and scripts/mutation.py's MODULES name different files"
    tests = {f"tests/{t}" for names in mutation.MODULES.values() for t in names}
    assert set(CONFIG["pytest_add_cli_args_test_selection"]) == tests
    assert all((REPO / t).is_file() for t in tests)


def test_one_worker_and_a_pinned_tool():
    assert PYPROJECT["project"]["optional-dependencies"]["mutation"] == ["mutmut==3.8.1"]
    assert CONFIG["process_isolation"] == "forkserver"  # torch is not fork-safe once it has run
    # one worker by default: the course's reference machine has two cores
    assert mutation.build_parser().parse_args(["run"]).max_children == 1
    assert mutation.build_parser().parse_args(["smoke"]).max_children == 1
    assert mutation.select(["meta"]) == [m for m in mutation.MODULES if m.startswith("meta.")]
    assert mutation.select(["studies", "analysis"]) == ["studies", "analysis"]  # in the order given


def test_the_survivors_file_parses_and_names_core_mutants(tmp_path):
    listed = mutation.listed_survivors()
    for name, (kind, reason) in listed.items():
        module = name.removeprefix("metalearn_edu.").split(".x", 1)[0]
        assert module in mutation.MODULES, name
        assert "__mutmut_" in name and kind in ("equivalent", "accepted") and len(reason) > 10, name
    bad = tmp_path / "survivors.txt"
    bad.write_text("# a comment\nmetalearn_edu.analysis.x_mean_ci__mutmut_1 maybe: unsure\n")
    with pytest.raises(SystemExit, match="survivors.txt:2"):
        mutation.listed_survivors(bad)


def test_the_score_excludes_equivalent_mutants_only(tmp_path, monkeypatch):
    meta = tmp_path / "mutants" / "metalearn_edu" / "analysis.py.meta"
    meta.parent.mkdir(parents=True)
    names = [f"metalearn_edu.analysis.x_f__mutmut_{i}" for i in range(1, 8)]
    codes = [1, 1, 36, 0, 0, 33, None]  # killed, killed, timeout, survived x2, no tests, not tested
    meta.write_text(mutation.json.dumps({"exit_code_by_key": dict(zip(names, codes))}))
    monkeypatch.setattr(mutation, "ROOT", tmp_path)
    listed = {names[3]: ("equivalent", "no observable change"), names[4]: ("accepted", "a message only")}
    row = mutation.count("analysis", listed)
    assert (row["killed"], row["timeout"], row["survived"], row["no tests"], row["not tested"]) == (2, 1, 2, 1, 1)
    assert (row["equivalent"], row["accepted"]) == (1, 1)
    assert row["score"] == pytest.approx(100 * 3 / 5, abs=0.05)  # (2 + 1) / (7 - 1 not tested - 1 equivalent)
