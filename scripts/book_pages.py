"""The pages the book build generates from the notebooks' verdicts: each chapter's verdict cell,
the front page's table of every claim, and the build status table (``scripts/build_book.py``).

A chapter's claim is paired with its verdict in a saved ``paper`` sweep (``data/paper_verdicts/``)
by the claim's stable id, never by its wording.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Column of a claim's verdict and numbers in a saved ``paper`` sweep: the strongest evidence the
#: book has, so it comes first wherever it exists.
SAVED_COLUMN = "at `paper` (saved sweep)"
VERDICT_CELL = "mtl_book_verdicts"  # metadata key of the generated verdict cell
#: Verdict words of the rule before the current one, as saved summaries written then still carry them.
LEGACY_VERDICTS = {"SAME DIRECTION": "INCONCLUSIVE", "UNDECIDED": "INCONCLUSIVE"}


def markdown_table(header: list[str], rows: list[tuple[Any, ...]]) -> str:
    """A Markdown pipe table; ``|`` and newlines inside cells are escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def stand_in_label(data: str) -> str:
    """The data description with "stand-in" in bold; prefixed only when the words lack it (a
    description such as "stand-in (generated)" once read "stand-in (stand-in (generated))")."""
    return data.replace("stand-in", "**stand-in**", 1) if "stand-in" in data else f"**stand-in** ({data})"


