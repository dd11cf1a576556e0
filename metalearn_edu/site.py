"""The course website: a Jupyter Book of the executed chapters and the teaching guide.

    metalearn-edu course book --out runs/book                       # write the book's source
    metalearn-edu course book --out runs/book --build --hub URL     # ... and build it (runs/book/_build/html)

**Jupyter Book 1 (Sphinx), not 2.** Jupyter Book 2 (MyST, node based) asks api.mystmd.org for its
``book-theme`` template and downloads it on every fresh build, so it cannot build without internet;
Jupyter Book 1 with sphinx-book-theme ships its theme in the wheel, and ``sphinx-mathjax-offline``
puts MathJax into the site itself, so the pages render equations without reaching any server.
Jupyter Book 1 pins an older ``markdown-it-py`` than the course's jupytext uses, so it lives in its
own environment (``scripts/course.sh`` builds ``.venv-site``); this module only writes files.

One page per chapter from the executed ``.ipynb`` (nothing is executed again: figures and printed
results are the ones CI checks; an interactive panel becomes a note, its starting figure is in the
cell above), the teaching guide, a start page with the three ways to run the course, navigation,
full-text search, and launch buttons: Colab, Binder, and a JupyterHub through nbgitpuller (when
`hub` is given).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from . import course, launch

START = """\
# {title}

A course, in notebooks, on meta-learning for NLP pretraining: a BERT-style encoder built from
scratch, pretrained with masked-language modelling, then taught to *learn to learn* with MAML and
Reptile, on sinusoids and on text.

Each chapter page shows the executed notebook: its text, equations, code, figures and printed
results. To run a chapter, use the rocket button at the top of its page:

* **Colab**: opens the notebook; its first cell installs the course (run it, restart once, run all).
* **Binder**: builds the course's environment (`binder/`) and opens the chapter in JupyterLab.
{hub_line}
On your own machine: `bash scripts/course.sh lab` in a clone of
[the repository]({repository}). Teachers: see the [teaching guide](docs/teaching.md).

```{{tableofcontents}}
```
"""


_COLAB_BADGE = re.compile(r"^\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)\n?", re.M)


def _config(title: str, repository: str, branch: str, hub: str | None, ext_dir: str) -> str:
    launch_buttons = {"notebook_interface": "jupyterlab", "binderhub_url": "https://mybinder.org",
                      "colab_url": "https://colab.research.google.com"}
    if hub:
        launch_buttons["jupyterhub_url"] = hub.rstrip("/")
    config = {
        "title": title,
        "author": "the metalearn-edu authors",
        "only_build_toc_files": True,
        "execute": {"execute_notebooks": "off"},  # the stored outputs are the executed, CI-checked ones
        "repository": {"url": repository, "branch": branch, "path_to_book": ""},
        "launch_buttons": launch_buttons,
        "html": {"use_repository_button": True, "use_issues_button": False, "use_edit_page_button": False},
        "parse": {"myst_enable_extensions": ["dollarmath", "amsmath", "colon_fence"]},
        "sphinx": {"extra_extensions": ["sphinx-mathjax-offline"],  # MathJax 3 copied into _static/
                   "local_extensions": {"book_ext": ext_dir},
                   "config": {"html_show_copyright": False, "nb_merge_streams": True}},
    }
    return json.dumps(config, indent=1, ensure_ascii=False) + "\n"  # JSON is YAML


def write_book(out_dir: Path, folder: Path = course.NOTEBOOKS_DIR, hub: str | None = None,
               teaching: Path = course.ROOT / "docs" / "teaching.md", title: str = "metalearn-edu") -> list[Path]:
    """Write a Jupyter Book's source into `out_dir`; return the chapter pages written.

    The chapters keep their paths in the repository (``notebooks/NN_name.ipynb``) and the guide its
    own (``docs/teaching.md``), so the launch buttons point at the real files.
    """
    import nbformat

    if hub:
        launch.hub_link(hub)  # the same check of the address as the hub-link command
    settings = course.course_settings()
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir / "notebooks", ignore_errors=True)
    (out_dir / "notebooks").mkdir(parents=True)
    (out_dir / "docs").mkdir(exist_ok=True)
    pages = []
    for path in course.course_notebooks(folder):
        nb = course._static_copy(nbformat.read(path, as_version=4))
        for cell in nb.cells:  # the page has its own Colab button; the badge's image is not on this site
            if cell.cell_type == "markdown":
                cell.source = _COLAB_BADGE.sub("", cell.source)
        target = out_dir / "notebooks" / path.name
        nbformat.write(nb, target)
        pages.append(target)
    if not pages:
        raise FileNotFoundError(f"no notebooks named NN_*.ipynb in {folder}")
    shutil.copy2(teaching, out_dir / "docs" / "teaching.md")
    for image in teaching.parent.glob("*.png"):  # figures the guide may show
        shutil.copy2(image, out_dir / "docs" / image.name)
    hub_line = ("* **Your JupyterHub**: clones the course into your home (nbgitpuller) and opens the chapter.\n"
                if hub else "")
    (out_dir / "intro.md").write_text(START.format(title=title, repository=settings["repository"],
                                                   hub_line=hub_line), encoding="utf-8")
    toc = ["format: jb-book", "root: intro", "parts:", "- caption: Chapters", "  chapters:"]
    toc += [f"  - file: notebooks/{p.stem}" for p in pages]
    toc += ["- caption: For teachers", "  chapters:", "  - file: docs/teaching"]
    (out_dir / "_toc.yml").write_text("\n".join(toc) + "\n", encoding="utf-8")
    (out_dir / "_ext").mkdir(exist_ok=True)  # the book's own Sphinx extension (see book_ext.py), alone in its folder
    shutil.copy2(Path(__file__).with_name("book_ext.py"), out_dir / "_ext" / "book_ext.py")
    (out_dir / "_config.yml").write_text(_config(title, settings["repository"], settings["branch"], hub,
                                                 str((out_dir / "_ext").resolve())), encoding="utf-8")
    return pages


def build_book(out_dir: Path, jupyter_book: str = "jupyter-book") -> Path:
    """Run ``jupyter-book build`` on a source written by `write_book`; return the HTML folder.

    Args:
        jupyter_book: the command (``scripts/course.sh`` passes the one in ``.venv-site``).
    """
    out_dir = Path(out_dir)
    done = subprocess.run([jupyter_book, "build", str(out_dir), "--all", "--keep-going"],
                          capture_output=True, text=True)
    (out_dir / "build.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise RuntimeError(f"jupyter-book build failed ({done.returncode}); see {out_dir / 'build.log'}:\n"
                           f"{(done.stdout + done.stderr)[-3000:]}")
    return out_dir / "_build" / "html"
