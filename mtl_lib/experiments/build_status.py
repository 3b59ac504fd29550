"""What a notebook tells the book build about itself: its verdicts and where its runs came from.

A chapter notebook ends with one call,

    report_verdicts("leaf_combinations", claims, profile=profile, data=data.source,
                    records=records, results_dir=results_dir)

which writes ``<verdicts dir>/leaf_combinations.json`` and returns the verdict table for display.
The book build (``scripts/build_book.py``) reads these files to put the verdict table at the top
of the chapter, the summary of every claim on the front page, and the cache counts on the build
status page. Nothing here changes a result: it only reports what the notebook computed.

Verdicts use the book's three words (``book/reproducing.md``, "How a verdict is reached"):
REPRODUCED, NOT REPRODUCED and INCONCLUSIVE (the interval contains both zero and the paper's
effect: the run is too small to tell). SAME DIRECTION and UNDECIDED, the words of the rule before
it, are read as INCONCLUSIVE: both meant an interval that reaches zero.

Cache counts: a run *came from the cache* when its record file existed before this notebook
started, and was *trained now* otherwise. The start time is ``$MTL_NOTEBOOK_STARTED`` (set by
the book build) or, failing that, the start time of the kernel process.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from mtl_lib.experiments.store import write_json_atomic

REPRODUCED = "REPRODUCED"
NOT_REPRODUCED = "NOT REPRODUCED"
INCONCLUSIVE = "INCONCLUSIVE"
#: The book's verdict words, defined once (the studies' claims re-export them).
VERDICTS: tuple[str, ...] = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)
#: Words of the earlier verdict rule (saved summaries written before it changed) and how they read now.
LEGACY_VERDICTS = {"SAME DIRECTION": "INCONCLUSIVE", "UNDECIDED": "INCONCLUSIVE"}


def normalise_verdict(value: Any) -> str:
    """One of :data:`VERDICTS` from a bool (reproduced or not) or a verdict string such as
    ``"INCONCLUSIVE (one fold)"``; the earlier rule's words map by :data:`LEGACY_VERDICTS`."""
    if isinstance(value, bool):
        return "REPRODUCED" if value else "NOT REPRODUCED"
    text = str(value).strip().upper()
    for verdict in ("NOT REPRODUCED", "REPRODUCED", "INCONCLUSIVE"):
        if text.startswith(verdict):
            return verdict
    for legacy, verdict in LEGACY_VERDICTS.items():
        if text.startswith(legacy):
            return verdict
    raise ValueError(
        f"unknown verdict {value!r}: expected a bool or a string starting with one of {', '.join(VERDICTS)}"
    )


def claim_row(claim: Any) -> dict[str, str]:
    """A claim as a plain row: ``claim``, ``verdict``, ``paper``, ``ours``, its stable ``id`` and
    its ``test`` (empty for a claim without them).

    Accepts the studies' claim objects (with ``claim`` and either ``verdict`` or
    ``reproduced``; ``paper``/``ours`` when they have them), a mapping with the same keys, or a
    ``(claim, verdict)`` pair."""
    if isinstance(claim, Mapping):
        get = claim.get
    elif isinstance(claim, tuple):
        text, verdict = claim[0], claim[1]
        return {
            "claim": str(text),
            "verdict": normalise_verdict(verdict),
            "paper": "",
            "ours": "",
            "id": "",
            "test": "",
        }
    else:

        def get(key: str, default: Any = None) -> Any:
            return getattr(claim, key, default)

    verdict = get("verdict")
    if verdict is None:
        verdict = get("reproduced")
    if verdict is None:
        raise ValueError(f"claim {claim!r} has neither a 'verdict' nor a 'reproduced' field")
    ours = get("ours")
    if ours is None and get("mean_difference") is not None:
        # paired comparisons (leaf study) carry their numbers instead of an 'ours' sentence
        half = get("half_width")
        ours = f"{get('better')} − {get('worse')} = {get('mean_difference'):+.3f}"
        if half is not None and not math.isnan(half):
            ours += f" ± {half:.3f}"
        ours += f" over {get('folds')} fold(s)"
    return {
        "claim": str(get("claim")),
        "verdict": normalise_verdict(verdict),
        "paper": "" if get("paper") is None else str(get("paper")),
        "ours": "" if ours is None else str(ours),
        "id": str(get("id") or ""),
        # how the verdict was reached (an equivalence test names its margin): the book audit reads it
        "test": str(get("test") or ""),
    }


