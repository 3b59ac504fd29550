"""The book's chapters as data: one :class:`Study` per notebook, declared once in its study module.

A study module declares its chapter with a module-level ``STUDY = Study(...)`` (or ``STUDIES =
(Study(...), ...)`` when one module serves several notebooks, as :mod:`.survey` does). Everything
that needs to know the chapters reads them from here:

* the command line (``python -m mtl_lib studies | run | status``): the name, the sweep, the saved
  summary and the command that writes it;
* the book build (``scripts/build_book.py``): the notebook, the build estimate that orders a first
  build, the figure captions;
* the build status page and the saved summaries: the notebook and the saved-summary key.

:func:`studies` finds the declarations by importing every module of :mod:`mtl_lib.studies`, so a
new chapter touches its study module, its notebook and ``_toc.yml``, nothing else
(``tests/studies/test_registry.py`` checks that every notebook of ``_toc.yml`` has exactly one
study and every study a notebook there).

A sweep is a *plan*: a generator that yields :class:`Stage` objects (the run configs of one step
and the results folder they go to) and receives each stage's records before yielding the next,
so that a later stage may depend on an earlier one's results (MultiDigits chooses its learning
rates on a validation grid before its main sweep). A single list of configs is a one-stage plan
(:func:`one_stage`).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mtl_lib.experiments import RunConfig

#: A study's sweep: ``plan(profile, data_dir, device)`` yields stages, is sent each stage's records.
Plan = Callable[[str, "str | None", str], Generator["Stage", list[dict[str, Any]], None]]
#: Writes a study's saved summary: ``write(profile, records by stage label, results root, device)``.
SummaryWriter = Callable[[str, Mapping[str, list[dict[str, Any]]], Path, str], Path]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CLAIM_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Stage:
    """One step of a sweep: its ``configs``, a ``label`` (the key of its records in a saved
    summary) and the results folder under the results root (default: the study's name)."""

    label: str
    configs: list[RunConfig]
    folder: str | None = None
    #: Records go to ``<results>/<folder>/<profile>/`` (False: ``<results>/<folder>/``, for a
    #: search whose records of every profile share one committed folder, as the calibration's).
    per_profile: bool = True

    def path(self, root: Path, folder: str, profile: str) -> Path:
        """Where this stage's records go under the results ``root``."""
        return Path(root) / folder / profile if self.per_profile else Path(root) / folder


@dataclass(frozen=True)
class Study:
    """One chapter of the book.

    ``name``: the command line's name and the results folder (``<results>/<name>/<profile>/``);
    ``notebook``: the stem of its notebook in ``notebooks/``; ``settings``: the run sizes per profile
    (``per_profile(SETTINGS)``); ``estimated_s``: CPU seconds of the notebook at ``quick`` on the
    project's 2-core machine (orders a first build, longest first; later builds use their own
    measurements); ``sweep``: its plan (None: nothing to run outside the notebook); ``claims``:
    the stable ids of the claims its study functions build (:attr:`Claim.id`; saved summaries and
    the front page pair claims by them, so rewording a claim changes nothing there);
    ``captions``: (a piece of a figure cell's code, the caption) pairs; ``saved_summary``: the key of
    its saved ``paper`` summary (``data/paper_verdicts/<key>.<profile>.json``) and
    ``write_summary`` the function that writes it from the sweep's records; ``reads_data``: the
    sweep takes a real-data folder (``--data-dir``)."""

    name: str
    notebook: str
    describe: str
    settings: Callable[[str], dict[str, Any]]
    estimated_s: float
    sweep: Plan | None = None
    claims: tuple[str, ...] = ()
    captions: tuple[tuple[str, str], ...] = ()
    saved_summary: str | None = None
    write_summary: SummaryWriter | None = None
    reads_data: bool = False

    def __post_init__(self) -> None:
        for label, value in (("name", self.name), ("notebook", self.notebook)):
            if not _NAME.match(value):
                raise ValueError(f"study {label} {value!r}: use lower-case letters, digits and '_'")
        if not self.estimated_s > 0:
            raise ValueError(f"study {self.name!r}: estimated_s must be > 0 seconds, got {self.estimated_s!r}")
        bad = [key for key in self.claims if not _CLAIM_ID.match(key)]
        if bad:
            raise ValueError(f"study {self.name!r}: claim ids {bad} must be lower-case words joined by '_', '.' or '-'")
        if self.write_summary is not None and (self.saved_summary is None or self.sweep is None):
            raise ValueError(f"study {self.name!r}: write_summary needs a saved_summary key and a sweep")

    def stages(self, profile: str, data_dir: str | None = None, device: str = "auto") -> Generator[Stage, Any, None]:
        """The sweep's plan at ``profile`` (an error for a study without a sweep)."""
        if self.sweep is None:
            raise ValueError(f"study {self.name!r} has no sweep: its notebook computes everything it shows")
        return self.sweep(profile, data_dir, device)

    def first_stage(self, profile: str, data_dir: str | None = None, device: str = "auto") -> Stage:
        """The first stage of the plan (the one that depends on no earlier result)."""
        return next(self.stages(profile, data_dir, device))

    def folder(self, stage: Stage) -> str:
        """The results folder name of ``stage``."""
        return stage.folder or self.name

    def summary_command(self, profile: str = "paper") -> str:
        """The command that runs the sweep at ``profile`` and writes the saved summary."""
        return f"python -m mtl_lib run {self.name} --profile {profile} --save-summary"


def one_stage(configs: Callable[..., list[RunConfig]], *, label: str = "sweep", data: bool = False) -> Plan:
    """A one-stage plan from ``configs(profile, device=..., [data_dir=...])``."""

    def plan(profile: str, data_dir: str | None, device: str) -> Generator[Stage, Any, None]:
        kwargs: dict[str, Any] = {"data_dir": data_dir} if data else {}
        yield Stage(label, configs(profile, device=device, **kwargs))

    return plan


def drive(
    study: Study,
    profile: str,
    run_stage: Callable[[Stage, str], list[dict[str, Any]] | None],
    data_dir: str | None = None,
    device: str = "auto",
) -> dict[str, list[dict[str, Any]]]:
    """Run ``study``'s plan: ``run_stage(stage, folder name)`` returns the stage's records, or None
    to stop there (a status count that found unfinished runs). Returns records by stage label."""
    plan = study.stages(profile, data_dir, device)
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        stage = next(plan)
        while True:
            records = run_stage(stage, study.folder(stage))
            if records is None:
                break
            out[stage.label] = records
            stage = plan.send(records)
    except StopIteration:
        pass
    finally:
        plan.close()
    return out


# ----------------------------------------------------------------------------- discovery
def _declared(module: Any) -> list[Study]:
    found = list(getattr(module, "STUDIES", ()))
    if getattr(module, "STUDY", None) is not None:
        found.append(module.STUDY)
    wrong = [s for s in found if not isinstance(s, Study)]
    if wrong:
        raise TypeError(f"{module.__name__}: STUDY/STUDIES must hold Study objects, got {wrong!r}")
    return found


@cache
def studies() -> dict[str, Study]:
    """Every declared study by name, in the order of their modules' names (imports every module of
    :mod:`mtl_lib.studies` once)."""
    import mtl_lib.studies as package

    found: dict[str, Study] = {}
    notebooks: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "registry":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for study in _declared(module):
            if study.name in found:
                raise ValueError(f"two studies are named {study.name!r} (the second in {module.__name__})")
            if study.notebook in notebooks:
                raise ValueError(
                    f"notebook {study.notebook!r} is declared by studies {notebooks[study.notebook]!r} and "
                    f"{study.name!r}: one study per notebook"
                )
            found[study.name] = study
            notebooks[study.notebook] = study.name
    return found


def by_notebook() -> dict[str, Study]:
    """Every study by its notebook's stem."""
    return {s.notebook: s for s in studies().values()}


def get(name: str) -> Study:
    """The study called ``name`` (or whose notebook is ``name``, with or without a suffix)."""
    known = studies()
    if name in known:
        return known[name]
    stem = Path(name).stem
    notebooks = by_notebook()
    if stem in notebooks:
        return notebooks[stem]
    close = difflib.get_close_matches(name, [*known, *notebooks], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise KeyError(f"unknown study {name!r}{hint} Studies: {', '.join(known)} (python -m mtl_lib studies)")


def claim_ids() -> dict[str, str]:
    """Every registered claim id → the study that declares it (ids are unique across studies)."""
    out: dict[str, str] = {}
    for study in studies().values():
        for key in study.claims:
            if key in out:
                raise ValueError(f"claim id {key!r} is declared by {out[key]!r} and {study.name!r}")
            out[key] = study.name
    return out


def summary_owner(key: str) -> Study | None:
    """The study whose sweep writes the saved summary ``key``."""
    return next((s for s in studies().values() if s.saved_summary == key), None)


__all__ = [
    "Plan",
    "Stage",
    "Study",
    "SummaryWriter",
    "by_notebook",
    "claim_ids",
    "drive",
    "get",
    "one_stage",
    "studies",
    "summary_owner",
]
