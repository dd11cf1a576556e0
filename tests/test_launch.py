"""Tests of `metalearn_edu.launch` and the launch set-up: the kernel, the hub and Binder links, the
Binder environment (installed into a fresh venv), and the website's source."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest

from metalearn_edu import course, launch, site
from metalearn_edu.cli import main

ROOT = Path(__file__).resolve().parents[1]
REPO = "https://github.com/school/ml-course"


def test_hub_link_is_an_nbgitpuller_link_to_the_chapter():
    link = launch.hub_link("https://hub.uni.edu/jupyter/", 5, REPO, "spring")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "hub.uni.edu", "/jupyter/hub/user-redirect/git-pull")
    query = parse_qs(parts.query, strict_parsing=True)
    assert query == {"repo": [REPO], "branch": ["spring"], "urlpath": ["lab/tree/ml-course/notebooks/05_few_shot_text.ipynb"]}
    assert "/" not in parts.query.split("urlpath=")[1]  # the path is one encoded query value
    folder = parse_qs(urlsplit(launch.hub_link("http://10.0.0.5:8000", None, REPO, "main")).query)
    assert folder["urlpath"] == ["lab/tree/ml-course/notebooks"]


def test_hub_link_defaults_to_the_course_setting():
    settings = course.course_settings()
    query = parse_qs(urlsplit(launch.hub_link("https://hub.example.org", 0)).query)
    assert query["repo"] == [settings["repository"]] and query["branch"] == [settings["branch"]]


@pytest.mark.parametrize("hub,message", [
    ("hub.example.org", r"must be the hub.s address, http\(s\)://HOST"),
    ("ftp://hub.example.org", "must be the hub's address"),
    ("https://hub.example.org/?next=x", "without a query"),
])
def test_hub_link_refuses_what_is_not_a_hub_address(hub, message):
    with pytest.raises(ValueError, match=message) as err:
        launch.hub_link(hub, 0)
    assert str(err.value).startswith(f"hub={hub!r}")


LAST = max(int(p.name[:2]) for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.py"))


def test_chapter_out_of_range_names_the_range():
    with pytest.raises(ValueError, match=rf"chapter={LAST + 1} is not a chapter of the course: use 0\.\.{LAST}\b"):
        launch.hub_link("https://hub.example.org", LAST + 1)


def test_binder_link_opens_the_chapter():
    link = launch.binder_link(3, REPO, "main")
    assert link == ("https://mybinder.org/v2/gh/school/ml-course/main"
                    "?urlpath=lab%2Ftree%2Fnotebooks%2F03_maml_on_sinusoids.ipynb")


def test_cli_hub_link(capsys):
    assert main(["course", "hub-link", "--hub", "https://hub.example.org", "--chapter", "4"]) == 0
    link = capsys.readouterr().out.strip()
    assert link == launch.hub_link("https://hub.example.org", 4)
    assert main(["course", "hub-link"]) == 2
    assert "hub-link needs --hub URL" in capsys.readouterr().err
    assert main(["course", "hub-link", "--hub", "https://hub.example.org", "--chapter", "12"]) == 2
    assert f"use 0..{LAST}\n" in capsys.readouterr().err


def test_the_kernel_resolves_to_the_course_environment():
    """`bash scripts/course.sh setup` installed the kernel the chapters name, and it runs a Python with the course."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(launch.KERNEL_NAME)
    except NoSuchKernel:
        pytest.fail(f"no Jupyter kernel named {launch.KERNEL_NAME!r}: run `bash scripts/course.sh setup`")
    assert spec.language == "python" and spec.display_name == launch.KERNEL_DISPLAY_NAME
    done = subprocess.run([spec.argv[0], "-c", "import metalearn_edu, ipykernel, ipywidgets"], capture_output=True,
                          text=True)
    assert done.returncode == 0, f"the kernel's Python ({spec.argv[0]}) lacks the course: {done.stderr[-500:]}"


