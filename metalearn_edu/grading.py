"""The course as an nbgrader course directory, and nbgrader's round trip on it.

    metalearn-edu course nbgrader --out runs/nbgrader                     # every chapter
    metalearn-edu course nbgrader --out runs/nbgrader --chapters 0,4 --check
                                     # ... and autograde a solved and a stub submission (needs the [grading] extra)

**Cell mapping.** Each chapter becomes one assignment, ``source/<chapter>/<chapter>.ipynb``, built
from the same jupytext source and the same rule (`course.is_exercise`) as the student build:

* each exercise cell is split (`course.split_exercise`) into a **solution cell** (the student's
  part, its ``### BEGIN SOLUTION`` region is what nbgrader replaces by a stub; editable) and an
  **autograded check cell** (the ``check_...(...)`` call; read-only; worth as many points as the
  exercise has stars, ★ to ★★★). A ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` region
  after the check goes into the check cell, where nbgrader hides it from the released notebook and
  puts it back for autograding (the student build drops it);
* every markdown cell is **read-only** (the chapter's text and the exercises' statements);
* the other code cells stay as they are (students run and change the experiments).

Outputs are dropped. Grade ids: ``ex0_2-answer`` and ``ex0_2-check`` for exercise 0.2, ``text-N``
for the N-th markdown cell.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import course

COURSE_ID = "metalearn-edu"
SCHEMA_VERSION = 3  # nbgrader's cell metadata schema (nbgrader 0.6 and later)

CONFIG = '''\
# nbgrader's configuration for the metalearn-edu course (written by `metalearn-edu course nbgrader`).
# Run nbgrader from this folder. Autograding executes each notebook in the kernel its metadata
# names ("metalearn-edu", installed by `bash scripts/course.sh setup`); set METALEARN_PRESET
# (ci, cpu or gpu) in nbgrader's environment to choose the preset the chapters run with.
c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.course_id = "metalearn-edu"
# The course's markers are nbgrader's own: ### BEGIN SOLUTION / ### END SOLUTION (and hidden tests).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
# A cell may run 10 minutes (the cpu preset's longest takes about 2); one that hangs is interrupted
# and its exercise scores zero, instead of stalling the whole class's grading.
c.Execute.timeout = 600
'''


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, locked: bool = False,
          points: int | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"grade": grade, "grade_id": grade_id, "locked": locked,
                            "schema_version": SCHEMA_VERSION, "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def nbgrader_notebook(source: Path) -> tuple[Any, list[dict[str, Any]]]:
    """The nbgrader source notebook of one chapter, and its exercises.

    Returns:
        The notebook and one dict per exercise, in order: ``number`` ("0.2"), ``answer`` and
        ``check`` (grade ids), ``points``, ``hidden`` (whether its check has hidden tests) and
        ``cell`` (the index of the exercise cell in the chapter source, as the student build counts).
    """
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    cells, exercises, texts = [], [], 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            texts += 1
            cell.metadata["nbgrader"] = _meta(f"text-{texts}", locked=True)
            cells.append(cell)
            continue
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        cell.outputs, cell.execution_count = [], None
        if not course.is_exercise(cell):
            cells.append(cell)
            continue
        where = f"{source.name}, cell {i}"
        answer, check = course.split_exercise(cell.source, where)
        heading = course.exercise_heading(nb.cells, i)
        number, stars = heading if heading else (check.split("(", 1)[0].removeprefix("check_"), 1)
        key = "ex" + number.replace(".", "_")
        tags = [t for t in cell.metadata.get("tags", []) if t != course.SOLUTION_TAG]
        solution = nbformat.v4.new_code_cell(answer, metadata={"tags": tags} if tags else {})
        solution.metadata["nbgrader"] = _meta(f"{key}-answer", solution=True)
        test = nbformat.v4.new_code_cell(check)
        test.metadata["nbgrader"] = _meta(f"{key}-check", grade=True, locked=True, points=stars)
        cells += [solution, test]
        exercises.append({"number": number, "answer": f"{key}-answer", "check": f"{key}-check", "points": stars,
                          "hidden": course.HIDDEN_BEGIN in check, "cell": i})
    nb.cells = cells
    nb.metadata.pop("jupytext", None)
    return nbformat.from_dict(nb), exercises


def select_chapters(chapters: str | None, folder: Path = course.NOTEBOOKS_DIR) -> list[Path]:
    """The chapter sources named by `chapters` ("0,4": chapter numbers; None: all)."""
    sources = course.course_sources(folder)
    if chapters is None:
        return sources
    by_number = {int(p.name[:2]): p for p in sources}
    chosen = []
    for part in chapters.split(","):
        try:
            number = int(part)
        except ValueError:
            number = None
        if number not in by_number:
            raise ValueError(f"chapters={chapters!r}: each entry must be a chapter number in "
                             f"{min(by_number)}..{max(by_number)}, comma-separated (got {part!r})")
        chosen.append(by_number[number])
    return chosen


def write_course(out_dir: Path, sources: list[Path] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Write an nbgrader course directory: ``nbgrader_config.py`` and ``source/<chapter>/<chapter>.ipynb``.

    Returns:
        The exercises of each chapter written (see `nbgrader_notebook`).
    """
    import nbformat

    out_dir = Path(out_dir)
    (out_dir / "source").mkdir(parents=True, exist_ok=True)
    (out_dir / "nbgrader_config.py").write_text(CONFIG, encoding="utf-8")
    written = {}
    for source in course.course_sources() if sources is None else sources:
        nb, exercises = nbgrader_notebook(source)
        folder = out_dir / "source" / source.stem
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / f"{source.stem}.ipynb")
        written[source.stem] = exercises
    return written


