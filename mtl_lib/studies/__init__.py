"""Study definitions behind the book's notebooks, one module (or package) per chapter.

Where the line runs between library and book — the same for every chapter:

* **Library** (``mtl_lib/studies/<chapter>``): everything a notebook computes or draws. The
  settings per profile (``settings = per_profile(SETTINGS)``), the methods compared and their
  run configs, the published numbers compared with (as data, naming the table or figure they
  come from), the tables of ours beside the paper's, every figure (``plot_*`` functions that
  return a figure, with their colours), and the claims — statement, criterion and verdict, as a
  :class:`~mtl_lib.studies._common.Claim` — so that all of it is importable, tested and shared
  between chapters (:mod:`._common` holds what every chapter shares: settings per profile,
  claims with the verdicts REPRODUCED / NOT REPRODUCED / INCONCLUSIVE, interval estimates).
* **Book** (``notebooks/``, ``book/``): the narrative; which tables and figures to show, in what
  order and with what title; and the prose that reads the verdicts ("What we saw"). A notebook
  cell calls study functions and displays their results; it defines no settings table, no
  function and no figure code of its own.

Each chapter's module declares the chapter once, ``STUDY = Study(...)`` (name, notebook,
settings, sweep, claim ids, build estimate, captions, saved summary): :mod:`.registry` finds the
declarations by importing every module here, and the command line, the book build and the saved
summaries read them, so a new chapter needs no edit of this file (``book/adding_a_chapter.md``).

Chapters: :mod:`.adatask_synthetic` (AdaTask Table 2), :mod:`.adatask_rau` (AdaTask Figs. 1–2,
a package: config, buckets, noise, lr_probe, probes, plots, claims, saved), :mod:`.adatask_tables`
(AdaTask Tables 1, 2, 5 and Fig. 3; synthetic, cityscapes), :mod:`.leaf_combinations` (the leaf
study's Tables I–II), :mod:`.survey` (pair geometry and toy trajectories of every method),
:mod:`.survey_pareto` (Pareto fronts), :mod:`.survey_benchmark` and :mod:`.method_table` (cost and
scores of every method), :mod:`.multidigits` (every method on real digits), :mod:`.calibration`.
"""

from mtl_lib.studies import (
    adatask_rau,
    adatask_synthetic,
    adatask_tables,
    leaf_combinations,
    method_table,
    survey,
    survey_benchmark,
    survey_pareto,
)
from mtl_lib.studies._common import Claim, PairedDifference, paired_difference, per_profile

__all__ = [
    "Claim",
    "PairedDifference",
    "adatask_rau",
    "adatask_synthetic",
    "adatask_tables",
    "leaf_combinations",
    "method_table",
    "paired_difference",
    "per_profile",
    "survey",
    "survey_benchmark",
    "survey_pareto",
]
