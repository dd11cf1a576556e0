"""Tests of `metalearn_edu.course`: the student build, its check, the static export and the Colab links."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from metalearn_edu import course

CHAPTER = '''# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 9 — A tiny chapter

# %% tags=["colab"]
import sys

if "google.colab" in sys.modules:  # pragma: no cover
    REPO = "https://github.com/someone/old"  # or your fork

# %%
from metalearn_edu.exercises import ExerciseNotDone, run_student


def check_square(fn):
    got = run_student(fn, 3)
    assert got == 9, "3 squared is 9"
    print("✓ right")


# %% tags=["solution"] jupyter={"source_hidden": true}
def square(x):
    ### HINT: multiply x by itself
    ### BEGIN SOLUTION
    return x * x
    ### END SOLUTION


check_square(square)
'''


def test_strip_solutions_keeps_the_check_and_the_indentation():
    source = "def f(x):\n    ### HINT: square it\n    ### BEGIN SOLUTION\n    y = x * x\n    return y\n    ### END SOLUTION\nf(2)"
    stub, n = course.strip_solutions(source)
    assert n == 1
    assert stub == 'def f(x):\n    raise NotImplementedError("square it")\nf(2)'
    assert "x * x" not in stub
    no_hint, _ = course.strip_solutions("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    assert no_hint == 'raise NotImplementedError("your code here")'


@pytest.mark.parametrize("source,message", [
    ("### BEGIN SOLUTION\nx = 1", "without '### END SOLUTION'"),
    ("x = 1\n### END SOLUTION", "without '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unbalanced_markers_are_reported_with_the_cell(source, message):
    with pytest.raises(ValueError, match=message) as err:
        course.strip_solutions(source, "09_tiny.py, cell 3")
    assert "09_tiny.py, cell 3" in str(err.value)


@pytest.fixture()
def tiny_course(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "09_tiny.py").write_text(CHAPTER, encoding="utf-8")
    return folder


def test_student_notebook_has_stubs_and_no_solution_outputs(tiny_course):
    nb, n = course.student_notebook(tiny_course / "09_tiny.py")
    assert n == 1
    exercise = [c for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(exercise) == 1 and "solution" not in exercise[0].metadata["tags"]
    assert 'raise NotImplementedError("multiply x by itself")' in exercise[0].source
    assert "x * x" not in exercise[0].source and "check_square(square)" in exercise[0].source
    assert "jupyter" not in exercise[0].metadata  # the student sees the stub (not folded away)
    assert all(c.get("outputs", []) == [] for c in nb.cells if c.cell_type == "code")


def _executed(cells):
    nb = nbformat.v4.new_notebook()
    for source, tags, outputs in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        nb.cells.append(cell)
    return nb


def _error(ename, evalue, lines=1):
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"] * lines}


def test_check_student_notebook_finds_every_kind_of_problem():
    good = _executed([("x = 1", [], []),
                      ("check(f)", ["exercise"], [_error("ExerciseNotDone", "f is not written yet. Hint: …")])])
    assert course.check_student_notebook(good) == []
    bad = _executed([("x = 1 / 0", [], [_error("ZeroDivisionError", "division by zero")]),
                     ("check(f)", ["exercise"], []),
                     ("check(g)", ["exercise"], [_error("NotImplementedError", "your code here", lines=9)]),
                     ("check(h)", ["exercise"], [_error("ExerciseNotDone", "h is not written yet.", lines=7)])])
    problems = course.check_student_notebook(bad)
    assert len(problems) == 4
    assert "raised ZeroDivisionError" in problems[0]
    assert "ran without error" in problems[1]
    assert "expected ExerciseNotDone, got NotImplementedError" in problems[2]
    assert "traceback" in problems[3]


@pytest.mark.slow
def test_student_check_executes_the_build(tiny_course, tmp_path):
    out = tmp_path / "student"
    assert course.run_student_check(out, preset="ci", folder=tiny_course) == 0
    executed = nbformat.read(out / "09_tiny.ipynb", as_version=4)
    error = [o for c in executed.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert [e["ename"] for e in error] == ["ExerciseNotDone"] and "multiply x by itself" in error[0]["evalue"]


@pytest.mark.slow
def test_a_chapter_that_times_out_is_reported_and_the_next_one_runs(tmp_path, capsys):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name, source in (("01_slow", "import time\ntime.sleep(30)"), ("02_quick", "x = 6 * 7\nx")):
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_code_cell(source))
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / f"{name}.ipynb")
    out = tmp_path / "run"
    assert course.run_all_notebooks(out, preset="ci", timeout=3, folder=folder) == 1
    assert "01_slow.ipynb failed (CellTimeoutError)" in capsys.readouterr().out
    timings = json.loads((out / "timings.json").read_text())["seconds"]
    assert sorted(timings) == ["01_slow.ipynb", "02_quick.ipynb"]
    quick = nbformat.read(out / "02_quick.ipynb", as_version=4)
    assert quick.cells[0].outputs[0]["data"]["text/plain"] == "42"


def test_colab_links_follow_the_one_setting(tiny_course, monkeypatch):
    monkeypatch.setattr(course, "course_settings",
                        lambda: {"repository": "https://github.com/school/ml-course", "branch": "spring"})
    assert course.sync_colab_links(tiny_course, check=True) == ["09_tiny.py"]
    assert course.sync_colab_links(tiny_course) == ["09_tiny.py"]
    text = (tiny_course / "09_tiny.py").read_text(encoding="utf-8")
    assert 'REPO = "https://github.com/school/ml-course"  # or your fork' in text
    assert ("(https://colab.research.google.com/github/school/ml-course/blob/spring/notebooks/09_tiny.ipynb)"
            in text)
    assert course.sync_colab_links(tiny_course, check=True) == []  # idempotent
    with pytest.raises(ValueError, match="not a GitHub address"):
        course.colab_url("https://gitlab.com/a/b", "main", "x.ipynb")


def test_the_course_sources_carry_the_configured_links():
    """The shipped chapters agree with pyproject's [tool.metalearn-edu] (run `metalearn-edu course links`)."""
    assert course.sync_colab_links(check=True) == []


def test_export_writes_pages_with_figures_and_panel_notes(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Chapter 9 — Tiny"))
    figure = nbformat.v4.new_code_cell("fig")
    figure.outputs = [nbformat.from_dict({"output_type": "display_data", "metadata": {},
                                          "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}})]
    panel = nbformat.v4.new_code_cell("panel")
    panel.outputs = [nbformat.from_dict({"output_type": "display_data", "metadata": {}, "data": {
        course.WIDGET_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0}, "text/plain": "VBox()"}})]
    nb.cells += [figure, panel]
    nbformat.write(nb, folder / "09_tiny.ipynb")
    files = course.export_site(tmp_path / "site", folder=folder, title="Test course")
    index, page = files
    assert "Chapter 9 — Tiny" in index.read_text() and 'href="09_tiny.html"' in index.read_text()
    html = page.read_text()
    assert "data:image/png;base64,iVBORw0KGgo=" in html and "An interactive panel" in html
