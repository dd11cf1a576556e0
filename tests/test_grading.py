"""Tests of `metalearn_edu.grading`: the nbgrader course directory, and nbgrader's real round trip on it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from metalearn_edu import course, grading

from test_course import CHAPTER

# The tiny chapter of test_course, with an exercise heading (its stars are the points) and a hidden
# test after the check: square(-2) must be 4, which the visible check (3 → 9) does not try.
GRADED_CHAPTER = CHAPTER.replace(
    '# %% tags=["solution"]',
    '# %% [markdown]\n# **9.1 ★★ Squares.** Write `square(x)`.\n\n# %% tags=["solution"]',
).rstrip("\n") + "\n### BEGIN HIDDEN TESTS\nassert square(-2) == 4, 'negative numbers square to positive ones'\n### END HIDDEN TESTS\n"


@pytest.fixture()
def graded_course(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (folder / "09_tiny.py").write_text(GRADED_CHAPTER, encoding="utf-8")
    return folder


def _nbgrader_cells(nb):
    return [(c.cell_type, c.metadata.get("nbgrader", {})) for c in nb.cells]


def test_each_exercise_becomes_a_solution_cell_and_a_locked_check_with_its_stars(graded_course):
    nb, exercises = grading.nbgrader_notebook(graded_course / "09_tiny.py")
    assert exercises == [{"number": "9.1", "answer": "ex9_1-answer", "check": "ex9_1-check", "points": 2,
                          "hidden": True, "cell": 4}]
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    answer, check = by_id["ex9_1-answer"], by_id["ex9_1-check"]
    assert answer.metadata["nbgrader"] | {} == {"grade": False, "grade_id": "ex9_1-answer", "locked": False,
                                                "schema_version": 3, "solution": True, "task": False}
    assert course.BEGIN in answer.source and "return x * x" in answer.source and "check_square" not in answer.source
    assert check.metadata["nbgrader"] == {"grade": True, "grade_id": "ex9_1-check", "locked": True, "points": 2,
                                          "schema_version": 3, "solution": False, "task": False}
    assert check.source.startswith("check_square(square)") and course.HIDDEN_BEGIN in check.source
    assert nb.cells.index(check) == nb.cells.index(answer) + 1
    # every markdown cell is read-only; the other code cells are left to the student
    markdown = [meta for kind, meta in _nbgrader_cells(nb) if kind == "markdown"]
    assert markdown and all(m["locked"] and not m["grade"] and not m["solution"] for m in markdown)
    plain = [c for c in nb.cells if c.cell_type == "code" and "nbgrader" not in c.metadata]
    assert len(plain) == 2 and all(c.outputs == [] for c in plain)
    ids = [m["grade_id"] for _, m in _nbgrader_cells(nb) if m]
    assert len(ids) == len(set(ids))
    nbformat.validate(nb)


def test_the_student_build_drops_hidden_tests(graded_course):
    nb, n = course.student_notebook(graded_course / "09_tiny.py")
    exercise = next(c for c in nb.cells if "exercise" in c.metadata.get("tags", []))
    assert n == 1 and "square(-2)" not in exercise.source and "HIDDEN" not in exercise.source
    assert exercise.source.rstrip().endswith("check_square(square)")
    with pytest.raises(ValueError, match="09_tiny.py, cell 2: '### BEGIN HIDDEN TESTS' without"):
        course.strip_solutions("x\n### BEGIN HIDDEN TESTS\nassert x", "09_tiny.py, cell 2")


def _lines(source: str) -> list[str]:
    return [line for line in source.split("\n") if line.strip()]


@pytest.mark.parametrize("source", course.course_sources(), ids=lambda p: p.stem)
def test_student_and_nbgrader_builds_agree_on_the_exercises(source):
    """The same cells are exercises in both builds, and the nbgrader pair is the student cell, unstubbed."""
    student, count = course.student_notebook(source)
    nb, exercises = grading.nbgrader_notebook(source)
    student_exercises = [i for i, c in enumerate(student.cells) if "exercise" in c.metadata.get("tags", [])]
    assert [e["cell"] for e in exercises] == student_exercises and len(exercises) == count > 0
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}
    for exercise, index in zip(exercises, student_exercises):
        pair = by_id[exercise["answer"]].source + "\n" + by_id[exercise["check"]].source
        assert _lines(course.strip_solutions(pair)[0]) == _lines(student.cells[index].source)
        assert 1 <= exercise["points"] <= 3
    assert len({e["number"] for e in exercises}) == len(exercises)
    assert all(e["number"].startswith(str(int(source.name[:2])) + ".") for e in exercises)


def test_split_exercise_needs_a_check_after_the_solution():
    with pytest.raises(ValueError, match="07_x.py, cell 5: an exercise cell needs its check_"):
        course.split_exercise("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\nf()", "07_x.py, cell 5")
    with pytest.raises(ValueError, match="needs a '### BEGIN SOLUTION'"):
        course.split_exercise("check_f(f)", "07_x.py, cell 5")


def test_select_chapters_names_the_range():
    assert [p.name[:2] for p in grading.select_chapters("0,4")] == ["00", "04"]
    last = max(int(p.name[:2]) for p in course.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))  # the course's last chapter
    with pytest.raises(ValueError, match=rf"chapters='0,{last + 1}'.*in 0\.\.{last}\b"):
        grading.select_chapters(f"0,{last + 1}")
    with pytest.raises(ValueError, match="got 'x'"):
        grading.select_chapters("x")


def test_write_course_lays_out_nbgrader_folders(tmp_path):
    written = grading.write_course(tmp_path / "course", grading.select_chapters("0"))
    assert list(written) == ["00_welcome"]
    assert (tmp_path / "course" / "source" / "00_welcome" / "00_welcome.ipynb").is_file()
    config = (tmp_path / "course" / "nbgrader_config.py").read_text()
    assert 'c.CourseDirectory.course_id = "metalearn-edu"' in config
    compile(config, "nbgrader_config.py", "exec")


@pytest.mark.slow
def test_nbgrader_round_trip_grades_solution_stub_and_hidden_tests(graded_course, tmp_path):
    """The real nbgrader: generate, submit, autograde; scores read back from its gradebook."""
    pytest.importorskip("nbgrader", reason="nbgrader is not installed (pip install -e '.[grading]'; CI does)")
    out = tmp_path / "course"
    grading.write_course(out, [graded_course / "09_tiny.py"])
    grading.run_nbgrader(out, "generate_assignment", "09_tiny", "--force")
    released = nbformat.read(out / "release" / "09_tiny" / "09_tiny.ipynb", as_version=4)
    release_text = "\n".join(c.source for c in released.cells)
    assert "return x * x" not in release_text and "square(-2)" not in release_text  # solution and hidden test gone
    assert "check_square(square)" in release_text
    grading.submit(out, "09_tiny", "solved", solved=True)
    grading.submit(out, "09_tiny", "stub", solved=False)
    # passes the visible check (3 → 9) but not the hidden test (-2 → 4)
    cheat = grading.submit(out, "09_tiny", "visible_only", solved=False)
    nb = nbformat.read(cheat, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "def square(x):\n    return 9 if x == 3 else x"
    nbformat.write(nb, cheat)
    grading.run_nbgrader(out, "autograde", "09_tiny", "--create", "--force")

    scores = grading.gradebook_scores(out, "09_tiny")
    assert scores["solved"]["score"] == scores["solved"]["max_score"] == 2
    assert scores["stub"]["score"] == 0 and scores["stub"]["cells"]["ex9_1-check"] == (0, 2)
    assert scores["visible_only"]["score"] == 0
    autograded = nbformat.read(out / "autograded" / "solved" / "09_tiny" / "09_tiny.ipynb", as_version=4)
    assert any("square(-2)" in c.source for c in autograded.cells)  # nbgrader put the hidden test back
    assert grading.check_round_trip({"09_tiny": {k: scores[k] for k in ("solved", "stub")}}) == []
    assert grading.check_round_trip({"09_tiny": {"solved": scores["visible_only"], "stub": scores["stub"]}}) == [
        "09_tiny: the solved submission got 0.0 of 2.0 on ex9_1-check"]
