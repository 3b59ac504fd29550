"""Check a notebook's parameters before it trains anything.

Every notebook calls :func:`check_notebook_parameters` in the first code cell after its
parameters cell, so that a wrong ``profile``, ``device``, ``results_dir`` or ``data_dir`` (given
with ``papermill -p``) fails in seconds with a message naming the parameter and the fix,
instead of after a sweep has run (or with a stack trace from deep inside a loader).

The data checks read the folder layout and one sample, never the whole dataset: for the leaf
images the listing is checked against the class table (no decoding); for CityScapes both
splits' folders and file counts, and the first sample of each split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mtl_lib.core.profiles import PROFILES, UnknownProfileError, check_profile
from mtl_lib.core.runtime import resolve_device

__all__ = ["DATASETS", "NotebookParameterError", "check_data_dir", "check_notebook_parameters"]

#: Datasets whose ``data_dir`` can be checked, and the notebooks' help for each.
DATASETS: dict[str, str] = {
    "leaf": (
        "data_dir must be the unpacked leaf-image folder or the downloaded .zip (Chouhan et al. "
        '2019, Mendeley Data hb74ynkjcn), or "cache" after preparing the cache once with\n'
        "    python -m mtl_lib.data.leaf prepare /path/to/hb74ynkjcn-1.zip\n"
        "or None for the generated stand-in; see data/README.md."
    ),
    "cityscapes": (
        "data_dir must be the folder holding train/ and val/ of MTAN's preprocessed CityScapes "
        "(image/, label_7/, depth/ with <i>.npy each), or None for the generated stand-in; "
        "see data/README.md."
    ),
}


class NotebookParameterError(ValueError):
    """A notebook parameter has a wrong type or value; ``parameter`` names it."""

    def __init__(self, parameter: str, value: Any, problem: str) -> None:
        super().__init__(f"notebook parameter {parameter}={value!r}: {problem}")
        self.parameter = parameter


def _where(path: str | os.PathLike) -> str:
    """The path as given and, when relative, what it resolves to (notebooks run in notebooks/)."""
    p = Path(path).expanduser()
    return (
        str(p) if p.is_absolute() else f"{str(path)!r} (relative to {os.getcwd()}: {p.resolve()})"
    )


def check_data_dir(data_dir: str | os.PathLike | None, dataset: str) -> None:
    """Check a notebook's ``data_dir`` for ``dataset`` ("leaf" or "cityscapes") without loading
    it; ``None`` (the stand-in) always passes. Raises :class:`NotebookParameterError`."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}")
    if data_dir is None:
        return
    if not isinstance(data_dir, (str, os.PathLike)) or isinstance(data_dir, bool):
        raise NotebookParameterError(
            "data_dir",
            data_dir,
            f"expected a path (str) or None, got {type(data_dir).__name__}. {DATASETS[dataset]}",
        )
    if str(data_dir).strip() == "":
        raise NotebookParameterError("data_dir", data_dir, f"empty path. {DATASETS[dataset]}")
    try:
        if dataset == "leaf":
            _check_leaf(data_dir)
        else:
            _check_cityscapes(data_dir)
    except NotebookParameterError:
        raise
    except (OSError, ValueError) as error:
        raise NotebookParameterError(
            "data_dir", data_dir, f"{error}\n{DATASETS[dataset]}"
        ) from error


