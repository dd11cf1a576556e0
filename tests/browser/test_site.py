"""The course website (the Jupyter Book that ``bash scripts/course.sh site`` builds) in a real browser.

The built HTML (``$METALEARN_SITE_DIR``, default ``runs/book/_build/html``) is served from
127.0.0.1 and every chapter page is opened in headless Chromium. Each page must load without a
JavaScript error, a failed request or any request leaving the machine (the site is built to work
offline: theme, search and MathJax are in it); every figure the executed notebook has must show
(an ``<img>`` that decoded, as many as the notebook's image outputs); every equation must be typeset
by MathJax without a TeX error; and the page must offer the launch buttons (Colab, Binder, and,
when ``$METALEARN_HUB`` names the hub the site was built for, its nbgitpuller link). The search page
must find a chapter. Screenshots go to
``runs/browser/site/``.

Where the site was not built the tests skip and say so, except under CI (``CI`` set), where a
missing site is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                    "(pip install playwright; the browser itself is the system's Chromium)")

from browser_lab import NOTEBOOKS, ROOT, chromium_path, results_dir  # noqa: E402

if chromium_path() is None:
    pytest.skip("Chromium is not installed (apt-get install chromium; scripts/browser_setup.sh does it)",
                allow_module_level=True)

SITE = Path(os.environ.get("METALEARN_SITE_DIR") or ROOT / "runs" / "book" / "_build" / "html")
CHAPTERS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
IMAGE_TYPES = ("image/png", "image/jpeg", "image/svg+xml")
HUB = os.environ.get("METALEARN_HUB")  # the JupyterHub the site's launch buttons point to, if any


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").is_file():
        message = f"the course website is not built ({SITE}): run `bash scripts/course.sh site`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


def _expected_console(text: str) -> bool:
    """Console errors that say nothing new: a resource that did not load (the request checks name its
    URL), and pydata-sphinx-theme's note on a fresh browser profile, which has no light/dark choice yet."""
    return text.startswith("Failed to load resource") or text.startswith("Got invalid theme mode: .")


def _open(browser_context, url: str):
    """Open `url`; return the page and the lists of problems seen while it loaded."""
    page = browser_context.new_page()
    problems = {"console": [], "pageerror": [], "failed": [], "external": []}
    local = urlsplit(url).netloc

    def route(r):
        host = urlsplit(r.request.url).netloc
        if r.request.url.startswith(("data:", "blob:")) or host == local:
            r.continue_()
        else:
            problems["external"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: problems["console"].append(m.text)
            if m.type == "error" and not _expected_console(m.text) else None)
    page.on("pageerror", lambda e: problems["pageerror"].append(str(e)))
    page.on("requestfailed", lambda r: problems["failed"].append(f"{r.url} ({r.failure})")
            if urlsplit(r.url).netloc == local else None)
    page.goto(url, wait_until="load")
    return page, problems


def _image_outputs(notebook: Path) -> int:
    nb = nbformat.read(notebook, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if any(t in o.get("data", {}) for t in IMAGE_TYPES))


def _has_math(notebook: Path) -> bool:
    nb = nbformat.read(notebook, as_version=4)
    return any(re.search(r"\$[^$\s][^$]*\$", c.source) for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("notebook", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_renders_figures_and_equations(browser_context, site_url, notebook):
    page, problems = _open(browser_context, f"{site_url}/notebooks/{notebook.stem}.html")
    try:
        if page.locator("main .math").count():  # MathJax 3 (served from the site itself) typesets after load
            page.wait_for_function("() => !!(window.MathJax && MathJax.startup && MathJax.startup.promise)",
                                   timeout=30_000)
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        state = page.evaluate("""() => {
            const main = document.querySelector('main') || document.body;
            const imgs = [...main.querySelectorAll('img')].filter(i => !i.closest('.navbar, header, .bd-sidebar'));
            return {
              title: document.title,
              images: imgs.length,
              broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => (i.src || '').slice(0, 80)),
              mathSource: main.querySelectorAll('.math').length,
              typeset: main.querySelectorAll('mjx-container').length,
              texErrors: [...main.querySelectorAll('mjx-merror, .MathJax_Error')].map(e => e.textContent.slice(0, 120)),
              launch: [...document.querySelectorAll('a[href]')].map(a => a.href)
                        .filter(h => /colab\\.research\\.google\\.com|mybinder\\.org|git-pull\\?repo=/.test(h)),
            };
        }""")
        shots = results_dir() / "site"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / f"{notebook.stem}.png"), full_page=False)
    finally:
        page.close()

    assert not problems["external"], f"the page reached outside the site: {problems['external']}"
    assert not problems["failed"], f"failed requests: {problems['failed']}"
    assert not problems["pageerror"], f"JavaScript errors: {problems['pageerror']}"
    assert not problems["console"], f"console errors: {problems['console']}"
    figures = _image_outputs(notebook)
    assert state["images"] >= figures, f"{state['images']} images on the page, the notebook has {figures} figures"
    assert not state["broken"], f"figures that did not load: {state['broken']}"
    if _has_math(notebook):
        assert state["mathSource"] > 0, "the chapter has equations ($…$), the page none"
    assert state["typeset"] >= state["mathSource"], (
        f"MathJax typeset {state['typeset']} of {state['mathSource']} equations")
    assert not state["texErrors"], f"TeX errors: {state['texErrors']}"
    hrefs = " ".join(state["launch"])
    for where in ("colab.research.google.com", "mybinder.org"):
        assert where in hrefs, f"no launch button to {where} (links: {state['launch']})"
    if HUB:  # the site was built for a hub (scripts/course.sh sets it, CI with a stand-in address)
        pulls = [h for h in state["launch"] if "git-pull?repo=" in h]
        assert pulls and all(h.startswith(HUB.rstrip("/") + "/hub/user-redirect/git-pull?") for h in pulls), (
            f"no nbgitpuller button to {HUB} (links: {state['launch']})")
        assert all(f"notebooks/{notebook.stem}.ipynb" in h for h in pulls)


def test_search_finds_a_chapter(browser_context, site_url):
    page, problems = _open(browser_context, f"{site_url}/search.html?q=Reptile")
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=30_000)
        hits = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
    finally:
        page.close()
    assert any("04_reptile" in h for h in hits), f"searching 'Reptile' did not find chapter 4: {hits[:10]}"
    assert not problems["pageerror"] and not problems["external"], problems


def test_navigation_reaches_every_chapter_and_the_guide(browser_context, site_url):
    page, problems = _open(browser_context, f"{site_url}/intro.html")  # index.html only redirects here
    try:
        links = page.eval_on_selector_all("nav.bd-links a[href]", "els => els.map(e => e.getAttribute('href'))")
    finally:
        page.close()
    for notebook in CHAPTERS:
        assert any(f"notebooks/{notebook.stem}.html" in h for h in links), f"{notebook.stem} is not in the navigation"
    assert any("docs/teaching.html" in h for h in links), "the teaching guide is not in the navigation"
    assert not problems["pageerror"] and not problems["external"], problems
