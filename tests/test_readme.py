"""The README's library tour must run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_library_tour_runs(capsys):
    text = README.read_text(encoding="utf-8")
    tour = text.split("## Library tour", 1)[1]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md (library tour)", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "1780 223 222" in printed
    assert "previous-token heads" in printed
    assert namespace["out"].attentions[0].shape[1] == namespace["model"].cfg.n_heads


def test_result_tables_match_the_studies_json():
    from metalearn_edu.studies import update_readme

    stale = update_readme(README, check=True)
    assert stale == [], f"README tables out of date for {stale}: run `python -m metalearn_edu.studies`"


def test_ci_runs_the_readme_test_command():
    command = "bash scripts/course.sh test"
    assert command in README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert any(line.strip() == command for line in ci.splitlines()), ".ci/run must call the README's test command"