def _check_leaf(data_dir: str | os.PathLike) -> None:
    from mtl_lib.data.leaf.cache import cache_file, check_writable, read_cache
    from mtl_lib.data.leaf.listing import _list_folder, _list_zip

    if str(data_dir) == "cache":
        # The profile decides the image size; any prepared cache shows that "prepare" ran.
        folder = cache_file().parent
        caches = sorted(folder.glob("leaf_chouhan2019_*px.pt"))
        if not caches:
            raise NotebookParameterError(
                "data_dir", data_dir, f"no prepared leaf cache in {folder}. {DATASETS['leaf']}"
            )
        for cache in caches:
            payload, why = read_cache(cache)
            if payload is None:
                raise NotebookParameterError(
                    "data_dir",
                    data_dir,
                    f"the leaf cache {cache} is not usable: {why}. {DATASETS['leaf']}",
                )
            if payload.get("subset"):
                raise NotebookParameterError(
                    "data_dir", data_dir,
                    f"the cache {cache} holds a subset ({payload['subset']}); rebuild it from the complete dataset",
                )  # fmt: skip
        return
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise NotebookParameterError(
            "data_dir", data_dir, f"{_where(data_dir)} does not exist. {DATASETS['leaf']}"
        )
    if path.is_file():
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                listing = _list_zip(archive, str(path))
        except zipfile.BadZipFile as error:
            raise NotebookParameterError(
                "data_dir",
                data_dir,
                f"{_where(data_dir)} is a file but not a .zip archive ({error}). {DATASETS['leaf']}",
            ) from error
    else:
        listing = _list_folder(path)
    if not listing.entries:
        raise NotebookParameterError(
            "data_dir", data_dir,
            f"no leaf images in {_where(data_dir)} (expected '<Plant> (P<k>)/{{healthy,diseased}}/<NNNN>_<MMMM>.JPG'"
            + (f"; unknown plant folders {listing.unknown}" if listing.unknown else "") + f"). {DATASETS['leaf']}",
        )  # fmt: skip
    check_writable(cache_file().parent)


def _check_cityscapes(data_dir: str | os.PathLike) -> None:
    from mtl_lib.data.cityscapes.mtan import check_cityscapes_dir

    path = Path(data_dir).expanduser()
    if not path.is_dir():
        state = "is not a folder" if path.exists() else "does not exist"
        raise NotebookParameterError(
            "data_dir", data_dir, f"{_where(data_dir)} {state}. {DATASETS['cityscapes']}"
        )
    check_cityscapes_dir(path)


def check_notebook_parameters(
    *,
    profile: Any,
    device: Any = "auto",
    results_dir: Any = None,
    data_dir: Any = None,
    dataset: str | None = None,
) -> None:
    """Check a notebook's parameters (types and values) before it trains anything.

    ``profile`` one of :data:`~mtl_lib.core.profiles.PROFILES`; ``device`` ``"auto"``, ``"cpu"``
    or an available ``"cuda[:k]"``; ``results_dir`` ``None`` or a path that is not an existing
    file; ``data_dir`` checked for ``dataset`` by :func:`check_data_dir`. Raises
    :class:`NotebookParameterError` naming the first bad parameter.
    """
    if not isinstance(profile, str):
        raise NotebookParameterError(
            "profile",
            profile,
            f"expected one of {', '.join(PROFILES)} (a string), got {type(profile).__name__}",
        )
    try:
        check_profile(profile)
    except UnknownProfileError as error:
        raise NotebookParameterError("profile", profile, str(error)) from error
    if not isinstance(device, str):
        raise NotebookParameterError(
            "device",
            device,
            f"expected a string such as 'auto', 'cpu' or 'cuda', got {type(device).__name__}",
        )
    try:
        resolve_device(device)
    except (RuntimeError, ValueError) as error:
        raise NotebookParameterError(
            "device", device, f"{error} (valid: 'auto', 'cpu', 'cuda', 'cuda:<k>')"
        ) from error
    if results_dir is not None:
        if not isinstance(results_dir, (str, os.PathLike)) or isinstance(results_dir, bool):
            raise NotebookParameterError(
                "results_dir",
                results_dir,
                f"expected a path (str) or None, got {type(results_dir).__name__}",
            )
        if Path(results_dir).expanduser().is_file():
            raise NotebookParameterError(
                "results_dir", results_dir, f"{_where(results_dir)} is a file, not a folder"
            )
    if dataset is not None:
        check_data_dir(data_dir, dataset)
    elif data_dir is not None:
        raise ValueError("give dataset= to check a data_dir")  # a notebook bug, not a user error
