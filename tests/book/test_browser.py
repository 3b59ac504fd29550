"""The built book, opened page by page in a real (headless) Chromium, at a desktop width
(1280 px) and a phone width (390 px).

Needs a `smoke` build of the book and a browser:

    make browser-test        # builds the smoke book into _build/smoke, then runs this file

or, with a book already built, ``MTL_BOOK_BUILD=<build folder> pytest tests/book``. The
build folder is the one ``scripts/build_book.py --out`` wrote (it holds ``status.json`` and
``_build/html``; for ``_build`` itself the HTML is ``_build/html``). Chromium and its driver
come from Debian (``apt-get install chromium chromium-driver``), selenium from the ``browser``
extra. Without any of these the tests are skipped and say which one is missing.

Every page is checked for: no Python traceback or error output; every ``<img>`` loaded with a
non-zero size; every formula typeset by MathJax (served from the build, no network); no raw
TeX (``$...$``, ``\\(``, ``\\frac{``) and no raw reStructuredText or MyST markup (``.. py:class::``,
``:module:``, ``{cite}```) left in the text; the "paper vs ours" tables where the chapters promise
them; numbers in every row of every verdict table; a caption on every figure, and at 1280 px no
figure shrunk so far that its smallest text (the book style's ``MIN_FONT_PT``) displays below
9 pt; the stand-in label on every chapter measured on stand-in data; a download link to each
chapter's notebook; **no text contradicting a verdict**: every row of every verdict table (the
chapters', the front page's, a printed one) shows its claim object's verdict (from the build's
``status.json``), the saved ``paper`` sweep's verdict and the right agreement, every claim of a
chapter has a row on its page, and no sentence
gives the claims it is about a verdict word they lack or states a direction ("beats", "helps",
"lower than") about claims that are all INCONCLUSIVE (the rules: ``scripts/verdict_checks.py``). At both widths: nothing sticks out of the text column (a wide table must
scroll inside its own box, and that box must say so: ``book/_static/mtl-book.js``) and the page
never scrolls sideways. Screenshots of every page at
both widths go to ``_build/screenshots/<width>/``; ``_build/screenshots/report.json`` lists
what each check found per page (the counts the issue reports).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import struct
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
BUILD = Path(os.environ.get("MTL_BOOK_BUILD", ROOT / "_build" / "smoke")).resolve()
HTML = BUILD / "html" if (BUILD / "html" / "index.html").exists() else BUILD / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
PROBE = (Path(__file__).parent / "browser_probe.js").read_text()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
#: (width, is a phone): the desktop layout and an iPhone-sized one.
WIDTHS = {1280: False, 390: True}
#: Smallest text a figure may show at 1280 px, in points (CSS: 96 px per inch).
LEGIBLE_PT = 9.0

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
    "py-modindex.html",
}  # the top index.html only redirects to intro

#: Raw markup that should have been rendered: reST directives, their options and roles, MyST roles.
RAW_MARKUP = re.compile(
    r"(?:^|\s)\.\. [a-z][\w:-]*::"
    r"|(?:^|[\s(]):(?:py:)?(?:class|func|meth|mod|attr|obj|exc|data|const|module|members|canonical"
    r"|show-inheritance|undoc-members|param|returns?|rtype|raises|math|ref|doc|term|numref|eq):(?:[\s`~]|$)"
    r"|\{(?:cite|doc|ref|term|math|numref|eq|py:\w+)(?::\w+)?\}`"
    r"|```"
)
#: Raw TeX outside typeset math: delimiters, and commands with an argument.
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|(?<![\w$])\$[^$\s][^$]{0,200}?\$(?![\w$])|\\[a-zA-Z]{2,}\{")


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
        return f"no book build at {BUILD} (run `make browser-test`, which builds the smoke book first)"
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
#: The tests that open the built book; the pattern tests at the end run anywhere.
needs_book = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
#: page → width → check → what it found; written to _build/screenshots/report.json at the end.
REPORT: dict[str, dict[str, dict[str, list[str]]]] = {}


@functools.cache
def _claims():
    """The build's claim objects per chapter page and the saved paper verdicts."""
    import verdict_checks

    return verdict_checks.Build.load(BUILD)