# ---------------------------------------------------------------------------------------
# The round trip with the real nbgrader
# ---------------------------------------------------------------------------------------
def run_nbgrader(course_dir: Path, *args: str) -> None:
    """Run ``nbgrader ARGS`` in `course_dir` (the nbgrader of this Python); raise with its log on failure."""
    # nbgrader calls `alembic` (its database migrations) by name: this Python's scripts come first on PATH
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}")


def submit(course_dir: Path, assignment: str, student: str, solved: bool) -> Path:
    """Put a submission of `assignment` by `student` in ``submitted/``: the released notebook, with the
    source's solutions written into its solution cells when `solved` (what a student who did every
    exercise hands in), as it was released otherwise (the stub)."""
    import nbformat

    released = nbformat.read(course_dir / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    if solved:
        source = nbformat.read(course_dir / "source" / assignment / f"{assignment}.ipynb", as_version=4)
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                   if c.metadata.get("nbgrader", {}).get("solution")}
        for cell in released.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in answers:
                cell.source = answers[grade_id]
    target = course_dir / "submitted" / student / assignment / f"{assignment}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(released, target)
    return target


def gradebook_scores(course_dir: Path, assignment: str) -> dict[str, dict[str, Any]]:
    """Scores read from nbgrader's gradebook (``gradebook.db``): per student, the notebook's ``score``
    and ``max_score`` and each graded cell's ``cells[grade_id] = (score, max_score)``."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(f"sqlite:///{Path(course_dir) / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for submission in gb.assignment_submissions(assignment):
            nb = gb.find_submission_notebook(assignment, assignment, submission.student_id)
            scores[submission.student_id] = {
                "score": nb.score, "max_score": nb.max_score,
                "cells": {g.name: (g.score, g.max_score) for g in nb.grades}}
    return scores


def round_trip(course_dir: Path, assignments: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """nbgrader's whole cycle on a course directory written by `write_course`: generate each
    assignment, submit it solved (student ``solved``) and as released (student ``stub``), autograde
    both, and read the scores from the gradebook. Returns ``{assignment: gradebook_scores(...)}``."""
    course_dir = Path(course_dir)
    shutil.rmtree(course_dir / "submitted", ignore_errors=True)
    shutil.rmtree(course_dir / "autograded", ignore_errors=True)
    (course_dir / "gradebook.db").unlink(missing_ok=True)
    results = {}
    for assignment in assignments:
        run_nbgrader(course_dir, "generate_assignment", assignment, "--force")
        for student, solved in (("solved", True), ("stub", False)):
            submit(course_dir, assignment, student, solved)
        run_nbgrader(course_dir, "autograde", assignment, "--create", "--force")
        results[assignment] = gradebook_scores(course_dir, assignment)
    return results


def check_round_trip(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """What is wrong with `round_trip`'s scores (empty when nothing is): the solved submission must
    get every point, the stub none on any check."""
    problems = []
    for assignment, students in results.items():
        solved, stub = students.get("solved"), students.get("stub")
        if solved is None or stub is None:
            problems.append(f"{assignment}: the gradebook has no {'solved' if solved is None else 'stub'} submission")
            continue
        if not solved["max_score"]:
            problems.append(f"{assignment}: no graded cell")
        for cell, (score, max_score) in solved["cells"].items():
            if score != max_score:
                problems.append(f"{assignment}: the solved submission got {score} of {max_score} on {cell}")
        for cell, (score, max_score) in stub["cells"].items():
            if score != 0:
                problems.append(f"{assignment}: the stub got {score} of {max_score} on {cell}")
    return problems


def summary(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One line per assignment and student: score / max score."""
    return "\n".join(f"{assignment}: {student} {s['score']:g} / {s['max_score']:g}"
                     for assignment, students in results.items() for student, s in sorted(students.items()))


def main_check(out_dir: Path, sources: list[Path]) -> int:
    """Write the course, run the round trip, print the scores; 0 when they are right."""
    written = write_course(out_dir, sources)
    results = round_trip(out_dir, list(written))
    print(summary(results))
    (Path(out_dir) / "scores.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    problems = check_round_trip(results)
    for problem in problems:
        print(problem)
    return 1 if problems else 0
