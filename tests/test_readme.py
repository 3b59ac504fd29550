"""The documentation's Python examples run as written: the README's, and the module of the
book's "Adding a method" page."""

from __future__ import annotations

import re
import subprocess
import sys
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


def test_adding_a_method_page_prints_the_row_it_shows():
    """book/adding_a_method.md: its example module registers, and the missing-row message it
    quotes is what tests/test_values.py prints for it (in a fresh interpreter, so the example
    method does not stay registered for the other tests)."""
    page = (README.parent / "book" / "adding_a_method.md").read_text(encoding="utf-8")
    module = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)[0]
    quoted = re.search(r"to AGGREGATOR_VALUES: .*", page).group(0)
    script = (
        "import sys\n"
        f"exec(compile({module!r}, 'adding_a_method.md', 'exec'), {{'__name__': 'half_sum_example'}})\n"
        "from tests.test_values import suggested_row\n"
        "print(suggested_row('aggregator', 'half_sum'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=README.parent, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == quoted


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_has_a_library_only_install_and_a_one_notebook_nbval_line():
    """Issue 25: the README had no "library only" install line and no nbval one-liner."""
    blocks = _bash_blocks()
    install = [b for b in blocks if "pip install -e ." in b and "[book]" not in b]
    assert install and "torch==" in install[0], "no library-only install line (pip install -e ., torch first)"
    nbval = [line for b in blocks for line in b.splitlines() if "--nbval-lax" in line]
    assert nbval, "no one-notebook nbval command"
    notebook = re.search(r"notebooks/(\w+)\.ipynb", nbval[0]).group(1)
    assert (README.parent / "notebooks" / f"{notebook}.md").exists(), (
        f"the nbval line checks a missing notebook {notebook}"
    )
    assert "MTL_RESULTS_DIR=$(mktemp -d)" in nbval[0]  # a fresh results folder, as make test


def test_adding_a_method_names_its_files_the_test_commands_and_the_mixed_scale_test():
    """Issue 25: the page said "one file" but a method needs three, and named neither the test
    command nor the mixed-scale fault test a new method must pass."""
    page = (README.parent / "book" / "adding_a_method.md").read_text(encoding="utf-8")
    assert page.splitlines()[0].startswith("# Adding a method: three files")
    assert "-m pytest tests -k" in page and "tests/test_values.py" in page
    fault_test = "test_mixed_scales_finite_and_float32_agrees_with_float64"
    assert fault_test in page
    assert f"def {fault_test}(" in (README.parent / "tests/faults/test_aggregators_degenerate.py").read_text()
