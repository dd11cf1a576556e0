"""The course as a whole: run every chapter, build the student version, export a static site, set Colab links.

    metalearn-edu course run --out runs/course          # execute every chapter headless (teachers' figures)
    metalearn-edu course student --out runs/student     # the student notebooks: exercises as stubs, no solutions
    metalearn-edu course student --check                # ... and run them: every check must refuse its stub
    metalearn-edu course export --out runs/site         # static HTML of the executed chapters, for a course page
    metalearn-edu course links                          # write the repository URL into every chapter's Colab cell

**One source, two builds.** A chapter's source is ``notebooks/NN_name.py`` (jupytext). Its executed
twin ``NN_name.ipynb`` is the teacher's version, which CI validates. In a solution cell (tagged
``solution``) the part a student must write sits between two marker lines::

    ### HINT: one sentence that helps        (optional)
    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

`build_student` replaces each such region by ``raise NotImplementedError("<hint>")`` at the same
indentation, keeps the check call after it, drops every output of the solution cells, and shows
their source (the teacher's version folds it away). A ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN
TESTS`` region after the check is dropped too: only the nbgrader build (`grading`) keeps it.
`is_exercise` (which cells are exercises) and `split_exercise` (the student's part and its check)
are shared by both builds.

**The repository URL is one setting**: ``[tool.metalearn-edu] repository`` in ``pyproject.toml``.
`sync_colab_links` writes it into each chapter's first (Colab) cell and its "Open in Colab" badge.
"""

from __future__ import annotations

import copy
import html
import json
import os
import re
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"  # nbgrader's markers
SOLUTION_TAG = "solution"
DEFAULT_REPOSITORY = "https://github.com/metalearn-edu/metalearn-edu"


def course_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The course's notebooks in order (file names start with their chapter number)."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def course_sources(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The chapters' jupytext sources, in order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.py"))


# ---------------------------------------------------------------------------------------
# Running the course
# ---------------------------------------------------------------------------------------
def run_all_notebooks(out_dir: Path, preset: str | None = None, timeout: int = 1800,
                      folder: Path = NOTEBOOKS_DIR) -> int:
    """Execute every notebook in `folder` in order; return 0 if all ran, 1 otherwise.

    Args:
        out_dir: where the executed copies go (created if needed), with ``timings.json`` (seconds per
            notebook, kernel start included).
        preset: "ci", "cpu" or "gpu" (sets ``$METALEARN_PRESET`` for the kernels).
        timeout: seconds allowed per cell.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from tqdm.auto import tqdm

    notebooks = course_notebooks(folder)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {folder}")
    if preset is not None:
        from .config import get_preset

        os.environ["METALEARN_PRESET"] = get_preset(preset).name
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed, seconds = [], {}
    for path in tqdm(notebooks, desc="course", unit="notebook"):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}})
        start = time.perf_counter()
        try:
            client.execute()
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:  # record it, run the next chapter
            failed.append(path.name)
            tqdm.write(f"{path.name} failed ({type(err).__name__}):\n{str(err)[:2000]}")
        seconds[path.name] = round(time.perf_counter() - start, 1)  # kernel start included
        tqdm.write(f"{path.name}: {seconds[path.name]:.0f} s")
        nbformat.write(nb, out_dir / path.name)
        (out_dir / "timings.json").write_text(json.dumps({"preset": os.environ.get("METALEARN_PRESET"),
                                                          "seconds": seconds}, indent=1) + "\n")
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}")
        return 1
    print(f"all {len(notebooks)} notebooks ran; executed copies are in {out_dir}")
    return 0


# ---------------------------------------------------------------------------------------
# The student build
# ---------------------------------------------------------------------------------------
def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace every ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region by a stub.

    Returns:
        The new source and the number of regions replaced.

    Raises:
        ValueError: for unbalanced markers (the message names `where`).

    Example:
        >>> src = "def f(x):\\n    ### HINT: square it\\n    ### BEGIN SOLUTION\\n    return x * x\\n    ### END SOLUTION\\nf(2)"
        >>> print(strip_solutions(src)[0])
        def f(x):
            raise NotImplementedError("square it")
        f(2)
    """
    out: list[str] = []
    inside, hidden, hint, count = False, False, "", 0
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped in (HIDDEN_BEGIN, HIDDEN_END) and not inside:  # hidden tests: nbgrader keeps them, students never see them
            if (stripped == HIDDEN_BEGIN) == hidden:
                raise ValueError(f"{where}: unbalanced '{stripped}'")
            hidden = stripped == HIDDEN_BEGIN
            continue
        if hidden:
            continue
        if stripped.startswith(HINT) and not inside:
            hint = stripped[len(HINT):].strip()
            continue
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}: '{BEGIN}' inside another solution region")
            inside, count = True, count + 1
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError({json.dumps(hint or 'your code here', ensure_ascii=False)})")
            hint = ""
            continue
        if stripped == END:
            if not inside:
                raise ValueError(f"{where}: '{END}' without '{BEGIN}'")
            inside = False
            continue
        if not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' without '{END}'")
    if hidden:
        raise ValueError(f"{where}: '{HIDDEN_BEGIN}' without '{HIDDEN_END}'")
    return "\n".join(out), count


