"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_has_a_python_example():
    assert BLOCKS, "README.md has no ```python block: the 'Using the library' example is missing"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, capsys):
    namespace: dict = {"__name__": "readme"}
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), namespace)
    if "trainer.fit(" in BLOCKS[index]:
        # the training example ends by printing each task's test RMSE: it trained and evaluated
        printed = capsys.readouterr().out
        assert "A/rmse" in printed and "B/rmse" in printed, printed