def _stand_in_pages() -> set[str]:
    status = _status() or {"notebooks": []}
    return {f"notebooks/{nb['name']}.html" for nb in status["notebooks"] if (nb.get("verdicts") or {}).get("stand_in")}


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--allow-file-access-from-files", "--window-size=1280,900", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "report.json").write_text(json.dumps(REPORT, indent=1, sort_keys=True))


def _viewport(driver, width: int, height: int) -> None:
    """The layout a reader gets at ``width`` CSS px (a phone's, with its viewport rules, at 390)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": WIDTHS[width],
    })  # fmt: skip


def _visit(driver, page: str, width: int) -> dict:
    """Open ``page`` at ``width``, probe it, and save a full-page screenshot (≤ 12000 px tall)."""
    _viewport(driver, width, 900)
    driver.get((HTML / page).as_uri())
    info = driver.execute_async_script(PROBE)
    assert "failure" not in info, f"{page}: MathJax failed: {info.get('failure')}"
    _viewport(driver, width, min(max(info["height"], 900), 12000))
    shot = SHOTS / str(width) / (page.replace("/", "__").removesuffix(".html") + ".png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(driver.get_screenshot_as_png())
    assert shot.stat().st_size > 0
    return info


def _record(page: str, width: int, check: str, found: list[str]) -> list[str]:
    REPORT.setdefault(page, {}).setdefault(str(width), {})[check] = found
    return found


def png_dpi(path: Path) -> float:
    """Pixels per inch stored in a PNG's pHYs chunk (matplotlib writes its dpi there); 72 if absent."""
    data = path.read_bytes()
    at = data.find(b"pHYs")
    if at < 0:
        return 72.0
    per_metre, _, unit = struct.unpack(">IIB", data[at + 4 : at + 13])
    return per_metre * 0.0254 if unit == 1 else 72.0


def smallest_shown_pt(figure: dict, page: str, font_pt: float) -> float | None:
    """Display size (pt) of a ``font_pt`` label in this figure, from how much the browser shrank
    it: font_pt × (shown / natural px) × (PNG dpi / 96 CSS px per inch)."""
    src = figure["src"] or ""
    if not figure["natural"] or src.startswith("data:"):
        return None
    path = (HTML / page).parent / unquote(src.split("#")[0].split("?")[0])
    dpi = png_dpi(path) if path.suffix.lower() == ".png" and path.exists() else 96.0
    return font_pt * figure["shown"] / figure["natural"] * dpi / 96.0


def claim_rows_without_numbers(rows: list[dict[str, str]]) -> list[str]:
    """Rows of verdict tables with no digit outside the claim and verdict columns."""
    bad = []
    for row in rows:
        rest = [v for k, v in row.items() if k != "claim" and not k.startswith(("verdict", "_"))]
        if not any(re.search(r"\d", v) for v in rest):
            bad.append(row.get("claim", "?")[:80])
    return bad


def raw_markup(prose: list[str]) -> tuple[list[str], list[str]]:
    """(raw reST/MyST pieces, raw TeX pieces) found in the page's visible prose."""
    text = "\n".join(prose)
    rest = [m.group(0).strip() for m in RAW_MARKUP.finditer(text)]
    tex = [m.group(0) for m in RAW_TEX.finditer(" ".join(prose))]
    return rest, tex