def verdicts_dir() -> Path:
    """``$MTL_VERDICTS_DIR`` if set, else ``_build/verdicts`` at the book's root (found by
    walking up to ``_toc.yml``), else ``./verdicts``."""
    env = os.environ.get("MTL_VERDICTS_DIR")
    if env:
        return Path(env)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder / "_build" / "verdicts"
    return here / "verdicts"


def notebook_started() -> float | None:
    """When this notebook's execution began (seconds since the epoch), or ``None`` if unknown."""
    env = os.environ.get("MTL_NOTEBOOK_STARTED")
    if env:
        return float(env)
    try:  # Linux: the kernel process's start time, from /proc
        ticks = int(Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def cache_counts(
    records: Iterable[Mapping[str, Any]],
    results_dir: str | Path | Sequence[str | Path],
    started: float | None = None,
) -> dict[str, int | None]:
    """How many of ``records`` were read from ``results_dir`` (their file predates ``started``)
    and how many were trained by this execution. Unknown counts are ``None``. A chapter whose
    sweeps use several folders passes them all; each record is looked up in the first that
    holds it."""
    started = notebook_started() if started is None else started
    folders = [Path(results_dir)] if isinstance(results_dir, (str, Path)) else [Path(f) for f in results_dir]
    cached = trained = 0
    unknown = 0
    for record in records:
        name = f"{record['run_id']}.json"
        path = next((f / name for f in folders if (f / name).exists()), folders[0] / name)
        if started is None or not path.exists():
            unknown += 1
        elif path.stat().st_mtime < started:
            cached += 1
        else:
            trained += 1
    if unknown:
        return {"runs": cached + trained + unknown, "from_cache": None, "trained_now": None}
    return {"runs": cached + trained, "from_cache": cached, "trained_now": trained}


def report_verdicts(
    notebook: str,
    claims: Sequence[Any],
    *,
    profile: str,
    data: str,
    records: Iterable[Mapping[str, Any]] | None = None,
    results_dir: str | Path | Sequence[str | Path] | None = None,
    reproduces: str = "",
    out_dir: str | Path | None = None,
    ablations: Sequence[Any] = (),
) -> pd.DataFrame:
    """Save the notebook's verdicts (and its runs' cache counts) for the book build, and return
    them as a table to display. ``ablations``: claims of ours that test an explanation of a
    failing claim; they are saved apart (key ``"ablations"``) so the book's checks can read the
    page's ablation tables against them, and no verdict count includes them.

    ``data`` says what the numbers were measured on, e.g. ``"generated stand-in"`` or
    ``"real images"``; the build page flags any value containing "stand-in". ``reproduces`` is
    one sentence on what the chapter reproduces (shown above the verdict table)."""
    rows = [claim_row(c) for c in claims]
    payload: dict[str, Any] = {
        "notebook": notebook,
        "profile": profile,
        "data": data,
        "stand_in": "stand-in" in data.lower(),
        "reproduces": reproduces,
        "claims": rows,
        "ablations": [claim_row(c) for c in ablations],
        "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "written_at_epoch": time.time(),
    }
    if records is not None and results_dir is not None:
        payload["cache"] = cache_counts(list(records), results_dir)
    write_json_atomic(Path(out_dir or verdicts_dir()) / f"{notebook}.json", payload)
    return verdict_table(rows, profile=profile, data=data)


def verdict_table(rows: Sequence[Mapping[str, str]], *, profile: str, data: str) -> pd.DataFrame:
    """Rows as a table: claim, verdict, paper, ours, profile, data."""
    frame = pd.DataFrame([{k: r.get(k, "") for k in ("claim", "verdict", "paper", "ours")} for r in rows],
                         columns=["claim", "verdict", "paper", "ours"])  # fmt: skip
    frame["profile"] = profile
    frame["data"] = data
    frame.index = range(1, len(frame) + 1)
    return frame
