"""Set-up for the real-browser test of the course's ipywidgets panels (`test_panels.py`).

The test is opt-in (it takes minutes): ``pytest tests/browser --run-browser``, or set
``METALEARN_BROWSER_TESTS=1`` (which also works for ``pytest tests``, where this conftest is not
loaded early enough to register the option). Without either, every test here is skipped with a reason;
without Playwright for Python or Chromium, too.

Fixtures (session-scoped, started only when a test needs them):

* `jupyter_lab`: JupyterLab on 127.0.0.1, a free port and a random token, serving a temporary
  copy of ``notebooks/`` (the repository's notebooks are never written to), with
  ``METALEARN_PRESET=ci`` and the Hugging Face hub offline; its own settings, workspaces and runtime
  folders, so a developer's JupyterLab configuration does not leak in. Stopped (with its kernels)
  at the end of the session; its log is ``jupyter-server.log`` in the results folder.
* `browser_context`: headless Chromium (the system's, not a Playwright download) with a fresh
  profile and the flags that keep it off the network.
* `latency_log`: one record per panel change; written to ``latencies.json`` (and the chapters'
  timings to ``chapters.json``) in the results folder (``$METALEARN_BROWSER_RESULTS`` or
  ``runs/browser/``) after every panel, and summarised (median / max latency per panel and per
  control) at the end of the pytest run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from browser_lab import (
    CHROMIUM_FLAGS,
    ENV_VAR,
    HERE,
    JupyterLab,
    LatencyLog,
    chromium_path,
    results_dir,
)

LOG_KEY = pytest.StashKey[LatencyLog]()


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption("--run-browser", action="store_true", default=False,
                         help=f"run the real-browser panel tests in tests/browser (minutes; as does {ENV_VAR}=1)")
    except ValueError:  # already added (by tests/conftest.py, for `pytest tests --run-browser`)
        pass


def browser_tests_enabled(config: pytest.Config) -> bool:
    env = os.environ.get(ENV_VAR, "").strip().lower()
    # default=: when this conftest is not an initial one (``pytest tests``), the option is unknown
    return bool(config.getoption("--run-browser", default=False)) or env not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if browser_tests_enabled(config):
        return
    skip = pytest.mark.skip(reason=f"browser test is opt-in (minutes): pass --run-browser or set {ENV_VAR}=1")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def latency_log(request: pytest.FixtureRequest):
    folder = results_dir()
    shutil.rmtree(folder / "screenshots", ignore_errors=True)  # ours: this session's pictures only
    log = LatencyLog(folder)
    request.config.stash[LOG_KEY] = log
    yield log
    log.save()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    log = config.stash.get(LOG_KEY, None)
    lines = log.table() if log is not None else []
    if lines:
        terminalreporter.section("panel latencies (seconds from the action to the changed output)")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory):
    lab = JupyterLab(tmp_path_factory.mktemp("browser-lab"))
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh user-data dir
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()
