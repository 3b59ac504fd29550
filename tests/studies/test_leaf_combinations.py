"""The leaf-combination study's tables (mtl_lib.studies.leaf_combinations); no training."""

from __future__ import annotations

from mtl_lib.studies import leaf_combinations as study


def test_table_one_decodes_every_approach_from_its_definition() -> None:
    table = study.table_one()
    assert list(table.index) == list("ABCDEFGH")
    assert list(table.columns) == ["PCGrad", "Modulation Module", "LaSS"]
    for name, flags in study.APPROACHES.items():
        assert [cell == "✓" for cell in table.loc[name]] == list(flags)
    # the study's letters: A none, F = PCGrad + LaSS, H all three
    assert table.loc["A"].tolist() == ["–", "–", "–"]
    assert table.loc["F"].tolist() == ["✓", "–", "✓"]
    assert table.loc["H"].tolist() == ["✓", "✓", "✓"]
