"""Results records on disk: one JSON file per run, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON to ``path`` so that a reader (or a killed run) never sees half a file: write a
    temporary file in the same folder, flush it to disk, then rename it over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=1, sort_keys=True, allow_nan=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def read_json(path: str | Path) -> Any:
    with open(path) as handle:
        return json.load(handle)


def default_results_dir(*parts: str) -> Path:
    """Where results go unless told otherwise: ``$MTL_RESULTS_DIR`` if set, else
    ``_build/results`` at the book's root (found by walking up to ``_toc.yml``)."""
    env = os.environ.get("MTL_RESULTS_DIR")
    if env:
        return Path(env, *parts)
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").exists():
            return folder.joinpath("_build", "results", *parts)
    return here.joinpath("results", *parts)