@needs_book
@pytest.mark.parametrize("page", PAGES or ["(none)"])
def test_page_in_browser(browser, page: str) -> None:
    info = _visit(browser, page, 1280)

    # no Python traceback or error output
    assert not info["errors"], f"{page}: error/stderr output on the page: {info['errors']}"
    assert "Traceback (most recent call last)" not in info["visible"], f"{page}: a traceback is shown"
    bad = re.findall(r"^\s*\w*(?:Error|Exception): .*$", info["outputs"], flags=re.M)
    assert not bad, f"{page}: error lines in cell outputs: {bad[:3]}"

    # every image loaded, with a size
    broken = [i["src"] for i in info["imgs"] if not i["ok"]]
    assert not broken, f"{page}: images not loaded or of zero size: {broken}"

    # math typeset; nothing raw left in the prose (TeX, reST, MyST)
    if info["nmath"]:
        assert info["mathjax"], f"{page}: has math but MathJax did not load (offline copy missing?)"
    assert not info["untypeset"], f"{page}: formulas left untypeset: {info['untypeset'][:3]}"
    rest, tex = raw_markup(info["prose"])
    problems = []
    if _record(page, 1280, "raw markup", rest):
        problems.append(f"raw reST/MyST markup in the text: {rest[:3]}")
    if _record(page, 1280, "raw tex", tex):
        problems.append(f"raw LaTeX left in the text: {tex[:3]}")

    # every figure captioned and, at this width, legible
    from mtl_lib.studies._figures import MIN_FONT_PT

    uncaptioned = [f["src"] for f in info["figures"] if not f["caption"]]
    if _record(page, 1280, "figures without caption", uncaptioned):
        problems.append(f"{len(uncaptioned)} figure(s) without a caption")
    shown = [(f, smallest_shown_pt(f, page, MIN_FONT_PT)) for f in info["figures"]]
    small = [
        f"{f['src'].rsplit('/', 1)[-1][:12]}… {pt:.1f} pt" for f, pt in shown if pt is not None and pt < LEGIBLE_PT
    ]
    if _record(page, 1280, "figures shrunk below 9 pt", small):
        problems.append(
            f"figure(s) shrunk until their {MIN_FONT_PT:g} pt text shows below {LEGIBLE_PT:g} pt: {small[:3]}"
        )

    # every row of a verdict table carries numbers, not only a verdict word
    bare = claim_rows_without_numbers(info["claimRows"])
    if _record(page, 1280, "claim rows without numbers", bare):
        problems.append(f"{len(bare)} verdict row(s) without numbers, e.g. {bare[:2]}")

    # no table cell and no sentence says what the claim objects do not
    import verdict_checks

    claims = _claims()
    rows = verdict_checks.table_contradictions(page, info["claimRows"], claims)
    if _record(page, 1280, "verdict cells contradicting a claim object", rows):
        problems.append(f"{len(rows)} verdict table cell(s) contradict their claim objects: {rows[:2]}")
    unshown = verdict_checks.claims_not_shown(page, info["claimRows"], claims)
    if _record(page, 1280, "claims without a verdict row", unshown):
        problems.append(f"{len(unshown)} claim(s) of this page in no verdict table: {unshown[:2]}")
    prose = verdict_checks.prose_contradictions(page, info["blocks"], claims)
    if _record(page, 1280, "sentences contradicting a verdict", prose):
        problems.append(f"{len(prose)} sentence(s) contradict the verdicts: {prose[:2]}")
    assert not problems, f"{page}: " + "; ".join(problems)

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
        assert any(Path(page).stem in d for d in info["downloads"]), f"{page}: no .ipynb download link"

    # stand-in label visible on every chapter measured on stand-in data
    if page in _stand_in_pages():
        assert "stand-in" in info["visible"].lower(), f"{page}: stand-in data but no visible stand-in label"


