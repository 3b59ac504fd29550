"""The built book, opened page by page in a real (headless) Chromium.

Needs a `smoke` build of the book and a browser:

    make browser-test        # builds the smoke book into _build/smoke, then runs this file

or, with a book already built, ``MTL_BOOK_BUILD=<build folder> pytest tests/book``. The
build folder is the one ``scripts/build_book.py --out`` wrote (it holds ``status.json`` and
``_build/html``; for ``_build`` itself the HTML is ``_build/html``). Chromium and its driver
come from Debian (``apt-get install chromium chromium-driver``), selenium from the ``browser``
extra. Without any of these the tests are skipped and say which one is missing.

Every page is checked for: no Python traceback or error output; every ``<img>`` loaded with a
non-zero size; every formula typeset by MathJax (served from the build, no network) and no raw
``$...$`` / ``\\(`` left in the text; the "paper vs ours" tables where the chapters promise
them; the stand-in label on every chapter measured on stand-in data; a download link to each
chapter's notebook. A screenshot of each page
goes to ``_build/screenshots/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("MTL_BOOK_BUILD", ROOT / "_build" / "smoke")).resolve()
HTML = BUILD / "html" if (BUILD / "html" / "index.html").exists() else BUILD / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)
DRIVER = shutil.which("chromedriver")

#: Pages that must show tables with "X (paper)" and "X (ours)" columns side by side, and how many.
COMPARISON_TABLES = {
    "notebooks/synthetic_regression.html": 1,  # Table 2, EW vs PCGrad
    "notebooks/adatask_tables.html": 2,  # Tables 2/5 and Table 1
    "notebooks/leaf_combinations.html": 1,  # Table II
}
SKIP_PAGES = {
    "genindex.html",
    "search.html",
    "index.html",
}  # the top index.html only redirects to intro


def _status() -> dict | None:
    path = BUILD / "status.json"
    return json.loads(path.read_text()) if path.exists() else None


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    if CHROMIUM is None or DRIVER is None:
        return "no Chromium/chromedriver on PATH (Debian: apt-get install chromium chromium-driver)"
    if not (HTML / "book" / "intro.html").exists() or _status() is None:
        return (
            f"no book build at {BUILD} (run `make browser-test`, which builds the smoke book first)"
        )
    # the default folder must hold the smoke build `make browser-test` made; a build named
    # explicitly ($MTL_BOOK_BUILD, e.g. a quick book) is checked at whatever profile it has
    if "MTL_BOOK_BUILD" not in os.environ and _status()["build"]["profile"] != "smoke":
        return f"the build at {BUILD} is at profile {_status()['build']['profile']!r}, not smoke"
    return None


MISSING = _missing()
PAGES = [] if MISSING else sorted(
    str(p.relative_to(HTML)) for p in HTML.rglob("*.html")
    if "_static" not in p.parts and "_sources" not in p.parts and str(p.relative_to(HTML)) not in SKIP_PAGES
)  # fmt: skip
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def _stand_in_pages() -> set[str]:
    status = _status() or {"notebooks": []}
    return {
        f"notebooks/{nb['name']}.html"
        for nb in status["notebooks"]
        if (nb.get("verdicts") or {}).get("stand_in")
    }


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--allow-file-access-from-files", "--window-size=1280,900"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


# Runs in the page: waits for MathJax, then reports what the assertions need.
PROBE = r"""
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
ready.then(() => {
  const imgs = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0 && i.naturalHeight > 0}));
  const maths = [...document.querySelectorAll('.math')];
  const untypeset = maths.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  // visible prose: text nodes outside code, scripts and typeset math
  const skip = 'PRE,CODE,SCRIPT,STYLE,MJX-CONTAINER,TEXTAREA,NOSCRIPT';
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  let text = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    let p = n.parentElement, hidden = false;
    while (p) { if (skip.split(',').includes(p.tagName)) { hidden = true; break; } p = p.parentElement; }
    if (!hidden) text.push(n.textContent);
  }
  const tables = [...document.querySelectorAll('table')].map(t => [...t.querySelectorAll('th')].map(th => th.textContent.trim()));
  const errors = [...document.querySelectorAll('.output.traceback, .output.error, .output.stderr, .stderr')].map(e => e.textContent.slice(0, 200));
  const downloads = [...document.querySelectorAll('a[href$=".ipynb"]')].map(a => a.getAttribute('href'));
  done({imgs, untypeset, downloads, nmath: maths.length, text: text.join(' '), tables, errors,
        outputs: [...document.querySelectorAll('.cell_output')].map(o => o.innerText).join('\n'),
        visible: document.body.innerText, mathjax: !!window.MathJax,
        height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)});
}).catch(e => done({failure: String(e)}));
"""


def _screenshot(driver, page: str, height: int) -> Path:
    """Full-page PNG, 1280 px wide (capped at 12000 px tall): the window is resized to the
    page's height so the layout is the one a reader gets at that width."""
    driver.set_window_size(1280, min(max(height, 900), 12000))
    path = SHOTS / (page.replace("/", "__").removesuffix(".html") + ".png")
    path.write_bytes(driver.get_screenshot_as_png())
    driver.set_window_size(1280, 900)
    return path


