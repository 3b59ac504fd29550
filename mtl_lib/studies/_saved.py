"""A chapter's claims beside the same claims in a saved sweep (``data/paper_verdicts/``), paired by
their stable ids (:attr:`~mtl_lib.studies._common.Claim.id`), never by their wording."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from mtl_lib.experiments.build_status import normalise_verdict
from mtl_lib.experiments.saved_summaries import describe, missing_message, read_summary

if TYPE_CHECKING:
    from mtl_lib.studies._common import Claim


def compare_claims(claims: Sequence[Claim], saved: Sequence[Mapping[str, Any]], here: str, there: str) -> pd.DataFrame:
    """Each claim checked in this execution beside the claim with the same id in a saved
    summary's ``claims`` (e.g. the ``paper`` sweep): verdict and measurement at both, and whether
    the verdicts agree (None when the saved summary lacks the claim, or the claim has no id)."""
    by_id = {row["id"]: row for row in saved if row.get("id")}
    rows = []
    for claim in claims:
        other = by_id.get(claim.id) if claim.id else None
        # A summary saved under the earlier rule carries its words (SAME DIRECTION, UNDECIDED): read
        # them as today's rule does, so the table never shows a verdict the claim objects do not use.
        theirs = normalise_verdict(other["verdict"]) if other else None
        rows.append({
            "claim": claim.claim,
            f"verdict ({here})": claim.verdict,
            f"ours ({here})": claim.ours,
            f"verdict ({there})": theirs,
            f"ours ({there})": other["ours"] if other else None,
            "same verdict": None if other is None else theirs == claim.verdict,
        })  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.index = range(1, len(frame) + 1)
    return frame


def claims_agreement(comparison: pd.DataFrame, here: str, there: str) -> str:
    """One sentence: how many verdicts agree between the two, and the claims the saved summary lacks."""
    known = comparison[comparison["same verdict"].notna()]
    text = f"{int(known['same verdict'].astype(bool).sum())} of {len(known)} verdicts agree between '{here}' and '{there}'."
    changed = known[~known["same verdict"].astype(bool)]
    if len(changed):
        pairs = "; ".join(
            f"({i}) {row[f'verdict ({here})']} → {row[f'verdict ({there})']}" for i, row in changed.iterrows()
        )
        text += f" Changed: {pairs}."
    missing = [str(i) for i in comparison.index if i not in known.index]
    if missing:
        text += f" Not in the saved summary (re-run it to add them): claims {', '.join(missing)}."
    return text


def beside_saved(
    claims: Sequence[Claim],
    name: str,
    here: str,
    *,
    command: str | None = None,
    source: str | None = None,
    saved_profile: str = "paper",
    section: str = "claims",
) -> tuple[str, pd.DataFrame | None]:
    """This execution's ``claims`` beside the saved summary ``name`` at ``saved_profile`` (only its
    claims from ``source`` when given): a text (where the summary came from and how many verdicts
    agree) and the :func:`compare_claims` table; without a saved summary, the text says how to
    make one (``command``, by default the registered study's ``run --save-summary``) and the
    table is None. ``section``: which list of the summary to compare with (``"claims"``, or e.g.
    ``"ablations"``). A damaged summary raises one error naming the file and that command."""
    if command is None:
        from mtl_lib.studies.registry import summary_owner

        owner = summary_owner(name)
        command = owner.summary_command(saved_profile) if owner else f"(no study writes the summary {name!r})"
    saved = read_summary(name, saved_profile, command=command)
    if saved is None:
        return missing_message(name, saved_profile, command), None
    rows = [c for c in saved.get(section) or [] if source is None or c.get("source") == source]
    if not rows:
        return f"The saved '{saved_profile}' summary {name} has no {section} yet; remake it: {command}", None
    there = f"{saved_profile} (saved)"
    comparison = compare_claims(claims, rows, here, there)
    return f"{describe(saved)}\n{claims_agreement(comparison, here, there)}", comparison


__all__ = ["beside_saved", "claims_agreement", "compare_claims"]
