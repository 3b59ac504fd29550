"""The book's figure style: every figure fits the text column and its text stays legible.

The book shows a figure's PNG (saved at ``figure.dpi`` = 100) at its natural size when it is no
wider than the text column and shrinks it to the column otherwise, shrinking its text with it. A
label of ``s`` pt therefore displays at ``s × (100 / 96) × min(1, column / width)`` pt (96 CSS px
per inch). With every text at least :data:`MIN_FONT_PT` and every figure at most
:data:`TEXT_WIDTH_IN` wide (legends and titles included), nothing displays below 9 pt at the
book's desktop width; ``tests/book/test_browser.py`` measures the shrink on the built pages.

Study plot functions create their figures with :func:`book_subplots` (a column-wide
``plt.subplots`` under :func:`book_style`) and hand them back through :func:`fit_to_column`,
which shrinks the canvas, never the text, until the drawn figure fits.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

#: Width of the book's text column at 1280 px (sphinx-book-theme 1.3: 676 CSS px inside the
#: article's padding, measured in Chromium), in inches of a 100-dpi PNG, so that a figure this
#: wide is shown unshrunk.
TEXT_WIDTH_IN = 6.7
#: Smallest font any book figure uses, in points.
MIN_FONT_PT = 9.0
#: matplotlib settings of every book figure.
BOOK_RC: dict[str, Any] = {
    "figure.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
}


@contextlib.contextmanager
def book_style() -> Iterator[None]:
    """matplotlib's settings for a book figure, for the figures created inside the block."""
    with plt.rc_context(BOOK_RC):
        yield


def book_subplots(nrows: int = 1, ncols: int = 1, *, height: float, width: float = TEXT_WIDTH_IN,
                  **kwargs: Any) -> tuple[Figure, Any]:  # fmt: skip
    """``plt.subplots`` at the column's width (or ``width``, capped at it) and ``height`` inches."""
    with book_style():
        return plt.subplots(nrows, ncols, figsize=(min(width, TEXT_WIDTH_IN), height), **kwargs)


def drawn_width_in(fig: Figure) -> float:
    """Width of the figure as saved with ``bbox_inches="tight"`` (as the notebooks show it)."""
    if not hasattr(fig.canvas, "get_renderer"):  # a figure closed by pyplot keeps only a base canvas
        FigureCanvasAgg(fig)  # attaches itself to the figure
    return fig.get_tightbbox(fig.canvas.get_renderer()).width


def fit_to_column(fig: Figure, width: float = TEXT_WIDTH_IN, relayout: bool = True) -> Figure:
    """Shrink the canvas (not the text) until the drawn figure, legends outside the axes
    included, is at most ``width`` inches wide; re-runs ``tight_layout`` after each step when
    ``relayout``. A figure title longer than the column is wrapped first (it does not shrink with
    the canvas). Returns ``fig``."""
    title = fig._suptitle  # matplotlib keeps the suptitle here; there is no public getter
    if title is not None and title.get_text():
        # about 0.55 em per character: the widest line that fits the column
        per_line = max(20, int(width * 72 / (0.55 * title.get_fontsize())))
        title.set_text("\n".join(textwrap.wrap(title.get_text(), per_line)))
    for _ in range(4):
        drawn = drawn_width_in(fig)
        if drawn <= width + 0.01:
            break
        w, h = fig.get_size_inches()
        fig.set_size_inches(max(w - (drawn - width) - 0.02, 1.0), h)
        if relayout and not fig.get_constrained_layout():
            fig.tight_layout()
    return fig


def smallest_font_pt(fig: Figure) -> float:
    """Size in points of the smallest visible, non-empty text of the figure (ticks included)."""
    drawn_width_in(fig)  # lays the figure out (ticks exist only once it is drawn)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) if sizes else float("inf")


def displayed_font_pt(fig: Figure, column_in: float = TEXT_WIDTH_IN) -> float:
    """Smallest text of the figure as displayed in a column ``column_in`` inches (at 100 dpi) wide."""
    scale = min(1.0, column_in / drawn_width_in(fig))
    return smallest_font_pt(fig) * scale * fig.dpi / 96.0