@needs_book
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("page", PAGES or ["(none)"])
def test_page_fits_its_width(browser, page: str, width: int) -> None:
    """Nothing wider than the text column (wide tables scroll inside their own box); the page
    itself never scrolls sideways."""
    info = _visit(browser, page, width)
    wide = _record(page, width, "wider than the column", info["wide"])
    hidden = _record(page, width, "tables scrolling without a hint", info["scrolling"])
    sideways = info["pageWidth"] > info["windowWidth"] + 1
    _record(page, width, "page scrolls sideways", [f"{info['pageWidth']} px"] if sideways else [])
    assert not hidden, (
        f"{page} at {width} px: {len(hidden)} table(s) scroll sideways without the 'scroll sideways' "
        f"line of book/_static/mtl-book.js: {hidden[:3]}"
    )
    assert not wide and not sideways, (
        f"{page} at {width} px: {len(wide)} element(s) stick out of the "
        f"{info['column']['width']:.0f} px column: {wide[:4]}"
        + (f"; the page is {info['pageWidth']} px wide" if sideways else "")
    )


@needs_book
def test_every_chapter_page_was_checked() -> None:
    """The parametrised tests covered the front page, the status page, the glossary, the API
    reference and every notebook."""
    status = _status()
    chapters = {f"notebooks/{nb['name']}.html" for nb in status["notebooks"]}
    assert chapters <= set(PAGES), f"notebook pages missing from the build: {chapters - set(PAGES)}"
    assert {"book/intro.html", "book/status.html", "book/api.html", "book/methods.html"} <= set(PAGES)
    assert _stand_in_pages(), "the smoke build has no stand-in chapter: the stand-in check tested nothing"


def test_raw_markup_patterns_catch_what_they_should() -> None:
    """The patterns find the leftovers of the old API page and miss ordinary prose."""
    rest, tex = raw_markup([".. py:class:: Callback()", ":module: mtl_lib.core", "Bases: :py:class:",
                            "see {cite}`yu2020pcgrad`", r"\texttt{load\_digits}", "costs $5 and $6"])  # fmt: skip
    assert len(rest) == 4 and tex == [r"\texttt{"]
    assert raw_markup(["PCGrad: projecting conflicts (ratio 3:1, time 10:30)."]) == ([], [])


def test_claim_rows_need_numbers() -> None:
    rows = [{"claim": "A beats B", "verdict": "REPRODUCED", "ours": "+0.03 ± 0.01"},
            {"claim": "C beats D", "verdict": "INCONCLUSIVE", "at `paper` (saved sweep)": "REPRODUCED"}]  # fmt: skip
    assert claim_rows_without_numbers(rows) == ["C beats D"]


def test_verdict_contradictions_are_found() -> None:
    """The checks catch issue 23's examples: a sentence stating a direction beside an INCONCLUSIVE
    claim, an INCONCLUSIVE claim listed as not reproduced, a table cell with another verdict."""
    import verdict_checks

    relief = {"claim": "PCGrad does not relieve the dominated task A.", "verdict": "INCONCLUSIVE", "id": "x.relief"}
    build = verdict_checks.Build(Path("."), {"notebooks/x.html": [relief]})
    assert verdict_checks.prose_contradictions(
        "notebooks/x.html", ["Here PCGrad did help task A, unlike in the paper."], build
    )
    assert verdict_checks.prose_contradictions(
        "notebooks/x.html", ["Not reproduced: PCGrad does not relieve the dominated task A."], build
    )
    assert not verdict_checks.prose_contradictions(
        "notebooks/x.html", ["Whether PCGrad relieves task A this run cannot tell."], build
    )
    row = {"claim": relief["claim"], "verdict": "REPRODUCED", "ours": "0.1 ± 0.2"}
    assert verdict_checks.table_contradictions("notebooks/x.html", [row], build)
    assert not verdict_checks.table_contradictions("notebooks/x.html", [{**row, "verdict": "INCONCLUSIVE"}], build)
    assert verdict_checks.claims_not_shown("notebooks/x.html", [], build) == [relief["claim"]]
    assert verdict_checks.claims_not_shown("notebooks/x.html", [row], build) == []
