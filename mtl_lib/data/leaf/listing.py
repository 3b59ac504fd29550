"""List the leaf images of a folder or .zip and check every name against the class table."""

from __future__ import annotations

import os
import re
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mtl_lib.data.leaf.classes import (
    CLASS_TO_PREFIX,
    HEALTH_NAMES,
    NUM_SPECIES,
    PLANT_FOLDERS,
    PREFIX_TO_CLASS,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_PLANT_RE = re.compile(r"^(?P<name>.*?)\s*\(P(?P<k>\d+)\)$")
_FILE_RE = re.compile(r"^(?P<prefix>\d{4})_(?P<index>\d+)\.(?:jpe?g|png)$", re.IGNORECASE)


@dataclass(frozen=True)
class _Entry:
    relpath: str  # "<Plant> (P<k>)/<health>/<file>", the dataset's own spelling
    species: int
    health: int
    size: int
    locator: str  # file path (folder) or member name (zip)


def _classify(parts: Sequence[str]) -> tuple[int, int] | None:
    """(species, health) if ``parts`` end in ``<Plant> (P<k>)/<health>/<file>``, else None."""
    if len(parts) < 3:
        return None
    plant = _PLANT_RE.match(parts[-3].strip())
    health = parts[-2].strip().lower()
    if plant is None or health not in HEALTH_NAMES:
        return None
    return int(plant["k"]), HEALTH_NAMES.index(health)


def _list_entries(items: Iterator[tuple[Sequence[str], int, str]], where: str) -> list[_Entry]:
    """Turn ``(path parts, size, locator)`` of every file into dataset entries, checking each
    name against the folder it is in; all problems are collected and raised together."""
    entries: list[_Entry] = []
    problems: list[str] = []
    ignored: list[str] = []
    for parts, size, locator in items:
        if any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue  # hidden files and macOS resource forks that zips of a Mac folder carry
        if not parts[-1].lower().endswith(IMAGE_SUFFIXES):
            continue
        labels = _classify(parts)
        if labels is None:
            ignored.append("/".join(parts))
            continue
        species, health = labels
        relpath = "/".join(parts[-3:])
        folder_class = f"{parts[-3]} {HEALTH_NAMES[health]}"
        name = _FILE_RE.match(parts[-1])
        if not 0 <= species < NUM_SPECIES:
            problems.append(
                f"{relpath!r}: plant label P{species} is not one of P0..P{NUM_SPECIES - 1}"
            )
        elif name is None:
            problems.append(
                f"{relpath!r}: the file name is not <NNNN>_<MMMM>.JPG, so its class prefix cannot be checked"
            )
        elif (species, health) not in CLASS_TO_PREFIX:
            problems.append(
                f"{relpath!r}: the dataset has no class {folder_class} (Bael has no healthy, Basil no diseased leaves)"
            )
        elif PREFIX_TO_CLASS.get(name["prefix"]) != (species, health):
            prefix = name["prefix"]
            if prefix in PREFIX_TO_CLASS:
                s, h = PREFIX_TO_CLASS[prefix]
                meaning = f"{PLANT_FOLDERS[s]} {HEALTH_NAMES[h]}"
            else:
                meaning = "no class (prefixes run 0001..0022)"
            problems.append(
                f"{relpath!r}: its prefix {prefix} means {meaning}, its folder says {folder_class} "
                f"(prefix {CLASS_TO_PREFIX[(species, health)]})"
            )
        else:
            entries.append(_Entry(relpath, species, health, size, locator))
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ValueError(
            f"{len(problems)} leaf image(s) in {where} disagree with the class table:\n  {shown}{more}"
        )
    if ignored:
        warnings.warn(
            f"ignored {len(ignored)} image file(s) in {where} outside the "
            f"'<Plant> (P<k>)/{{healthy,diseased}}/' layout, e.g. {ignored[:3]}",
            stacklevel=3,
        )
    seen: dict[str, str] = {}
    for e in entries:
        if e.relpath in seen:
            raise ValueError(
                f"{where} holds {e.relpath!r} twice ({seen[e.relpath]!r} and {e.locator!r}); give one copy of the dataset"
            )
        seen[e.relpath] = e.locator
    return sorted(entries, key=lambda e: e.relpath)


def _list_folder(root: Path) -> list[_Entry]:
    def items() -> Iterator[tuple[Sequence[str], int, str]]:
        for dirpath, _, files in os.walk(root):
            rel = Path(dirpath).relative_to(root).parts
            for name in files:
                path = Path(dirpath) / name
                yield (*rel, name), path.stat().st_size, str(path)

    return _list_entries(items(), str(root))


def _list_zip(archive: zipfile.ZipFile, where: str) -> list[_Entry]:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    entries = _list_entries(
        ((i.filename.split("/"), i.file_size, i.filename) for i in infos), where
    )
    if not entries:
        nested = [i.filename for i in infos if i.filename.lower().endswith(".zip")]
        if nested:
            raise ValueError(
                f"{where} holds no leaf images but the archive(s) {nested[:5]}: unpack {where} "
                "and give the inner archive (or its unpacked folder) instead"
            )
    return entries
