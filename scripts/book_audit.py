#!/usr/bin/env python3
"""Count, in a built book, what issue 23 says the book must not do.

    python scripts/book_audit.py BUILD [--browser] [--json FILE]

``BUILD`` is the folder ``scripts/build_book.py --out`` wrote (``status.json``, the claim objects
of every chapter, and ``_build/html``). Four counts, each with its items:

1. **Verdicts the intervals do not support.** Every claim object of the build, and every saved
   ``paper`` verdict a page shows, read back from its numbers (``verdict_checks.unsupported``:
   e.g. a REPRODUCED on means only, or a REPRODUCED difference whose interval contains 0).
2. **Page text that contradicts a verdict.** Every row of every verdict table (chapters, front
   page, printed tables) against its claim object and the saved sweep
   (``verdict_checks.row_problems``), and every sentence of every page against the claims it is
   about (``verdict_checks.sentence_problem``: a verdict word they do not have, a direction
   stated about claims that are all INCONCLUSIVE).
3. **Clipped tables** at 1280 and 390 px: tables that stick out of the text column or scroll
   without the "scroll sideways" hint. Needs Chromium (``--browser``; the machinery of
   ``tests/book/test_browser.py``); without it the count says "not measured".
4. **Claims of the three documents with no status**: build claims that no entry of the claims
   register (:mod:`mtl_lib.studies.claims_register`) accounts for, and register entries marked
   tested whose claim has no verdict in this build.

Exit status 1 when any count is not zero. The rules are heuristics on the page text; each item
printed says what was read, so a false alarm can be checked by eye.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from verdict_checks import (  # noqa: E402
    Build,
    normalise,
    prose_contradictions,
    table_contradictions,
    unsupported_verdicts,
)

# ----------------------------------------------------------------------------- reading the HTML
#: Blocks of prose; a cell's printed text is read too (a sentence printed by code counts).
PROSE_BLOCKS = "p, li, dd, figcaption, blockquote, .output.stream pre, .output.text_plain pre"


def _cells(tr: Any) -> list[str]:
    return [" ".join(td.get_text(" ", strip=True).split()) for td in tr.find_all(["td", "th"], recursive=False)]


def _table_page(table: Any) -> str | None:
    """The chapter a table on a gathering page is about: the chapter linked just above it."""
    node = table
    while node is not None and node.find_previous_sibling() is None:
        node = node.parent
    above = node.find_previous_sibling() if node is not None else None
    link = above.find("a", href=re.compile(r"notebooks/[\w-]+\.html")) if above is not None else None
    if link is None:
        return None
    return "notebooks/" + re.search(r"notebooks/([\w-]+\.html)", link["href"]).group(1)


def verdict_rows(soup: Any) -> list[dict[str, str]]:
    """Rows of every table with a "claim" column and a verdict column, as header → cell text
    (pandas' printed tables lead with an index cell, which is dropped)."""
    rows = []
    for table in soup.find_all("table"):
        head_row = table.find("thead").find("tr") if table.find("thead") else table.find("tr")
        header = [h.lower() for h in _cells(head_row)] if head_row else []
        if "claim" not in header or not any(h.startswith(("verdict", "this build")) for h in header):
            continue
        page = _table_page(table)
        for tr in (table.find("tbody") or table).find_all("tr"):
            cells = _cells(tr)
            if tr is head_row or not cells:
                continue
            cells = cells[len(cells) - len(header) :] if len(cells) > len(header) else cells
            rows.append({**dict(zip(header, cells)), "_page": page or ""})
    return rows


def prose_blocks(soup: Any) -> list[str]:
    """The text of every prose block outside tables and code."""
    main = soup.find("main") or soup
    blocks = []
    for el in main.select(PROSE_BLOCKS):
        if el.find_parent("table") or el.find_parent(class_="cell_input"):
            continue
        if el.find_parent(class_="highlight") and not el.find_parent(class_="cell_output"):
            continue  # code shown on the page, not a cell's printed text
        if el.name in ("li", "dd", "blockquote") and el.find("p"):
            continue  # its paragraphs are blocks of their own
        blocks.append(" ".join(el.get_text(" ", strip=True).split()))
    return blocks


def pages(html: Path) -> list[str]:
    skip = {"genindex.html", "search.html", "index.html", "py-modindex.html"}
    return sorted(
        str(p.relative_to(html)) for p in html.rglob("*.html")
        if "_static" not in p.parts and "_sources" not in p.parts and str(p.relative_to(html)) not in skip
    )  # fmt: skip


def text_contradictions(build: Build) -> list[str]:
    """Count 2 over every page of the book."""
    from bs4 import BeautifulSoup

    out = []
    for page in pages(build.html):
        soup = BeautifulSoup((build.html / page).read_text(), "html.parser")
        out += table_contradictions(page, verdict_rows(soup), build)
        out += prose_contradictions(page, prose_blocks(soup), build)
    return out


# ----------------------------------------------------------------------------- 3. clipped tables
def clipped_tables(html: Path, widths: tuple[int, ...] = (1280, 390)) -> list[str]:
    """Tables sticking out of the text column, or scrolling without their hint, at each width, as
    the browser test measures them (``tests/book/browser_probe.js``)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    probe = (ROOT / "tests" / "book" / "browser_probe.js").read_text()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--allow-file-access-from-files", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_script_timeout(60)
    out = []
    try:
        for width in widths:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600,
            })  # fmt: skip
            for page in pages(html):
                driver.get((html / page).as_uri())
                info = driver.execute_async_script(probe)
                clipped = [w for w in info.get("wide", []) if w.startswith("table")] + info.get("scrolling", [])
                out += [f"{page} at {width} px: {what[:90]}" for what in clipped]
    finally:
        driver.quit()
    return out


# ----------------------------------------------------------------------------- 4. the register
def claims_without_status(build: Build) -> list[str]:
    """Count 4: claims of the chapters of the three documents that no register entry accounts for,
    and entries marked tested whose claim has no verdict in this build."""
    from mtl_lib.studies import claims_register

    entries = claims_register.ENTRIES
    out = []
    for page, claims in build.claims.items():
        chapter = page.removeprefix("notebooks/").removesuffix(".html")
        tested = [e for e in entries if e.status == claims_register.TESTED and e.chapter == chapter]
        if not any(e.chapter == chapter for e in entries):
            continue  # a chapter outside the three documents (none of its claims are theirs)
        for claim in claims:
            if not any(normalise(e.prefix) in normalise(claim["claim"]) for e in tested):
                out.append(f"{page}: '{claim['claim'][:80]}…' is in no register entry")
        for entry in tested:
            if not any(normalise(entry.prefix) in normalise(c["claim"]) for c in claims):
                out.append(f"{entry.id}: marked tested, but {page} has no verdict for '{entry.prefix[:60]}…'")
    return out


# ----------------------------------------------------------------------------- main
COUNTS = (
    ("verdicts the intervals do not support", "unsupported"),
    ("prose/table text contradicting a verdict", "contradictions"),
    ("clipped tables (1280 and 390 px)", "clipped"),
    ("claims of the three documents with no status", "no_status"),
)


def audit(folder: Path, browser: bool = False, saved_dir: Path | None = None) -> dict[str, list[str] | None]:
    """Every count's items (``clipped`` is ``None`` without ``browser``); ``saved_dir`` holds the
    saved paper summaries (default ``data/paper_verdicts``)."""
    build = Build.load(folder, saved_dir)
    return {
        "unsupported": unsupported_verdicts(build),
        "contradictions": text_contradictions(build),
        "clipped": clipped_tables(build.html) if browser else None,
        "no_status": claims_without_status(build),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path, help="the build folder (holds status.json and _build/html)")
    parser.add_argument("--browser", action="store_true", help="also count clipped tables (needs Chromium)")
    parser.add_argument("--json", type=Path, help="write every count's items to this file")
    args = parser.parse_args(argv)
    if not (args.build / "status.json").exists():
        print(f"no status.json in {args.build}: pass the folder scripts/build_book.py --out wrote", file=sys.stderr)
        return 2
    found = audit(args.build, args.browser)
    for title, key in COUNTS:
        items = found[key]
        print(f"{title}: {'not measured (pass --browser)' if items is None else len(items)}")
        for item in items or []:
            print(f"  - {item}")
    from mtl_lib.studies import claims_register

    print(f"(the register itself: {claims_register.counts_sentence()})")
    if args.json:
        args.json.write_text(json.dumps(found, indent=1, ensure_ascii=False))
    return 1 if any(found[key] for _, key in COUNTS) else 0


if __name__ == "__main__":
    sys.exit(main())
