"""Study definitions behind the book's notebooks, one module per chapter: settings per profile,
the methods compared, the published numbers they are compared with, and the claims checked.

Where the line runs between library and book: a study module holds what a notebook would
otherwise compute inline (configs per profile, tables of published numbers, claim checks,
figure helpers); narrative and the choice of what to show stay in the notebook.
"""

from mtl_lib.studies import (
    adatask_rau,
    adatask_synthetic,
    adatask_tables,
    leaf_combinations,
    method_table,
    survey,
    survey_benchmark,
)

__all__ = [
    "adatask_rau",
    "adatask_synthetic",
    "adatask_tables",
    "leaf_combinations",
    "method_table",
    "survey",
    "survey_benchmark",
]
