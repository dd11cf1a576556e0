"""The course's ipywidgets panels in a real browser: JupyterLab + headless Chromium (Playwright).

For every chapter whose notebook builds a panel (a code cell calling ``*_playground(...)`` or
``*_explorer(...)``), the test opens the chapter in JupyterLab, clears the stored outputs, runs all
cells and waits until every code cell has run and the kernel is idle. Then, for every
``metalearn-panel`` on the page, it checks that the panel rendered (a widget, not "Loading widget…"
or a ``VBox(...)`` repr, and a figure in its ``metalearn-output``), and changes every control the
way a student would: the text boxes (emptied: a ⚠ message; then retyped), every dropdown option
and toggle button, every slider to its minimum (Home on the handle), its maximum (End) and a middle
value (typed into the readout), each control going back to its original value afterwards; on the
heavy panels it presses Run after each change (their controls alone must not rerun the panel, only
mark it "press Run"), within a time budget per panel (``METALEARN_BROWSER_RUN_BUDGET_S``, default
240 s: extremes first, middle values last; whatever it cuts is reported). Each change must produce a
new figure in the output area, or a ⚠ message in the status line when the settings do not fit the
data; never a traceback (kernel error messages, a traceback in the kernel's log, "Traceback" or
"Error" in the panel's output or in the panel cell's outputs), and the kernel must survive.

Latencies (action → changed output, measured in the page) and a screenshot of the panel after each
change go to the results folder (``$METALEARN_BROWSER_RESULTS`` or ``runs/browser/``); they are
reported, never asserted. See ``conftest.py`` for the opt-in switch (``--run-browser``).

Knobs: ``METALEARN_BROWSER_CHAPTER_TIMEOUT`` (s to run all cells of a chapter, default 600),
``METALEARN_BROWSER_RUN_BUDGET_S`` (0: no limit), ``METALEARN_BROWSER_NOTEBOOKS`` (another folder
of chapters), ``METALEARN_CHROMIUM`` (the browser binary).
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                    "(pip install playwright; the browser itself is the system's Chromium)")

from browser_lab import NOTEBOOKS, chromium_path  # noqa: E402

if chromium_path() is None:
    pytest.skip("Chromium is not installed (apt-get install chromium; scripts/browser_setup.sh does it)",
                allow_module_level=True)

RUN_ALL_TIMEOUT_S = float(os.environ.get("METALEARN_BROWSER_CHAPTER_TIMEOUT", 600))
LIGHT_CHANGE_TIMEOUT_S = 120.0  # a light panel re-renders on every change
RUN_CHANGE_TIMEOUT_S = 300.0    # a heavy panel's Run (fresh episodes, a short training run)
# Time for the changes of one panel with a Run button (each Run is seconds to a minute on a 2-core
# CPU); the changes left when it is spent are recorded as skipped and reported, never dropped
# silently. Extreme values come first, so what a short budget cuts is the middle values. 0: no limit.
RUN_PANEL_BUDGET_S = float(os.environ.get("METALEARN_BROWSER_RUN_BUDGET_S", 240))
PANEL_CALL = re.compile(r"\b(\w+_(?:playground|explorer))\(")


def _panel_call(source: str) -> str | None:
    """The panel function a cell calls (``few_shot_playground(models)``), not defines, imports or mentions."""
    for line in source.splitlines():
        code = line.split("#", 1)[0]
        if re.match(r"\s*(def|class|from|import)\b", code):
            continue
        match = PANEL_CALL.search(code)
        if match:
            return match.group(1)
    return None


def _panel_cells(path: Path) -> list[tuple[int, str]]:
    """(cell index, panel function) for the code cells that build a panel."""
    nb = json.loads(path.read_text())
    found = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        func = _panel_call("".join(cell["source"]))
        if func:
            found.append((i, func))
    return found


CHAPTERS = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if not p.stem.startswith("00_"))

# ---------------------------------------------------------------------------------------
# In-page helpers: the notebook's state, the kernel's error messages, and a watcher per change
# ---------------------------------------------------------------------------------------
PAGE_HELPERS = r"""
() => {
  if (window.__ml) return;
  const app = window.jupyterapp;
  const ml = window.__ml = {
    errors: [],          // iopub error messages and stderr tracebacks, from any cell or widget callback
    kernelEvents: [],    // kernel statuses that mean trouble
    watch: null,
    panel() { return app.shell.currentWidget; },
    kernel() { return this.panel().sessionContext.session.kernel; },
    connect() {
      const k = this.kernel();
      this.kernelId = k.id;
      k.iopubMessage.connect((_, msg) => {
        const t = msg.header.msg_type, c = msg.content;
        if (t === 'error') this.errors.push(`${c.ename}: ${c.evalue}\n` + (c.traceback || []).join('\n'));
        else if (t === 'stream' && c.name === 'stderr' && /Traceback \(most recent call last\)/.test(c.text))
          this.errors.push(c.text);
      });
      k.statusChanged.connect((_, s) => { if (['dead', 'restarting', 'autorestarting'].includes(s)) this.kernelEvents.push(s); });
      return k.id;
    },
    cells() {
      const out = [];
      const w = this.panel();
      for (let i = 0; i < w.model.cells.length; i++) {
        const c = w.model.cells.get(i);
        if (c.type !== 'code') continue;
        const outputs = [];
        for (let j = 0; j < c.outputs.length; j++) outputs.push(c.outputs.get(j).toJSON());
        out.push({index: i, source: c.sharedModel.getSource(), count: c.executionCount,
                  state: c.executionState, outputs});
      }
      return {kernel: this.kernel().status, cells: out};
    },
    status(panel) { const s = panel.querySelector('.metalearn-status'); return s ? s.innerText.trim() : ''; },
    arm(id) {
      // watch the panel from now on: done when a new figure arrived (or a ⚠ status), nothing is working
      if (this.watch) this.watch.obs.disconnect();
      const panel = document.querySelector(`[data-ml-id="${id}"]`);
      const out = panel.querySelector('.metalearn-output'), st = panel.querySelector('.metalearn-status');
      const w = {t0: performance.now(), sawImg: false, sawStatus: false, done: null, errors0: this.errors.length, statuses: []};
      w.check = () => {
        if (w.done) return w.done;
        const text = this.status(panel), now = performance.now();
        if (this.errors.length > w.errors0)
          return (w.done = {outcome: 'traceback', ms: now - w.t0, status: text, error: this.errors.slice(w.errors0).join('\n')});
        if (/working…|press Run/.test(text)) return null;
        if (w.sawImg && out.querySelector('img')) return (w.done = {outcome: 'image', ms: now - w.t0, status: text});
        if (w.sawStatus && text.includes('⚠'))
          return (w.done = {outcome: 'warning', ms: now - w.t0, status: text, figureKept: !!out.querySelector('img')});
        return null;
      };
      w.obs = new MutationObserver((mutations) => {
        for (const m of mutations) {
          if (out.contains(m.target)) {
            if (m.type === 'attributes' && m.target.nodeName === 'IMG') w.sawImg = true;
            for (const n of m.addedNodes)
              if (n.nodeName === 'IMG' || (n.querySelector && n.querySelector('img'))) w.sawImg = true;
          }
          if (st.contains(m.target)) { w.sawStatus = true; w.statuses.push(this.status(panel)); }
        }
        w.check();
      });
      w.obs.observe(panel, {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['src']});
      this.watch = w;
      return true;
    },
    poll() { return this.watch ? this.watch.check() : null; },
    renderedSinceArm() { return this.watch ? {sawImg: this.watch.sawImg, statuses: this.watch.statuses} : null; },
  };
}
"""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.\-]+", "_", text).strip("_")[:40] or "x"


class PanelDriver:
    """Drives one panel on the page and records what every change did.

    Every control is changed from the panel's defaults, one at a time: after its sweep it goes back
    to its original value (a recorded change on a light panel; silently, without Run, on a heavy
    one), so one control's extreme value does not colour the next control's measurements.
    """

    def __init__(self, page, lab, chapter: str, panel_id: str, name: str, log, shots: Path):
        self.page, self.lab, self.chapter, self.id, self.name = page, lab, chapter, panel_id, name
        self.log, self.shots = log, shots
        self.root = page.locator(f'[data-ml-id="{panel_id}"]')
        self.has_run = self.root.locator(".metalearn-run").count() > 0
        self.problems: list[str] = []
        self.skipped: list[str] = []
        self.n = 0
        self.budget = RUN_PANEL_BUDGET_S if self.has_run and RUN_PANEL_BUDGET_S > 0 else None
        self.started = time.monotonic()

    # -- one change ------------------------------------------------------------------------
    def _status(self) -> str:
        return self.page.evaluate("(id) => window.__ml.status(document.querySelector(`[data-ml-id=\"${id}\"]`))", self.id)

    def _wait(self, timeout: float, log_offset: int) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            done = self.page.evaluate("() => window.__ml.poll()")
            if done:
                return done
            # a widget callback that raises is logged by the kernel (its stderr: the server's log)
            server_log = self.lab.log_text(log_offset)
            if "Traceback (most recent call last)" in server_log:
                return {"outcome": "traceback", "ms": None, "error": server_log[-4000:], "status": self._status()}
            if time.monotonic() > deadline:
                return {"outcome": "timeout", "ms": None, "status": self._status()}
            time.sleep(0.1)

    def _arm(self) -> None:
        self.page.evaluate("(id) => window.__ml.arm(id)", self.id)

    def change(self, control: str, value: str, act, *, kind: str, probe=None) -> dict | None:
        """Arm the watcher, `act()` (press Run after it on a heavy panel), wait for the new output.

        `probe()` reads the control's value: when `act()` left it as it was (Home on a slider that is
        at its minimum already), nothing is expected to happen and the change is recorded as such.
        """
        if self.budget is not None and time.monotonic() - self.started > self.budget:
            self.skipped.append(f"{control} = {value}")
            self.log.add(chapter=self.chapter, panel=self.name, control=control, value=value, seconds=None,
                         outcome="skipped (time budget)", trigger=kind, status="", screenshot=None)
            return None
        timeout = RUN_CHANGE_TIMEOUT_S if self.has_run else LIGHT_CHANGE_TIMEOUT_S
        log_offset = self.lab.log_size()
        before = probe() if probe else None
        self._arm()
        act()
        if probe is not None and probe() == before:
            self.log.add(chapter=self.chapter, panel=self.name, control=control, value=f"{value} (already {before})",
                         seconds=None, outcome="unchanged", trigger=kind, status="", screenshot=None)
            return None
        trigger = kind
        if self.has_run:
            # the control alone must not rerun a heavy panel: the status only says "press Run"
            try:
                self.root.locator(".metalearn-status", has_text="press Run").wait_for(timeout=30_000)
            except Exception:  # noqa: BLE001
                self.problems.append(f"{self.name}: {control} = {value} did not mark the panel stale "
                                     f"(status {self._status()!r}, expected 'press Run')")
            seen = self.page.evaluate("() => window.__ml.renderedSinceArm()")
            if seen and seen["sawImg"]:
                self.problems.append(f"{self.name}: {control} = {value} re-rendered without Run")
            self._arm()
            self.root.locator(".metalearn-run").click()
            trigger = f"{kind}+run"
        done = self._wait(timeout, log_offset)
        seconds = None if done.get("ms") is None else round(done["ms"] / 1000, 3)
        self.n += 1
        shot = self.shots / f"{self.n:02d}_{_slug(control)}_{_slug(value)}.png"
        try:
            self.root.screenshot(path=str(shot))
        except Exception:  # noqa: BLE001 - a missing picture is not a panel failure
            shot = None
        record = dict(chapter=self.chapter, panel=self.name, control=control, value=value, seconds=seconds,
                      outcome=done["outcome"], trigger=trigger, status=done.get("status", "")[:200],
                      figure_kept=done.get("figureKept"),  # a ⚠ message under the previous settings' figure
                      screenshot=str(shot.relative_to(self.log.folder)) if shot else None)
        self.log.add(**record)
        if done["outcome"] in ("traceback", "timeout"):
            msg = f"{self.name}: {control} = {value} → {done['outcome']} (status {done.get('status')!r})"
            if done.get("error"):
                msg += "\n" + re.sub(r"\x1b\[[0-9;]*m", "", done["error"])[-3000:]
            self.problems.append(msg)
            if done["outcome"] == "timeout":  # the kernel is stuck or the panel is dead: stop here
                pytest.fail("\n".join(self.problems), pytrace=False)
        return record

    def restore(self, control: str, value: str, act, *, kind: str, probe=None) -> None:
        """Back to the original value: a change like any other on a light panel; no Run on a heavy one."""
        if self.has_run:
            act()
        else:
            self.change(control, f"back to {value}", act, kind=kind, probe=probe)

    def _relabel(self, shown: str) -> None:
        """Add the value the control shows now to the latest record."""
        record = self.log.records[-1]
        if record["outcome"] not in ("unchanged", "skipped (time budget)"):
            record["value"] = f"{record['value']} = {shown}"

    # -- the controls ----------------------------------------------------------------------
    def texts(self) -> None:
        boxes = self.root.locator(".widget-text")
        for i in range(boxes.count()):
            box = boxes.nth(i)
            label = box.locator(".widget-label").inner_text().strip() or f"text{i}"
            field = box.locator("input")
            original = field.input_value()
            self.change(label, "(empty)", lambda: field.fill(""), kind="text")
            self.change(label, original[:30], lambda: field.fill(original), kind="text")

    def dropdowns(self) -> None:
        drops = self.root.locator(".widget-dropdown")
        for i in range(drops.count()):
            drop = drops.nth(i)
            label = drop.locator(".widget-label").inner_text().strip() or f"dropdown{i}"
            select = drop.locator("select")
            options = [o.strip() for o in select.locator("option").all_inner_texts()]
            original = select.evaluate("s => s.options[s.selectedIndex].text").strip()
            for option in options:
                if option != original:
                    self.change(label, option, lambda o=option: select.select_option(label=o), kind="dropdown")
            if len(options) > 1:
                self.restore(label, original, lambda: select.select_option(label=original), kind="dropdown")

    def toggles(self) -> None:
        groups = self.root.locator(".widget-toggle-buttons")
        for i in range(groups.count()):
            group = groups.nth(i)
            label = group.locator(".widget-label").first.inner_text().strip() or f"toggle{i}"
            names = [b.strip() for b in group.locator("button").all_inner_texts()]
            active = group.locator("button.mod-active").inner_text().strip()

            def button(name: str):
                return group.locator("button", has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))

            for name in names:
                if name != active:
                    self.change(label, name, lambda b=button(name): b.click(), kind="toggle")
            if len(names) > 1:
                self.restore(label, active, lambda b=button(active): b.click(), kind="toggle")

    def _sliders(self) -> list[dict]:
        found = []
        sliders = self.root.locator(".widget-slider")
        for i in range(sliders.count()):
            slider = sliders.nth(i)
            handle, readout = slider.locator(".noUi-handle"), slider.locator(".widget-readout")
            found.append(dict(label=slider.locator(".widget-label").inner_text().strip() or f"slider{i}",
                              handle=handle, readout=readout, original=readout.inner_text().strip(),
                              mid=self._middle(readout.inner_text().strip(),
                                               *(float(handle.get_attribute(a))
                                                 for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax")))))
        return found

    def _type(self, readout, text: str) -> None:
        """Type a value into a slider's readout (it is editable in ipywidgets 8) and press Enter."""
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(text)
        readout.press("Enter")

    def sliders(self, phase: str) -> None:
        """Phase "ends": Home then End on the focused handle (noUiSlider's keyboard support), then back.
        Phase "mid": a middle value typed into the readout, then back."""
        for s in self._sliders():
            label, handle, readout = s["label"], s["handle"], s["readout"]

            def probe(h=handle) -> str:
                return h.get_attribute("aria-valuenow")

            if phase == "ends":
                for key, what in (("Home", "min"), ("End", "max")):
                    self.change(label, what, lambda k=key: handle.press(k), kind="slider", probe=probe)
                    self._relabel(readout.inner_text().strip())
            elif s["mid"] is not None:
                self.change(label, "mid", lambda m=s["mid"]: self._type(readout, m), kind="slider", probe=probe)
                self._relabel(readout.inner_text().strip())
            self.restore(label, s["original"], lambda o=s["original"]: self._type(readout, o), kind="slider", probe=probe)

    @staticmethod
    def _middle(shown: str, now: float, lo: float, hi: float) -> str | None:
        """A middle value to type into the readout: geometric on a log slider, at the shown precision.

        `now`, `lo`, `hi` are the handle's aria value and bounds (exponents on a log slider, whose
        readout shows 10 ** now); `shown` is the readout.
        """
        try:
            value = float(shown)
        except ValueError:
            return None
        if value > 0 and math.isclose(math.log10(value), now, abs_tol=5e-3) and not math.isclose(value, now, abs_tol=1e-9):
            return f"{10 ** ((lo + hi) / 2):.3g}"
        if "." not in shown and float(lo).is_integer() and float(hi).is_integer():
            return str(int((lo + hi) // 2))
        decimals = len(shown.split(".")[1]) if "." in shown else 2
        return f"{(lo + hi) / 2:.{decimals}f}"

    def exercise(self) -> None:
        """Every control's extreme values first, the middle values after: what a time budget cuts is the least telling."""
        self.texts()
        self.dropdowns()
        self.toggles()
        self.sliders("ends")
        self.sliders("mid")


# ---------------------------------------------------------------------------------------
# One chapter
# ---------------------------------------------------------------------------------------
def _open_and_run_all(page, lab, name: str) -> tuple[dict, float]:
    page.goto(lab.url(f"lab/tree/{name}.ipynb", reset=""))
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=180_000)
    page.evaluate("async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }")
    page.wait_for_function(f"""() => {{ const w = window.jupyterapp.shell.currentWidget;
        return w && w.context && w.context.isReady && w.sessionContext
               && w.context.path.endsWith({json.dumps(name + '.ipynb')}); }}""", timeout=180_000)
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.sessionContext.ready; }")
    page.wait_for_function("() => { const s = window.jupyterapp.shell.currentWidget.sessionContext; "
                           "return s.session && s.session.kernel && s.session.kernel.connectionStatus === 'connected'; }",
                           timeout=180_000)
    page.evaluate(PAGE_HELPERS)
    page.evaluate("() => window.__ml.connect()")
    t0 = time.perf_counter()
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');"
                  " window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
    settled = 0
    while True:
        time.sleep(2)
        state = page.evaluate("() => window.__ml.cells()")
        code = [c for c in state["cells"] if c["source"].strip()]
        errored = any(o.get("output_type") == "error" for c in code for o in c["outputs"])
        running = any(c["state"] == "running" for c in code)
        finished = all(c["count"] is not None for c in code) or errored
        settled = settled + 1 if (state["kernel"] == "idle" and not running and finished) else 0
        if settled >= 2:
            return state, time.perf_counter() - t0
        if time.monotonic() > deadline:
            pending = [c["index"] for c in code if c["count"] is None]
            pytest.fail(f"{name}: cells still pending after {RUN_ALL_TIMEOUT_S:.0f} s (kernel {state['kernel']}; "
                                 f"cells not run: {pending}); raise METALEARN_BROWSER_CHAPTER_TIMEOUT?", pytrace=False)