def is_exercise(cell: Any) -> bool:
    """Whether `cell` is a coding exercise: a code cell tagged ``solution`` (the one rule both the
    student build and the nbgrader build use)."""
    return cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", [])


_CHECK_CALL = re.compile(r"check_\w+\(")
_HEADING = re.compile(r"\*\*(\d+)\.(\d+)\s+(★+)")


def split_exercise(source: str, where: str = "cell") -> tuple[str, str]:
    """Split an exercise cell into the student's part and its check.

    The check is everything from the first top-level ``check_...(`` line after the last
    ``### END SOLUTION`` (with any ``### BEGIN HIDDEN TESTS`` region after it); the student's part
    is the rest, markers included.

    Raises:
        ValueError: when the cell has no solution region or no check call after it (names `where`).

    Example:
        >>> split_exercise("def f(x):\\n    ### BEGIN SOLUTION\\n    return x\\n    ### END SOLUTION\\n\\n\\ncheck_f(f)")
        ('def f(x):\\n    ### BEGIN SOLUTION\\n    return x\\n    ### END SOLUTION', 'check_f(f)')
    """
    lines = source.split("\n")
    ends = [i for i, line in enumerate(lines) if line.strip() == END]
    if not ends:
        raise ValueError(f"{where}: an exercise cell needs a '{BEGIN}' … '{END}' region")
    start = next((i for i in range(ends[-1] + 1, len(lines))
                  if _CHECK_CALL.match(lines[i]) or lines[i].strip() == HIDDEN_BEGIN), None)
    if start is None:
        raise ValueError(f"{where}: an exercise cell needs its check_...(...) call at top level after '{END}'")
    return "\n".join(lines[:start]).rstrip(), "\n".join(lines[start:]).strip("\n")


def exercise_heading(cells: list[Any], index: int) -> tuple[str, int] | None:
    """The number ("0.2") and stars (1 to 3) of the exercise whose solution is ``cells[index]``:
    read from the nearest markdown cell above it that states an exercise (``**0.2 ★★ …**``)."""
    for cell in reversed(cells[:index]):
        if cell.cell_type == "markdown":
            match = _HEADING.search(cell.source)
            if match:
                return f"{match.group(1)}.{match.group(2)}", len(match.group(3))
    return None


def student_notebook(source: Path) -> tuple[Any, int]:
    """The student version of one chapter (a notebook without outputs) and its number of exercises."""
    import jupytext
    import nbformat

    nb = jupytext.read(source)
    total = 0
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        if is_exercise(cell):
            cell.source, n = strip_solutions(cell.source, f"{source.name}, cell {i}")
            total += n
            cell.metadata.pop("jupyter", None)  # show the stub: the teacher's version folds the source away
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG] + ["exercise"]
    nb.metadata.pop("jupytext", None)
    return nbformat.from_dict(nb), total


def build_student(out_dir: Path, folder: Path = NOTEBOOKS_DIR) -> dict[str, int]:
    """Write the student notebooks (and nothing else) to `out_dir`; return exercises per chapter."""
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for source in course_sources(folder):
        nb, n = student_notebook(source)
        nbformat.write(nb, out_dir / f"{source.stem}.ipynb")
        counts[source.stem] = n
    return counts


def check_student_notebook(nb: Any) -> list[str]:
    """What is wrong with an *executed* student notebook (empty when nothing is).

    Every exercise cell (tag ``exercise``) must stop with `ExerciseNotDone` and a one-line message
    (its check refused the stub: the student sees that message, not a traceback through the
    library); no other cell may raise.
    """
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        first_line = cell.source.strip().split("\n")[0][:60]
        if "exercise" in cell.metadata.get("tags", []):
            if not errors:
                problems.append(f"cell {i} ({first_line!r}): the exercise ran without error on its stub")
            elif errors[0]["ename"] != "ExerciseNotDone":
                problems.append(f"cell {i} ({first_line!r}): expected ExerciseNotDone, got {errors[0]['ename']}: "
                                f"{errors[0]['evalue'][:200]}")
            elif len(errors[0].get("traceback", [])) > 1 or not errors[0]["evalue"].strip():
                problems.append(f"cell {i} ({first_line!r}): the message is a traceback, not one helpful line")
        elif errors:
            problems.append(f"cell {i} ({first_line!r}) raised {errors[0]['ename']}: {errors[0]['evalue'][:200]}")
    return problems


