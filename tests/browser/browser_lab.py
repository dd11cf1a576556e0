"""What the browser test needs besides pytest: a JupyterLab server, the latency records, paths.

Used by `conftest.py` (fixtures, the end-of-session table) and `test_panels.py`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the chapters to test: the repository's, or another folder of them (e.g. notebooks just built by
# `jupytext --to ipynb`); the server always serves a temporary copy
NOTEBOOKS = Path(os.environ.get("METALEARN_BROWSER_NOTEBOOKS") or ROOT / "notebooks").resolve()
ENV_VAR = "METALEARN_BROWSER_TESTS"
RESULTS_ENV_VAR = "METALEARN_BROWSER_RESULTS"
HERE = Path(__file__).resolve().parent

# Chromium must not try to reach the network (the course machines have none: without these flags
# it floods it with refused connections); a fresh profile per session.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# JupyterLab settings for the test's isolated settings folder: every cell in the DOM (no
# virtualised notebook), no autosave (the copy is thrown away anyway), no news/update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def results_dir() -> Path:
    path = Path(os.environ.get(RESULTS_ENV_VAR) or ROOT / "runs" / "browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------
# Latency records and the end-of-session table
# ---------------------------------------------------------------------------------------
class LatencyLog:
    """One record per change of a panel control: chapter, panel, control, value, seconds, outcome."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.records: list[dict] = []
        self.chapters: dict[str, dict] = {}
        self.started = time.perf_counter()

    def add(self, **record) -> None:
        self.records.append(record)

    def save(self) -> None:
        (self.folder / "latencies.json").write_text(json.dumps(self.records, indent=1, ensure_ascii=False) + "\n")
        chapters = dict(self.chapters, _session={"wall_s": round(time.perf_counter() - self.started, 1)})
        (self.folder / "chapters.json").write_text(json.dumps(chapters, indent=1, ensure_ascii=False) + "\n")

    def table(self) -> list[str]:
        timed = [r for r in self.records if r.get("seconds") is not None]
        if not timed:
            return []
        lines = []
        panels: dict[tuple[str, str], list[dict]] = {}
        for r in timed:
            panels.setdefault((r["chapter"], r["panel"]), []).append(r)
        width = max(len(f"{c} / {p}") for c, p in panels) + 2
        lines.append(f"{'panel':<{width}}{'changes':>8}{'median s':>10}{'max s':>8}   slowest change")
        for (chapter, panel), rs in panels.items():
            secs = [r["seconds"] for r in rs]
            worst = max(rs, key=lambda r: r["seconds"])
            lines.append(f"{chapter + ' / ' + panel:<{width}}{len(rs):>8}{statistics.median(secs):>10.2f}"
                         f"{max(secs):>8.2f}   {worst['control']} = {worst['value']} ({worst['outcome']})")
            by_control: dict[str, list[float]] = {}
            for r in rs:
                by_control.setdefault(r["control"], []).append(r["seconds"])
            for control, cs in by_control.items():
                lines.append(f"    {control:<{width - 4}}{len(cs):>8}{statistics.median(cs):>10.2f}{max(cs):>8.2f}")
        kept = [r for r in self.records if r.get("outcome") == "warning" and r.get("figure_kept")]
        warned = [r for r in self.records if r.get("outcome") == "warning"]
        if kept:
            lines.append(f"note: {len(kept)} of {len(warned)} ⚠ messages were shown above the previous settings' figure "
                         f"(the output area kept it), e.g. {kept[0]['chapter']} / {kept[0]['panel']}: "
                         f"{kept[0]['control']} = {kept[0]['value']}")
        skipped = [r for r in self.records if r.get("outcome", "").startswith("skipped")]
        if skipped:
            lines.append(f"SKIPPED for time: {len(skipped)} change(s), e.g. {skipped[0]['chapter']} / {skipped[0]['panel']}: "
                         f"{', '.join(r['control'] + ' = ' + r['value'] for r in skipped[:6])}")
        for chapter, info in self.chapters.items():
            if "run_all_s" in info:
                lines.append(f"{chapter}: run all cells {info['run_all_s']:.0f} s, panel checks {info.get('panels_s', 0):.0f} s")
        lines.append(f"session wall time {time.perf_counter() - self.started:.0f} s; records in {self.folder / 'latencies.json'}")
        return lines


# ---------------------------------------------------------------------------------------
# JupyterLab
# ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A running ``jupyter lab`` process and a few REST helpers."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.root = workdir / "notebooks"
        self.port = _free_port()
        self.token = secrets.token_urlsafe(24)
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = results_dir() / "jupyter-server.log"
        self.proc: subprocess.Popen | None = None

    def url(self, path: str, **query: str) -> str:
        q = "&".join([f"{k}={v}" if v else k for k, v in query.items()] + [f"token={self.token}"])
        return f"{self.base}/{path.lstrip('/')}?{q}"

    def api(self, method: str, path: str, timeout: float = 30) -> object:
        req = urllib.request.Request(self.url(path), method=method, headers={"Authorization": f"token {self.token}"})
        if method in ("POST", "PUT", "PATCH"):
            req.data = b"{}"
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def start(self) -> None:
        self.root.mkdir(parents=True)
        notebooks = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
        for src in NOTEBOOKS.iterdir():
            # the .py halves of jupytext pairs stay behind: the .ipynb is what a student opens
            if src.is_file() and not (src.suffix == ".py" and src.stem in notebooks):
                shutil.copy2(src, self.root / src.name)
        settings = self.workdir / "lab-settings"
        for rel, value in LAB_SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel shows figures inline
        env.update(METALEARN_PRESET="ci", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1",
                   JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "lab-workspaces"),
                   JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
                   PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]))
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               f"--ServerApp.token={self.token}", "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
               f"--ServerApp.root_dir={self.root}", "--ServerApp.port_retries=0",
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
            try:
                self.api("GET", "api/status", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer /api/status in 180 s:\n{self.log_path.read_text()[-3000:]}")
                time.sleep(0.5)

    def kernels(self) -> list[dict]:
        return self.api("GET", "api/kernels")  # type: ignore[return-value]

    def shutdown_kernels(self, timeout: float = 60) -> None:
        """Delete every session and kernel, and wait until none is left (one kernel at a time)."""
        for session in self.api("GET", "api/sessions"):  # type: ignore[union-attr]
            try:
                self.api("DELETE", f"api/sessions/{session['id']}")
            except urllib.error.HTTPError:
                pass
        for kernel in self.kernels():
            try:
                self.api("DELETE", f"api/kernels/{kernel['id']}")
            except urllib.error.HTTPError:
                pass
        deadline = time.monotonic() + timeout
        while self.kernels() and time.monotonic() < deadline:
            time.sleep(0.5)

    def log_text(self, offset: int = 0) -> str:
        self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            f.seek(offset)
            return f.read()

    def log_size(self) -> int:
        self.log.flush()
        return self.log_path.stat().st_size

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.shutdown_kernels(timeout=30)
            self.api("POST", "api/shutdown", timeout=10)
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - fall through to signals
            pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # the server and the kernels it started (its session)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


# ---------------------------------------------------------------------------------------
# Chromium
# ---------------------------------------------------------------------------------------
def chromium_path() -> str | None:
    """$METALEARN_CHROMIUM if it is an executable, else `chromium` (Debian) or `chromium-browser` on PATH."""
    explicit = os.environ.get("METALEARN_CHROMIUM")
    if explicit and os.access(explicit, os.X_OK):
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")
