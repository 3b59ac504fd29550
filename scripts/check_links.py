#!/usr/bin/env python3
"""Offline link check of a built book: every internal ``href``, ``#anchor`` and ``src``.

    python scripts/check_links.py [_build/html]

Sphinx's own ``linkcheck`` builder needs the network; this one reads only the HTML files. For
each page it checks that relative links point to files that exist, that ``#fragments`` name an
``id`` (or ``name``) on the target page, and that ``<img>``, ``<script>`` and stylesheet
sources exist. External links (http, https, mailto, ...) are not followed. Exit 1 with one
line per broken link.
"""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:", "ftp:", "tel:")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (attribute, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key) and (key == "id" or tag == "a"):
                self.ids.add(values[key] or "")
        if tag == "a" and values.get("href"):
            self.links.append(("href", values["href"] or ""))
        elif tag == "link" and values.get("href") and "stylesheet" in (values.get("rel") or ""):
            self.links.append(("href", values["href"] or ""))
        elif tag in ("img", "script", "source") and values.get("src"):
            self.links.append(("src", values["src"] or ""))


def _parse(path: Path, cache: dict[Path, _Page]) -> _Page:
    if path not in cache:
        page = _Page()
        page.feed(path.read_text(errors="replace"))
        cache[path] = page
    return cache[path]


def check_site(html_dir: str | Path) -> list[str]:
    """Every broken internal link of the site under ``html_dir``, as readable lines."""
    root = Path(html_dir).resolve()
    if not (root / "index.html").exists():
        return [f"{root}/index.html does not exist: build the book first (make book)"]
    cache: dict[Path, _Page] = {}
    problems = []
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.parts)
    for page_path in pages:
        page = _parse(page_path, cache)
        for attribute, url in page.links:
            if url.startswith(EXTERNAL) or url.startswith("//"):
                continue
            parts = urlsplit(url)
            where = f"{page_path.relative_to(root)}: {attribute}={url!r}"
            target = page_path if not parts.path else (page_path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{where} → missing file {target}")
                continue
            if parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in _parse(target, cache).ids:
                    problems.append(f"{where} → no id {parts.fragment!r} in {target.relative_to(root)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    html = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent / "_build" / "html"
    problems = check_site(html)
    for problem in problems:
        print(problem)
    print(f"check_links: {len(problems)} broken internal link(s) under {html}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