def run_student_check(out_dir: Path, preset: str | None = "ci", timeout: int = 1800,
                      folder: Path = NOTEBOOKS_DIR) -> int:
    """Build the student notebooks into `out_dir`, execute them (errors allowed) and check each
    (`check_student_notebook`); the executed copies stay in `out_dir`. Returns 0 when all pass."""
    import nbformat
    from nbclient import NotebookClient
    from tqdm.auto import tqdm

    if preset is not None:
        from .config import get_preset

        os.environ["METALEARN_PRESET"] = get_preset(preset).name
    counts = build_student(out_dir, folder)
    failed = 0
    for name in tqdm(counts, desc="student build", unit="notebook"):
        path = Path(out_dir) / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
        nbformat.write(nb, path)
        problems = check_student_notebook(nb)
        exercises = sum("exercise" in c.metadata.get("tags", []) for c in nb.cells)
        if problems:
            failed += 1
            tqdm.write(f"{name}: " + "; ".join(problems))
        else:
            tqdm.write(f"{name}: {exercises} exercise cell(s), each refused its stub with ExerciseNotDone")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------
# A static site of the executed chapters
# ---------------------------------------------------------------------------------------
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def _static_copy(nb: Any) -> Any:
    """The notebook for HTML: widget outputs become a note (their static figure is in the cell above)."""
    import nbformat

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # the saved widget state: without it no page loads a widget manager from a CDN
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if any(WIDGET_MIME in out.get("data", {}) for out in cell.get("outputs", [])):
            cell.outputs = [nbformat.from_dict({"output_type": "display_data", "metadata": {}, "data": {
                "text/html": "<p><i>An interactive panel: open the notebook in JupyterLab or Colab to use it. "
                             "The figure above is its starting picture.</i></p>",
                "text/plain": "(interactive panel)"}})]
    return nb


def export_site(out_dir: Path, folder: Path = NOTEBOOKS_DIR, title: str = "metalearn-edu") -> list[Path]:
    """HTML pages of the executed chapters (figures embedded) and an index page; returns the files written."""
    import nbformat
    from nbconvert import HTMLExporter

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    written, entries = [], []
    for path in course_notebooks(folder):
        nb = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(_static_copy(nb))
        target = out_dir / f"{path.stem}.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
        heading = next((c.source.lstrip("# ").split("\n")[0] for c in nb.cells
                        if c.cell_type == "markdown" and c.source.startswith("# ")), path.stem)
        entries.append(f'<li><a href="{target.name}">{html.escape(heading)}</a></li>')
    index = out_dir / "index.html"
    index.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
                     f"<body><h1>{html.escape(title)}</h1><ol>{''.join(entries)}</ol></body></html>\n",
                     encoding="utf-8")
    return [index, *written]


# ---------------------------------------------------------------------------------------
# Colab
# ---------------------------------------------------------------------------------------
def course_settings(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """``[tool.metalearn-edu]`` of pyproject.toml: the repository URL and branch the Colab cells use."""
    import tomllib

    data = tomllib.loads(pyproject.read_text(encoding="utf-8")) if pyproject.is_file() else {}
    settings = data.get("tool", {}).get("metalearn-edu", {})
    return {"repository": settings.get("repository", DEFAULT_REPOSITORY).rstrip("/"),
            "branch": settings.get("branch", "main")}


def colab_url(repository: str, branch: str, notebook: str) -> str:
    """The "Open in Colab" address of `notebook` (a file name in notebooks/) on GitHub."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(\.git)?", repository)
    if match is None:
        raise ValueError(f"repository={repository!r} is not a GitHub address (https://github.com/OWNER/NAME); "
                         "Colab opens notebooks from GitHub")
    return f"https://colab.research.google.com/github/{match.group(1)}/blob/{branch}/notebooks/{notebook}"


_REPO_LINE = re.compile(r'^(\s*REPO = )"[^"]*"(.*)$', re.M)
_BADGE = re.compile(r"^# \[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)$", re.M)
_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def sync_colab_links(folder: Path = NOTEBOOKS_DIR, check: bool = False) -> list[str]:
    """Write the repository setting into every chapter source's Colab cell and badge.

    Args:
        check: only report the chapters that are out of date (used by the tests), change nothing.

    Returns:
        The names of the sources that were (or would be) changed.
    """
    settings = course_settings()
    changed = []
    for source in course_sources(folder):
        text = source.read_text(encoding="utf-8")
        badge = f"# [![Open In Colab]({_BADGE_IMAGE})]({colab_url(settings['repository'], settings['branch'], source.stem + '.ipynb')})"
        new = _REPO_LINE.sub(lambda m: f'{m.group(1)}"{settings["repository"]}"{m.group(2)}', text)
        new = _BADGE.sub(lambda m: badge, new) if _BADGE.search(new) else _add_badge(new, badge)
        if new != text:
            changed.append(source.name)
            if not check:
                source.write_text(new, encoding="utf-8")
    return changed


def _add_badge(text: str, badge: str) -> str:
    """Put the badge under the chapter's title (the first markdown heading)."""
    match = re.search(r"^# # .*$", text, re.M)
    if match is None:
        return text
    return text[: match.end()] + "\n#\n" + badge + text[match.end():]