def _errors_in(outputs: list[dict]) -> str:
    """The error outputs of a cell, and any stream or text output that shows a traceback or an error."""
    parts = []
    for o in outputs:
        if o.get("output_type") == "error":
            parts.append(f"{o.get('ename')}: {o.get('evalue')}\n" + "\n".join(o.get("traceback", [])))
            continue
        text = o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
        text = text if isinstance(text, str) else "".join(text)
        # a widget's text/plain repr holds its children's values: only a traceback counts there
        if re.search(r"Traceback" if o.get("output_type") != "stream" else r"Traceback|Error", text):
            parts.append(text)
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(parts))


def _first_error(outputs: list[dict]) -> str:
    return "; ".join(f"{o.get('ename')}: {o.get('evalue')}" for o in outputs if o.get("output_type") == "error")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_panels_in_the_browser(chapter, jupyter_lab, browser_context, latency_log):
    panel_cells = _panel_cells(NOTEBOOKS / f"{chapter}.ipynb")
    if not panel_cells:
        pytest.skip(f"{chapter} has no panel (no *_playground(...) / *_explorer(...) cell) yet")
    shots = latency_log.folder / "screenshots" / chapter
    shots.mkdir(parents=True, exist_ok=True)
    info = latency_log.chapters.setdefault(chapter, {})
    jupyter_lab.shutdown_kernels()  # one kernel at a time
    page = browser_context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    problems: list[str] = []
    try:
        state, run_all_s = _open_and_run_all(page, jupyter_lab, chapter)
        info["run_all_s"] = round(run_all_s, 1)
        kernel_id = page.evaluate("() => window.__ml.kernelId")

        # cells that failed outside the panels: nbval's business, but say so
        by_index = {c["index"]: c for c in state["cells"]}
        failed = [c for c in state["cells"] if any(o.get("output_type") == "error" for o in c["outputs"])]
        unrun = [c["index"] for c in state["cells"] if c["source"].strip() and c["count"] is None]
        if failed:
            info["failed_cells"] = [{"cell": c["index"], "error": _first_error(c["outputs"])} for c in failed]
            warnings.warn(f"{chapter}: cell(s) {[c['index'] for c in failed]} raised while running all cells "
                          f"(not a panel cell: nbval reports it); cells not run: {unrun}: "
                          + "; ".join(f"cell {f['cell']}: {f['error']}" for f in info["failed_cells"]))

        # every panel cell shows a rendered panel (cells found in the live notebook, as JupyterLab numbers them)
        panel_cells = [(c["index"], f) for c in state["cells"] if (f := _panel_call(c["source"]))]
        layout = [(c["index"], c["source"][:80]) for c in state["cells"]]
        panels: list[tuple[str, str]] = []
        for index, func in panel_cells:
            cell = by_index[index]
            text = _errors_in(cell["outputs"])
            if cell["count"] is None:
                first = next((f"cell {f['cell']} raised {f['error']}" for f in info.get("failed_cells", [])),
                             "no cell raised")
                problems.append(f"{func} (cell {index}) never ran: {first}")
                continue
            if text:
                problems.append(f"{func} (cell {index}) raised:\n{text[-3000:]}")
                continue
            node = page.locator(".jp-Notebook .jp-Cell").nth(index)
            try:
                node.locator(".metalearn-panel").first.wait_for(state="attached", timeout=60_000)
            except Exception:  # noqa: BLE001
                shown = node.locator(".jp-OutputArea").inner_text() if node.locator(".jp-OutputArea").count() else ""
                node.screenshot(path=str(shots / f"not-rendered-cell{index}.png"))
                problems.append(f"{func} (cell {index}) did not render a panel; its output shows {shown[:300]!r}")
                continue
            count = node.locator(".metalearn-panel").count()
            for j in range(count):
                pid = f"{chapter[:2]}-c{index}-p{j}"
                node.locator(".metalearn-panel").nth(j).evaluate("(el, id) => el.setAttribute('data-ml-id', id)", pid)
                panels.append((pid, func if count == 1 else f"{func}#{j}"))
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)

        t_panels = time.perf_counter()
        for pid, name in panels:
            root = page.locator(f'[data-ml-id="{pid}"]')
            root.scroll_into_view_if_needed()
            shown = root.inner_text()
            for bad in ("Loading widget", "Error displaying widget", "VBox(", "Traceback"):
                if bad in shown:
                    pytest.fail(f"{name}: the panel shows {bad!r}:\n{shown[:1000]}", pytrace=False)
            img = root.locator(".metalearn-output img")
            img.first.wait_for(state="visible", timeout=60_000)
            root.screenshot(path=str(shots / f"{_slug(name)}_00_initial.png"))
            driver = PanelDriver(page, jupyter_lab, chapter, pid, name, latency_log,
                                 shots_dir := shots / _slug(name))
            shots_dir.mkdir(exist_ok=True)
            try:
                driver.exercise()
            finally:
                latency_log.save()
            problems += driver.problems
            if driver.skipped:
                info.setdefault("skipped_changes", {})[name] = driver.skipped
                warnings.warn(f"{name}: the Run-panel time budget (METALEARN_BROWSER_RUN_BUDGET_S={RUN_PANEL_BUDGET_S:g} s) "
                              f"was spent; {len(driver.skipped)} change(s) not made: {', '.join(driver.skipped)}")
            out_text = root.locator(".metalearn-output").inner_text()
            if re.search(r"Traceback|Error", out_text):
                problems.append(f"{name}: the output area shows an error:\n{out_text[-2000:]}")
        info["panels_s"] = round(time.perf_counter() - t_panels, 1)

        # the panel cells' outputs (widget callbacks print there when they fail) and the kernel
        state = page.evaluate("() => window.__ml.cells()")
        for index, func in panel_cells:
            text = _errors_in(next(c for c in state["cells"] if c["index"] == index)["outputs"])
            if text:
                problems.append(f"{func} (cell {index}) outputs show an error:\n{text[-2000:]}")
        if [(c["index"], c["source"][:80]) for c in state["cells"]] != layout:
            problems.append("the notebook's cells changed while the panels were driven (a keyboard shortcut leaked "
                            "from a control to JupyterLab?)")
        events = page.evaluate("() => window.__ml.kernelEvents")
        if events or page.evaluate("() => window.__ml.kernel().id") != kernel_id:
            problems.append(f"the kernel did not survive: {events}")
        alive = page.evaluate("""async () => {
            const f = window.__ml.kernel().requestExecute({code: '1 + 1', silent: true, store_history: false});
            const r = await Promise.race([f.done, new Promise(res => setTimeout(() => res(null), 60000))]);
            return r ? r.content.status : 'no reply in 60 s'; }""")
        if alive != "ok":
            problems.append(f"the kernel does not answer after the panel checks: {alive}")
        if console_errors:
            info["page_errors"] = console_errors[:20]
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)
    except BaseException:
        try:
            page.screenshot(path=str(shots / "failure-page.png"), full_page=True)
        except Exception:  # noqa: BLE001
            pass
        raise
    finally:
        latency_log.save()
        page.close()
        jupyter_lab.shutdown_kernels()