def saved_verdicts(folder: Path) -> dict[str, dict[str, str]]:
    """Claim id → its verdict (in the current words), numbers and file in a saved ``paper`` sweep,
    from every saved summary that lists claims (and ablations, which only their chapter's
    ablation tables show). ``legacy`` keeps a verdict word of the earlier rule."""
    out: dict[str, dict[str, str]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        summary = json.loads(path.read_text())
        for claim in [*summary.get("claims", []), *summary.get("ablations", [])]:
            if claim.get("id"):
                word = claim["verdict"]
                entry = {"verdict": LEGACY_VERDICTS.get(word, word), "file": path.name, "ours": claim.get("ours", "")}
                if word in LEGACY_VERDICTS:
                    entry["legacy"] = word
                out[claim["id"]] = entry
    return out


def _saved_cell(claim: dict[str, Any], saved: dict[str, dict[str, str]]) -> str:
    """The saved sweep's verdict with its numbers (an earlier rule's word noted), or empty."""
    match = saved.get(claim.get("id") or "")
    if not match:
        return ""
    legacy = f" (saved as {match['legacy']}, the earlier rule's word)" if match.get("legacy") else ""
    return (
        f"**{match['verdict']}**{legacy}: {match['ours']}" if match.get("ours") else f"**{match['verdict']}**{legacy}"
    )


def _agreement(claim: dict[str, Any], saved: dict[str, dict[str, str]], profile: str) -> str:
    """In words: whether the saved `paper` sweep and this build reach the same verdict."""
    match = saved.get(claim.get("id") or "")
    if not match:
        return "no saved `paper` sweep"
    if match["verdict"] == claim["verdict"]:
        return "same verdict"
    return f"differs: the `paper` sweep says {match['verdict']}, this `{profile}` build {claim['verdict']}"


def _has_saved(claims: list[dict[str, Any]], saved: dict[str, dict[str, str]]) -> bool:
    return any(c.get("id") in saved for c in claims if c.get("id"))


def _claim_rows(
    claims: list[dict[str, Any]], saved: dict[str, dict[str, str]], profile: str, extra: list[str]
) -> tuple[list[str], list[tuple[Any, ...]], bool]:
    """Header and rows of a claims table: with a saved `paper` sweep its verdict and numbers lead,
    this build's follow, and a last column says in words whether they agree."""
    with_saved = profile != "paper" and _has_saved(claims, saved)
    if not with_saved:
        header = ["claim", "verdict", *extra]
        rows = [(c["claim"], f"**{c['verdict']}**", *(c.get(k, "") for k in extra)) for c in claims]
        return header, rows, False
    here = [k for k in extra if k != "paper"]
    header = ["claim", *(["paper"] if "paper" in extra else []), SAVED_COLUMN,
              f"this build (`{profile}`)", *(f"{k} (`{profile}`)" for k in here), "agreement"]  # fmt: skip
    rows = [(c["claim"], *([c.get("paper", "")] if "paper" in extra else []), _saved_cell(c, saved),
             f"**{c['verdict']}**", *(c.get(k, "") for k in here), _agreement(c, saved, profile))
            for c in claims]  # fmt: skip
    return header, rows, True


def _claims_block(verdicts: dict[str, Any], saved: dict[str, dict[str, str]]) -> tuple[list[str], bool]:
    claims, profile = verdicts["claims"], verdicts["profile"]
    if not claims:
        return [f"This page tests no claim of the documents (profile `{profile}`, data: {verdicts['data']})."], False
    # the paper/ours columns only where some claim fills them
    extra = [k for k in ("paper", "ours") if any(c.get(k) for c in claims)]
    header, rows, with_saved = _claim_rows(claims, saved, profile, extra)
    intro = f"**Verdicts** (profile `{profile}`, data: {verdicts['data']}; details at the end of the page):\n"
    return [intro, markdown_table(header, rows)], with_saved


def verdict_cell(
    verdicts: dict[str, Any] | None, name: str, saved: dict[str, dict[str, str]] | None = None
) -> dict[str, Any]:
    """The Markdown cell the build puts under a chapter's title: what it reproduces, its verdicts."""
    if verdicts is None:
        text = (f"```{{warning}}\nThis execution of `{name}` recorded no verdicts "
                "(its `report_verdicts` call did not run).\n```")  # fmt: skip
    else:
        lines = [f"**What this page reproduces.** {verdicts['reproduces']}\n"] if verdicts.get("reproduces") else []
        block, with_saved = _claims_block(verdicts, saved or {})
        lines += block
        if verdicts.get("stand_in"):
            lines.append("\n*Measured on generated **stand-in** data, not on the real data set.*")
        if verdicts["profile"] != "paper":
            lines.append(f"\n*Profile `{verdicts['profile']}` is smaller than the documents' settings: "
                         "these verdicts are provisional.*")  # fmt: skip
            if with_saved:
                lines.append("*Where a `paper` sweep was run outside the build and saved in "
                             "`data/paper_verdicts/`, its verdict and numbers come first: it is the "
                             "stronger evidence (its provenance is at the end of the page).*")  # fmt: skip
        text = "\n".join(lines)
    return {"cell_type": "markdown", "id": "mtl-book-verdicts", "metadata": {VERDICT_CELL: True},
            "source": text}  # fmt: skip


def toc_parts(toc_file: Path) -> dict[str, str]:
    """notebook name → the caption of its part in _toc.yml (the source document)."""
    import yaml

    toc = yaml.safe_load(toc_file.read_text())
    out: dict[str, str] = {}

    def walk(entries: list[dict[str, Any]], caption: str) -> None:
        for entry in entries:
            if "file" in entry and entry["file"].startswith("notebooks/"):
                out[entry["file"].split("/", 1)[1]] = caption
            walk(entry.get("sections", []), caption)

    for part in toc.get("parts", []):
        walk(part.get("chapters", []), part.get("caption", ""))
    return out


def _page_block(run: Any, saved: dict[str, dict[str, str]], counts: dict[str, int], paired: list[bool]) -> str:
    v = run.verdicts
    if v is None:
        return f"{{doc}}`/notebooks/{run.name}`: *no verdicts recorded by this build*"
    data = stand_in_label(v["data"]) if v.get("stand_in") else v["data"]
    head = f"{{doc}}`/notebooks/{run.name}` (profile `{v['profile']}`; data: {data})"
    if not v["claims"]:
        return head + ": tests no claim of the documents."
    for c in v["claims"]:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    with_saved = v["profile"] != "paper" and _has_saved(v["claims"], saved)
    if with_saved:
        paired += [saved[c["id"]]["verdict"] == c["verdict"] for c in v["claims"] if c.get("id") in saved]
    header, rows, _ = _claim_rows(v["claims"], saved, v["profile"], ["ours"])
    return head + "\n\n" + markdown_table(header, rows)


def summary_markdown(runs: list[Any], saved: dict[str, dict[str, str]] | None, parts: dict[str, str]) -> str:
    """The front page's table of every claim, grouped by source document (``parts``: notebook →
    its part's caption) and page, with the verdict of a saved ``paper`` sweep beside a claim that has one."""
    saved = saved or {}
    blocks: list[str] = []
    counts: dict[str, int] = {}
    paired: list[bool] = []
    caption = None
    for run in sorted(runs, key=lambda r: list(parts).index(r.name) if r.name in parts else 99):
        if parts.get(run.name, "Other pages") != caption:
            caption = parts.get(run.name, "Other pages")
            blocks.append(f"### {caption}")
        blocks.append(_page_block(run, saved, counts, paired))
    total = sum(counts.values())
    intro = (f"Generated by the build from the notebooks' own verdicts: {total} claims, "
             + ", ".join(f"{n} {k.lower()}" for k, n in sorted(counts.items())) + ". "
             "A verdict at `smoke` or `quick` is provisional; {doc}`status` says when and how "
             "each page was computed.")  # fmt: skip
    if paired:
        intro += (f" {len(paired)} of the claims also have a verdict from a `paper` sweep run outside the "
                  f"build and saved in `data/paper_verdicts/`: the stronger evidence, so it leads their rows "
                  f"({SAVED_COLUMN}); {sum(paired)} of those {len(paired)} agree with this build's, and the "
                  f"last column says so claim by claim.")  # fmt: skip
    return "\n\n".join([register_markdown(), intro, *blocks])


def register_markdown() -> str:
    """The claims register's counts per source document (tested / untestable here / not yet) and
    its one-sentence summary, from :mod:`mtl_lib.studies.claims_register`."""
    from mtl_lib.studies import claims_register

    counts = claims_register.counts()
    columns = [c for c in counts.columns if c != "title"]
    rows = [(row["title"], *(int(row[c]) for c in columns)) for _, row in counts.iterrows()]
    return (
        "**Every claim accounted for.** "
        + claims_register.counts_sentence()
        + " Each chapter lists its untested claims at the end.\n\n"
        + markdown_table(["document", *columns], rows)
    )


def _runs_cell(verdicts: dict[str, Any]) -> str:
    cache = verdicts.get("cache")
    if not cache:
        return "none stored"

    def show(x: Any) -> str:
        return "?" if x is None else str(x)

    return f"{show(cache.get('from_cache'))} / {show(cache.get('trained_now'))}"


def status_markdown(runs: list[Any], build: dict[str, Any]) -> str:
    """The build status page's table: per notebook, profile, times, commit, data, cached runs."""
    rows = []
    for run in runs:
        v = run.verdicts or {}
        rows.append((
            f"{{doc}}`{run.name.replace('_', ' ')} </notebooks/{run.name}>`",
            f"`{run.profile}`",
            f"{run.wall_s:.0f} s ({run.cpu_s:.0f} s)",
            run.finished.removesuffix(" UTC"),
            "executed" if run.executed else ("reused, inputs changed" if getattr(run, "stale", False) else "reused"),
            f"{run.version} @ `{run.commit}`",
            stand_in_label(v.get("data", "?")) if v.get("stand_in") else v.get("data", "?"),
            _runs_cell(v),
        ))  # fmt: skip
    table = markdown_table(
        ["notebook", "profile", "wall (CPU)", "finished (UTC)", "this build", "mtl_lib @ commit",
         "data", "runs cached / trained"], rows,
    )  # fmt: skip
    return (
        f"Built {build['finished']} at profile `{build['profile']}` on {build['cores']} core(s): "
        f"{build['jobs']} notebook(s) at a time, {build['threads']} torch thread(s) and "
        f"{build['workers']} sweep worker(s) each; notebook execution took "
        f"{build['execute_s']:.0f} s of wall time. Library {build['version']}, commit "
        f"`{build['commit']}`.\n\n" + table
    )