def test_every_chapter_names_the_course_kernel():
    """The chapters (both halves of each pair) run in the "metalearn-edu" kernel; its language is Python,
    which is what Colab falls back to (it does not know the kernel's name)."""
    for notebook in course.course_notebooks():
        spec = nbformat.read(notebook, as_version=4).metadata["kernelspec"]
        assert spec["name"] == launch.KERNEL_NAME, f"{notebook.name} names kernel {spec['name']!r}"
        assert spec["language"] == "python" and spec["display_name"] == launch.KERNEL_DISPLAY_NAME
        header = notebook.with_suffix(".py").read_text(encoding="utf-8").split("# ---", 2)[1]
        assert f"#     name: {launch.KERNEL_NAME}\n" in header, f"{notebook.stem}.py names another kernel"


def test_every_set_up_installs_the_same_kernel():
    command = f'ipykernel install --user --name {launch.KERNEL_NAME} --display-name "{launch.KERNEL_DISPLAY_NAME}"'
    assert command in (ROOT / "binder" / "postBuild").read_text()
    script = (ROOT / "scripts" / "course.sh").read_text()
    assert f"KERNEL_NAME={launch.KERNEL_NAME}\n" in script
    assert 'ipykernel install --user --name "$KERNEL_NAME" --display-name "Python ($KERNEL_NAME)"' in script


def test_binder_asks_for_a_cpu_build_of_torch():
    lines = [line.strip() for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert any(line.startswith("torch==") for line in lines)


@pytest.mark.slow
def test_binder_environment_installs_into_a_fresh_venv(tmp_path):
    """What repo2docker does, minus Docker: binder/requirements.txt, then binder/postBuild, into a new
    venv with its own home; then the course imports, torch is a CPU build, the widgets' JupyterLab
    extension is there and the kernel resolves to that venv."""
    env_dir, home = tmp_path / "binder-venv", tmp_path / "home"
    home.mkdir()
    venv.create(env_dir, with_pip=True)
    env = dict(os.environ, HOME=str(home), PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
               PIP_RETRIES="0", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_COMPILE="1")  # no .pyc: the venv is thrown away
    env.pop("VIRTUAL_ENV", None)
    env.pop("JUPYTER_DATA_DIR", None)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-r", "binder/requirements.txt"], cwd=ROOT,
                             env=env, capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    post = subprocess.run(["bash", "binder/postBuild"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert post.returncode == 0, post.stderr[-3000:]
    probe = subprocess.run([python, "-c", """
import json, os, torch, metalearn_edu, ipywidgets
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.paths import jupyter_path
spec = KernelSpecManager().get_kernel_spec("metalearn-edu")
widgets = [d for d in jupyter_path("labextensions")
           if os.path.isfile(os.path.join(d, "@jupyter-widgets", "jupyterlab-manager", "package.json"))]
print(json.dumps({"cuda": torch.version.cuda, "kernel_python": spec.argv[0], "widgets": widgets}))
"""], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["cuda"] is None, "Binder would get a CUDA build of torch"
    assert Path(found["kernel_python"]).resolve().parent == (env_dir / "bin").resolve()
    assert found["widgets"], "the widgets' JupyterLab extension (@jupyter-widgets/jupyterlab-manager) is missing"


def test_book_source_has_every_chapter_the_guide_and_launch_settings(tmp_path):
    pages = site.write_book(tmp_path / "book", hub="https://hub.example.org")
    assert [p.name for p in pages] == [p.name for p in course.course_notebooks()]
    toc = (tmp_path / "book" / "_toc.yml").read_text()
    assert all(f"- file: notebooks/{p.stem}\n" in toc for p in pages) and "- file: docs/teaching\n" in toc
    config = json.loads((tmp_path / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["jupyterhub_url"] == "https://hub.example.org"
    assert config["launch_buttons"]["binderhub_url"] and config["launch_buttons"]["colab_url"]
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    for page in pages:  # no widget state left: it would make the page load a widget manager from a CDN
        nb = nbformat.read(page, as_version=4)
        assert "widgets" not in nb.metadata
        assert not any(course.WIDGET_MIME in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                       for o in c.outputs)
    with pytest.raises(ValueError, match="hub="):
        site.write_book(tmp_path / "other", hub="hub.example.org")
