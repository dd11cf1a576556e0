"""Run the whole course headless: every notebook, in order, with a progress bar.

`metalearn-edu course --out runs/course` (or `bash scripts/course.sh run-all`) executes each
``notebooks/NN_*.ipynb`` with the chosen preset and writes the executed copy to the output
folder, for teachers who want the figures rendered for their own hardware.
"""

from __future__ import annotations

import os
from pathlib import Path

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def course_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The course's notebooks in order (file names start with their chapter number)."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def run_all_notebooks(out_dir: Path, preset: str | None = None, timeout: int = 1800,
                      folder: Path = NOTEBOOKS_DIR) -> int:
    """Execute every notebook in `folder` in order; return 0 if all ran, 1 otherwise.

    Args:
        out_dir: where the executed copies go (created if needed).
        preset: "ci", "cpu" or "gpu" (sets ``$METALEARN_PRESET`` for the kernels).
        timeout: seconds allowed per cell.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from tqdm.auto import tqdm

    notebooks = course_notebooks(folder)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {folder}")
    if preset is not None:
        from .config import get_preset

        os.environ["METALEARN_PRESET"] = get_preset(preset).name
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for path in tqdm(notebooks, desc="course", unit="notebook"):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(folder)}})
        try:
            client.execute()
        except CellExecutionError as err:
            failed.append(path.name)
            tqdm.write(f"{path.name} failed:\n{str(err)[:2000]}")
        nbformat.write(nb, out_dir / path.name)
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}")
        return 1
    print(f"all {len(notebooks)} notebooks ran; executed copies are in {out_dir}")
    return 0