@pytest.mark.parametrize("page", PAGES or ["(none)"])
def test_page_in_browser(browser, page: str) -> None:
    browser.get((HTML / page).as_uri())
    info = browser.execute_async_script(PROBE)
    assert "failure" not in info, f"{page}: MathJax failed: {info.get('failure')}"
    shot = _screenshot(browser, page, info["height"])
    assert shot.stat().st_size > 0

    # no Python traceback or error output
    assert not info["errors"], f"{page}: error/stderr output on the page: {info['errors']}"
    assert "Traceback (most recent call last)" not in info["visible"], (
        f"{page}: a traceback is shown"
    )
    bad = re.findall(r"^\s*\w*(?:Error|Exception): .*$", info["outputs"], flags=re.M)
    assert not bad, f"{page}: error lines in cell outputs: {bad[:3]}"

    # every image loaded, with a size
    broken = [i["src"] for i in info["imgs"] if not i["ok"]]
    assert not broken, f"{page}: images not loaded or of zero size: {broken}"

    # math typeset; nothing raw left in the prose
    if info["nmath"]:
        assert info["mathjax"], f"{page}: has math but MathJax did not load (offline copy missing?)"
    assert not info["untypeset"], f"{page}: formulas left untypeset: {info['untypeset'][:3]}"
    raw = re.findall(r"\\\(|\\\[|\$\$|(?<![\w$])\$[^$\s][^$]{0,200}?\$(?![\w$])", info["text"])
    assert not raw, f"{page}: raw LaTeX left in the text: {raw[:3]}"

    # "paper vs ours" tables where the chapter promises them
    expected = COMPARISON_TABLES.get(page, 0)
    side_by_side = [
        h for h in info["tables"]
        if any("(paper" in c for c in h) and any("(ours" in c for c in h)
    ]  # fmt: skip
    assert len(side_by_side) >= expected, (
        f"{page}: expected {expected} paper-vs-ours table(s), found {len(side_by_side)}"
    )

    # a download button for the page's notebook (the file itself is checked by check_links)
    if page.startswith("notebooks/"):
        assert any(Path(page).stem in d for d in info["downloads"]), (
            f"{page}: no .ipynb download link"
        )

    # stand-in label visible on every chapter measured on stand-in data
    if page in _stand_in_pages():
        assert "stand-in" in info["visible"].lower(), (
            f"{page}: stand-in data but no visible stand-in label"
        )


def test_every_chapter_page_was_checked() -> None:
    """The parametrised test covered the front page, the status page and every notebook."""
    status = _status()
    chapters = {f"notebooks/{nb['name']}.html" for nb in status["notebooks"]}
    assert chapters <= set(PAGES), f"notebook pages missing from the build: {chapters - set(PAGES)}"
    assert {"book/intro.html", "book/status.html"} <= set(PAGES)
    assert _stand_in_pages(), (
        "the smoke build has no stand-in chapter: the stand-in check tested nothing"
    )
