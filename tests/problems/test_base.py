"""Every data problem answers an unknown option with a did-you-mean and its option list (issue 25)."""

from __future__ import annotations

import pytest
import torch

from mtl_lib.problems import PROBLEMS

TYPOS = [
    ("synthetic_regression", "input_dis", "input_dist"),
    ("multidigits", "n_trian", "n_train"),
    ("leaf", "modulaton", "modulation"),
    ("cityscapes", "model_widht", "model_width"),
]


@pytest.mark.parametrize("problem, typo, meant", TYPOS, ids=[t[0] for t in TYPOS])
def test_unknown_option_names_the_close_option_and_lists_them(problem, typo, meant):
    with pytest.raises(TypeError) as info:
        PROBLEMS.get(problem)(seed=0, batch_size=8, device=torch.device("cpu"), **{typo: 1})
    message = str(info.value)
    assert message.startswith(f"unknown {problem} options [{typo!r}]")
    assert f"{typo!r}: did you mean {meant!r}?" in message
    listed = message.split("(its options: ")[1].rstrip(")").split(", ")
    assert meant in listed and not {"seed", "batch_size", "device", "unknown"} & set(listed)
