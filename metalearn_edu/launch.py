"""One-click launch: the course's Jupyter kernel, and links that open a chapter on Binder or a JupyterHub.

    metalearn-edu course hub-link --hub https://hub.example.edu --chapter 3

**The kernel.** ``bash scripts/course.sh setup`` (and Binder's ``binder/postBuild``) runs
``python -m ipykernel install --user --name metalearn-edu``: a kernel named ``metalearn-edu`` that
starts the course's Python, whichever JupyterLab opens the notebooks. The chapters name it in their
metadata; Colab does not know it and runs them in its own Python 3 (the notebooks' language).

**A JupyterHub** gets the course with nbgitpuller: the link clones the repository into the user's
home on first click (and pulls, keeping the student's changes, on later clicks), then opens the
chapter in JupyterLab. The hub needs ``nbgitpuller`` installed in its user image.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode, urlsplit

from . import course

KERNEL_NAME = "metalearn-edu"
KERNEL_DISPLAY_NAME = "Python (metalearn-edu)"


def _repository_parts(repository: str) -> tuple[str, str]:
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(\.git)?/?", repository)
    if match is None:
        raise ValueError(f"repository={repository!r} is not a GitHub address (https://github.com/OWNER/NAME)")
    return match.group(1), match.group(2)


def chapter_notebook(chapter: int | None) -> str | None:
    """The file name of chapter `chapter` in notebooks/ (None: no chapter, the folder itself)."""
    if chapter is None:
        return None
    names = {int(p.name[:2]): p.name for p in course.course_notebooks()}
    if chapter not in names:
        raise ValueError(f"chapter={chapter} is not a chapter of the course: use {min(names)}..{max(names)}")
    return names[chapter]


def hub_link(hub: str, chapter: int | None = None, repository: str | None = None,
             branch: str | None = None) -> str:
    """The nbgitpuller link that clones (or updates) the course on `hub` and opens `chapter` in JupyterLab.

    Args:
        hub: the JupyterHub's address, ``https://HOST[/PREFIX]`` (``http://`` is allowed for a hub on
            a private network).
        chapter: a chapter number; None opens the notebooks folder.
        repository, branch: default to ``[tool.metalearn-edu]`` in pyproject.toml.

    Example:
        >>> hub_link("https://hub.example.edu", 3, "https://github.com/school/course", "main")
        'https://hub.example.edu/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fschool%2Fcourse&branch=main&urlpath=lab%2Ftree%2Fcourse%2Fnotebooks%2F03_maml_on_sinusoids.ipynb'
    """
    parts = urlsplit(hub.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"hub={hub!r} must be the hub's address, http(s)://HOST[/PREFIX], "
                         "without a query or fragment")
    settings = course.course_settings()
    repository = (repository or settings["repository"]).rstrip("/")
    branch = branch or settings["branch"]
    _, name = _repository_parts(repository)
    notebook = chapter_notebook(chapter)
    path = f"{name}/notebooks" + (f"/{notebook}" if notebook else "")
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
    query = urlencode({"repo": repository, "branch": branch, "urlpath": f"lab/tree/{path}"}, quote_via=quote, safe="")
    return f"{base}/hub/user-redirect/git-pull?{query}"


def binder_link(chapter: int | None = None, repository: str | None = None, branch: str | None = None) -> str:
    """The mybinder.org link that builds the repository's ``binder/`` environment and opens `chapter`."""
    settings = course.course_settings()
    owner, name = _repository_parts((repository or settings["repository"]).rstrip("/"))
    notebook = chapter_notebook(chapter)
    path = "lab/tree/notebooks" + (f"/{notebook}" if notebook else "")
    return (f"https://mybinder.org/v2/gh/{owner}/{name}/{branch or settings['branch']}"
            f"?urlpath={quote(path, safe='')}")
