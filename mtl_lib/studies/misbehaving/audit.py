"""The audit table: one row per anomaly (method, symptom, cause, class, evidence, fix). The
symptom, cause and class are the analysis; every number in the evidence column is read from the
reproductions computed in the same execution (or from a result file the library wrote), never typed."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

BUG, SETTING, FINDING = "bug", "setting", "finding"


def _get(frame: pd.DataFrame, row: Any, column: str) -> float:
    return float(frame.loc[row, column])


def _excess(r: Mapping[str, Any]) -> str:
    t = r["excess"].set_index(["dtype", "step"])
    ours, theirs = (
        _get(t, ("float32", 1), "smaller weight, ours"),
        _get(t, ("float32", 1), "smaller weight, TorchJD 0.18"),
    )
    return f"norms ×1 / ×10, float32: the smaller weight after one step is {ours:.3g} (ours, fixed) and {theirs:.3g} (TorchJD 0.18's default)"


def _pcd_eps(r: Mapping[str, Any]) -> str:
    t = r["pcd"].set_index("c")
    old, new = t.columns[0], t.columns[1]
    return (f"one secondary task × 1e-4: the direction moves by {_get(t, 1e-4, old):.1%} with the old ε and "
            f"{_get(t, 1e-4, new):.1e} with the current one (× 1e-5: {_get(t, 1e-5, old):.1%} and {_get(t, 1e-5, new):.1e})")  # fmt: skip


def _dual_cone(r: Mapping[str, Any]) -> str:
    t = r["dualcone"].set_index(["method", "dtype"])
    parts = [f"{m}: {_get(t, (m, 'float64'), 'TorchJD 0.18'):+.4f} in TorchJD 0.18, "
             f"{_get(t, (m, 'float64'), 'ours, TorchJD' + chr(39) + 's trace ridge'):+.4f} ours with its ridge, "
             f"{_get(t, (m, 'float64'), 'ours (per-task ridge, default)'):+.4f} with the per-task ridge"
             for m in ("UPGrad", "DualProj")]  # fmt: skip
    return "worst cos(g_k, d) over 100 Jacobians (norms 1 / 0.1 / 0.01): " + "; ".join(parts)


def _imtl_g(r: Mapping[str, Any]) -> str:
    t = r["imtl_g"]
    text = f"projections on the unit gradients: {t.iloc[0, 0]:+.4f} each (ours)"
    return text + (f", {t.iloc[1, 0]:+.4f} each (TorchJD 0.18)" if len(t) > 1 else "")


def _sdmgrad(r: Mapping[str, Any]) -> str:
    t, bound = r["sdmgrad"]
    authors, small = t.iloc[0], t.iloc[1]
    return (f"authors' lr = 10: ⟨d, g1⟩ = {authors['⟨d,g1⟩']:+.3f}, {authors['angle to EW (°)']:.1f}° from EW; "
            f"λ_max(Â) = {bound['lambda_max']:.2f}, so heavy ball is stable only for lr < {bound['largest stable lr']:.2f}; "
            f"at lr = 1: ⟨d, g1⟩ = ⟨d, g2⟩ = {small['⟨d,g1⟩']:+.3f}, MGDA's {t.loc['MGDA', '⟨d,g1⟩']:+.3f}")  # fmt: skip


def _cagrad(r: Mapping[str, Any]) -> str:
    t = r["cagrad"]
    cells = [f"{row['distance to Pareto set']:.2f} (start {row['start']}, c = {row['c']}, {row['steps']} steps)"
             for _, row in t.iterrows()]  # fmt: skip
    text = "distance to the Pareto set: " + "; ".join(cells)
    official = r.get("cagrad_official")
    if official:
        row = official["rows"][0]
        text += (f"; the authors' settings (c = {row['c']}, lr {row['Adam lr']:g}, {row['steps']} steps) reach "
                 f"{row['distance to Pareto set']:.2g} from {row['start']} (saved result, {row['wall s']:.0f} s)")  # fmt: skip
    return text


def _gradnorm(r: Mapping[str, Any]) -> str:
    t = r["gradnorm"]
    low, high = t.columns[0], t.columns[-1]
    return "; ".join(
        f"{name}: {row[low]:.1f} % A-dominated, {row[high]:.1f} % B-dominated" for name, row in t.iterrows()
    )


def _digits(r: Mapping[str, Any], labels: tuple[str, ...], saved_method: str) -> str:
    t = r["digits"]
    cells = [f"{label}: {t.loc[label, 'left acc']:.3f} / {t.loc[label, 'right acc']:.3f} (Δm {t.loc[label, 'Δm % vs EW']} %)"
             for label in ("EW", *labels)]  # fmt: skip
    text = f"{r['profile']}, {int(t['seeds'].iloc[0])} seeds, left / right test accuracy: " + "; ".join(cells)
    saved = r.get("saved_paper")
    if saved:
        rows = {row["method"]: row for row in saved["summary"]}
        if saved_method in rows:
            row = rows[saved_method]
            text += f". Saved `paper` sweep: {row['left acc']} / {row['right acc']} (Δm {row['Δm % vs reference']} %)"
    return text


def _moco(r: Mapping[str, Any]) -> str:
    return _digits(r, ("MoCo (defaults)", "MoCo, no tracking (β = 1, β_σ = 0)", "MoCo, constant tracking rate (β_σ = 0)",
                       "MoCo, γ = 1"), "MoCo")  # fmt: skip


def _db_mtl(r: Mapping[str, Any]) -> str:
    return _digits(r, ("DB-MTL (defaults)", "DB-MTL, β = 0 (no gradient EMA)"), "db_mtl")


def _pcd_digits(r: Mapping[str, Any]) -> str:
    text = _digits(r, ("PCD (defaults, τ = 0.02; left digit primary)", "PCD, τ = 0.2", "PCD, τ = 0.5"), "pcd")
    saved = r.get("saved_paper")
    if saved:
        ew = next(row for row in saved["summary"] if row["method"] == "EW")
        text += f" vs EW {ew['left acc']} / {ew['right acc']}"
    same = r.get("pcd_torchjd")
    if same is not None and not math.isnan(same):
        text += f". Our PCD's direction equals TorchJD 0.18's to {same:.1e} (relative, 5 calls on 10 Jacobians)"
    return text


#: (method, symptom, cause, class, evidence from the results, fix).
ROWS: tuple[tuple[str, str, str, str, Callable[[Mapping[str, Any]], str], str], ...] = (
    ("ExcessMTL", "with one gradient 10× the other, the smaller task's weight falls to 0 after one step and stays",
     "the step that records the baseline excess risk also moved the weights with the raw excess risk; the authors' "
     "code only records the baseline on that step", BUG, _excess, "d49599d; tests/aggregators/test_excess_mtl.py"),
    ("PCD", "rescaling one objective changes the direction, though the method is invariant to it",
     "ε was relative to the largest task's squared norm, so it stops being negligible for a task ~1e-4 of the largest",
     BUG, _pcd_eps, "57f42b0, d341b93; tests/aggregators/test_pcd.py"),
    ("UPGrad, DualProj", "a task's gradient conflicts with the direction at a spread of norms (K = 3, full rank)",
     "the ridge ε·I on G/tr(G), not the normalisation: for the smallest task ε is about its own squared norm",
     BUG, _dual_cone, "0197d25; test_upgrad.py, test_dualproj.py ::test_non_conflicting_at_a_spread_of_norms"),
    ("IMTL-G", "rescaling one task turns the direction around, so every loss increases",
     "Σα = 1 fixes the scale; from K = 3 on Σ_k v_k can be negative and dividing by it flips the direction",
     BUG, _imtl_g, "48f4a37; tests/aggregators/test_imtl_g.py"),
    ("SDMGrad", "on the survey's pair the direction conflicts with g1",
     "the authors' inner lr = 10 is beyond the stability bound of their momentum SGD; the weights stick at a vertex",
     SETTING, _sdmgrad, "docstring 3772c39; default kept at the authors' value"),
    ("CAGrad", "on its own toy, runs end far from the Pareto set",
     "the book's budget (800 Adam steps at lr 5e-2, c = 0.4) against the authors' (100,000 steps at lr 1e-3, c = 0.5)",
     SETTING, _cagrad, "none in the library"),
    ("GradNorm", "on AdaTask's synthetic problem almost every shared parameter is A-dominated",
     "α = 1.5 (the NYUv2 value) asks for gradient norms ∝ r_i^α, and A trains slower (larger loss ratio), so A gets "
     "the larger gradient and dominates; at α = 0 (equal norms) most parameters are balanced, as the AdaTask paper "
     "reports (the rAU chapter's ablations, 10 seeds at paper)",
     SETTING, _gradnorm, "none (weighting_kwargs={'alpha': 0})"),
    ("MoCo (MultiDigits; the survey's digit column is the same run)", "far below EW, near chance within 48 steps",
     "the tracked gradients average over a window that grows as √t (β_t = β/√t), so the direction lags; the update "
     "is the authors' (LibMTL's MoCo and their Tracking code)", SETTING, _moco,
     "none; the equal-tuning search includes β"),
    ("DB-MTL (MultiDigits)", "below EW", "its EMA of log-loss gradients (β = 0.9, no bias correction) lags",
     SETTING, _db_mtl, "none; the equal-tuning search includes β"),
    ("PCD (MultiDigits)", "Δm far below EW at `paper`",
     "a priority method by design: task 0 (left digit) is primary, the right digit is only guaranteed a share τ of "
     "its own progress; Δm averages the two digits symmetrically", FINDING, _pcd_digits,
     "none (a primary task is the method's input)"),
    ("DB-MTL, FAMO, GLS, STCH", "a negative loss flips DB-MTL's gradient; a zero loss stops FAMO, GLS, STCH training "
     "the other tasks", "log-loss rules: ∇log L = ∇L/L", BUG,
     lambda r: "tests/aggregators/test_db_mtl.py, tests/weighting/test_famo.py, test_gls.py, test_stch.py",
     "db1f92c: DB-MTL refuses a loss below its bound; the others warn (ZeroLossWarning)"),
    ("every method (survey benchmark, leaf)", "leaf species F1 at chance for all but one method at `quick`",
     "the quick budget (2 epochs of a half-width network on 10 % of the stand-in) does not train the leaf problem",
     SETTING, lambda r: "survey_benchmark.columns_at_chance() checks every build (asserted beyond smoke)",
     "9f5a1d1: the leaf part runs at `paper` only; quick has 3 seeds"),
)  # fmt: skip


def audit_table(results: Mapping[str, Any]) -> pd.DataFrame:
    """The audit: every row's evidence computed from ``results`` (a row whose input is missing says so)."""
    rows = []
    for method, symptom, cause, kind, evidence, fix in ROWS:
        try:
            text = evidence(results)
        except KeyError as missing:
            text = f"not computed in this execution ({missing})"
        rows.append({"method": method, "symptom": symptom, "cause": cause, "class": kind, "evidence": text, "fix": fix})
    return pd.DataFrame(rows).set_index("method")


__all__ = ["BUG", "FINDING", "ROWS", "SETTING", "audit_table"]
