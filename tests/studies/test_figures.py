"""The book's figure style (mtl_lib.studies._figures): figures fit the text column and their
text displays at 9 pt or more."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from mtl_lib.studies._figures import (  # noqa: E402
    MIN_FONT_PT,
    TEXT_WIDTH_IN,
    book_subplots,
    displayed_font_pt,
    drawn_width_in,
    fit_to_column,
    smallest_font_pt,
)


def _wide_figure() -> plt.Figure:
    """Four panels 15 inches wide with a legend outside on the right: the old leaf figure's shape."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.4))
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="ours")
        ax.tick_params(labelsize=MIN_FONT_PT)
        ax.set_title("paper Fig. 6", fontsize=10)
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=MIN_FONT_PT)
    fig.tight_layout()
    return fig


def test_a_wide_figure_shrinks_its_text_below_legibility_until_fitted() -> None:
    fig = _wide_figure()
    assert displayed_font_pt(fig) < 9.0  # shown in the column, 15 in → 7.4 in: ~4.7 pt
    fit_to_column(fig)
    assert drawn_width_in(fig) <= TEXT_WIDTH_IN + 0.02
    assert displayed_font_pt(fig) >= 9.0
    assert smallest_font_pt(fig) == MIN_FONT_PT  # the canvas shrank, not the text
    plt.close(fig)


def test_book_subplots_are_column_wide_at_most() -> None:
    fig, _ = book_subplots(1, 2, height=3.0, width=20.0)
    assert tuple(fig.get_size_inches()) == (TEXT_WIDTH_IN, 3.0)
    assert fig.dpi == 100
    plt.close(fig)


def test_a_long_title_is_wrapped_to_the_column() -> None:
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot([0, 1], [0, 1])
    fig.suptitle("EqualWeight with RMSProp: joint vs per-task effective learning rates (profile 'smoke') " * 2)
    fit_to_column(fig)
    assert drawn_width_in(fig) <= TEXT_WIDTH_IN + 0.02
    assert "\n" in fig._suptitle.get_text()
    plt.close(fig)
