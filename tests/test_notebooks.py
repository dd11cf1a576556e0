"""Notebooks: each .ipynb is the executed twin of its jupytext .py source.

The reviewable source of a chapter is ``notebooks/NN_name.py`` (jupytext py:percent); the
paired ``.ipynb`` carries the stored outputs that GitHub and students see. nbval (run by
``scripts/course.sh test``) re-executes the .ipynb and compares outputs, which catches stale
outputs; this test catches a .py edited without re-syncing, and a notebook saved unexecuted.
Fix either with: ``jupytext --sync notebooks/NN_name.py`` then re-execute (see README).
"""

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
import nbformat  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_notebook_has_a_source_and_vice_versa():
    ipynbs = {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert ipynbs == {p.stem for p in SOURCES}, "each NN_name.ipynb needs its NN_name.py twin and back"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_matches_its_source(source):
    from_py = jupytext.read(source)
    stored = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert _cells(stored) == _cells(from_py), (
        f"{source.with_suffix('.ipynb').name} is out of sync with {source.name}: "
        f"run `jupytext --sync {source.relative_to(NOTEBOOKS.parent)}` and re-execute the notebook")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_stored_executed(source):
    stored = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    code = [c for c in stored.cells if c.cell_type == "code" and c.source.strip()]
    unexecuted = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unexecuted, f"{source.stem}.ipynb has unexecuted code cells {unexecuted}; execute it before committing"
