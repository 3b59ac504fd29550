"""List the leaf images of a folder or .zip and check the tree against the class table.

What is an error (all problems of one kind are collected and reported together, by path):

* an image-like file (a suffix Pillow reads, or a dataset name ``<NNNN>_<MMMM>.<ext>``) whose
  name, class prefix or format disagrees with the folder it is in;
* a dataset-named file outside the ``<Plant> (P<k>)/{healthy,diseased}/`` layout;
* a plant folder that is not one of the dataset's twelve (e.g. "Guava (P3)": the dataset spells
  it "Gauva (P3)"), a plant of the dataset that is missing, a class folder that is missing or
  holds no images — unless the caller asks for a subset (``allow_subset=True``), in which case
  these are warned about and written into the data's source label.

Other image files outside the layout (a preview picture at the top) are named in a warning;
files that are neither images nor dataset-named (README.txt, Thumbs.db) are ignored, as are
hidden files and the ``__MACOSX`` folders of zips made on a Mac. Symlinked folders and files are
followed (a link cycle is visited once; a dangling link is an error naming it).
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mtl_lib.data.leaf.classes import (
    CLASS_TABLE,
    CLASS_TO_PREFIX,
    HEALTH_NAMES,
    NUM_CLASSES,
    PLANT_FOLDERS,
    PREFIX_TO_CLASS,
)

#: Suffixes of the image formats the loader decodes (all read by Pillow).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")

_PLANT_RE = re.compile(r"^(?P<name>.*?)\s*\(P(?P<k>\d+)\)$")
#: A dataset file name: class prefix, index within the class, any extension.
_NAME_RE = re.compile(r"^(?P<prefix>\d{4})_(?P<index>\d+)\.(?P<ext>[A-Za-z0-9]+)$")
_LAYOUT = "'<Plant> (P<k>)/{healthy,diseased}/<NNNN>_<MMMM>.JPG'"


def _normalise(name: str) -> str:
    return " ".join(name.split()).casefold()


_PLANT_BY_NAME = {_normalise(folder): k for k, folder in enumerate(PLANT_FOLDERS)}


@dataclass(frozen=True)
class _Entry:
    relpath: str  # "<Plant> (P<k>)/<health>/<file>" in the dataset's own spelling
    species: int
    health: int
    size: int
    locator: str  # file path (folder) or member name (zip)
    stamp: str = ""  # what changes with the content: mtime (folder) or CRC-32 (zip)


@dataclass
class Listing:
    """The checked image files of a source, plus what a subset lacks (empty for the full set)."""

    entries: list[_Entry]
    where: str
    missing: list[str] = field(default_factory=list)  # "Bael (P4)" or "Mango (P0)/diseased"
    empty: list[str] = field(default_factory=list)  # class folders without images
    unknown: list[str] = field(default_factory=list)  # plant folders not in the dataset

    @property
    def is_subset(self) -> bool:
        return bool(self.missing or self.empty or self.unknown)

    def subset_note(self) -> str:
        """A short description of what this subset lacks, for the data's source label."""
        present = len({(e.species, e.health) for e in self.entries})
        parts = [f"subset: {present} of {NUM_CLASSES} classes"]
        if self.missing or self.empty:
            parts.append("missing " + ", ".join(self.missing + self.empty))
        if self.unknown:
            parts.append("ignored unknown folders " + ", ".join(self.unknown))
        return "; ".join(parts)


def _plant_of(name: str) -> int | None:
    """The species of a plant folder name in the dataset's spelling (case and runs of spaces
    do not matter), else None."""
    return _PLANT_BY_NAME.get(_normalise(name))


def _is_health(name: str) -> bool:
    return name.strip().lower() in HEALTH_NAMES


def _looks_like_plant(name: str) -> bool:
    return _PLANT_RE.match(name.strip()) is not None


def _unknown_help(name: str) -> str:
    close = difflib.get_close_matches(name, PLANT_FOLDERS, n=1, cutoff=0.6)
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)


def _check_file(parts: Sequence[str], species: int, health: int) -> str | None:
    """The problem with a file in ``<Plant>/<health>/``, or None if it belongs there."""
    relpath = "/".join(parts[-3:])
    folder_class = f"{PLANT_FOLDERS[species]} {HEALTH_NAMES[health]}"
    name = _NAME_RE.match(parts[-1])
    suffix = os.path.splitext(parts[-1])[1].lower()
    if suffix not in IMAGE_SUFFIXES:
        return f"{relpath!r}: the format {suffix!r} is not one the loader reads ({', '.join(IMAGE_SUFFIXES)})"
    if name is None:
        return f"{relpath!r}: the file name is not <NNNN>_<MMMM>.JPG, so its class prefix cannot be checked"
    if (species, health) not in CLASS_TO_PREFIX:
        return f"{relpath!r}: the dataset has no class {folder_class} (Bael has no healthy, Basil no diseased leaves)"
    prefix = name["prefix"]
    if PREFIX_TO_CLASS.get(prefix) != (species, health):
        if prefix in PREFIX_TO_CLASS:
            s, h = PREFIX_TO_CLASS[prefix]
            meaning = f"{PLANT_FOLDERS[s]} {HEALTH_NAMES[h]}"
        else:
            meaning = "no class (prefixes run 0001..0022)"
        return (
            f"{relpath!r}: its prefix {prefix} means {meaning}, its folder says {folder_class} "
            f"(prefix {CLASS_TO_PREFIX[(species, health)]})"
        )
    return None


def _raise_all(problems: list[str], where: str, what: str) -> None:
    if problems:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        raise ValueError(f"{len(problems)} {what} in {where}:\n  {shown}{more}")


def _hidden(parts: Sequence[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


@dataclass
class _Survey:
    """What one pass over a source's files and folders found, before any of it is judged."""

    entries: list[_Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unknown: dict[str, list[str]] = field(default_factory=dict)  # unknown plant folder name -> where seen
    class_folders: set[tuple[int, int]] = field(default_factory=set)
    plants_seen: set[int] = field(default_factory=set)

    def _plant(self, name: str, where: str) -> int | None:
        species = _plant_of(name)
        if species is None:
            self.unknown.setdefault(name.strip(), []).append(where)
        else:
            self.plants_seen.add(species)
        return species

    def note_folder(self, parts: Sequence[str]) -> None:
        """Record plant and class folders (also those without any file)."""
        if not parts or _hidden(parts):
            return
        if len(parts) >= 2 and _is_health(parts[-1]):
            species = self._plant(parts[-2], "/".join(parts[:-1]))
            if species is not None:
                self.class_folders.add((species, HEALTH_NAMES.index(parts[-1].strip().lower())))
        elif _looks_like_plant(parts[-1]):
            self._plant(parts[-1], "/".join(parts))

    def add_file(self, parts: Sequence[str], size: int, locator: str, stamp: str) -> None:
        if _hidden(parts):
            return
        self.note_folder(parts[:-1])
        name = parts[-1]
        if not (name.lower().endswith(IMAGE_SUFFIXES) or _NAME_RE.match(name) is not None):
            return  # README.txt, Thumbs.db, ...: not part of the dataset
        if len(parts) >= 3 and _is_health(parts[-2]):
            species = _plant_of(parts[-3])
            if species is None:
                return  # an unknown plant folder: reported below, as a folder
            health = HEALTH_NAMES.index(parts[-2].strip().lower())
            problem = _check_file(parts, species, health)
            if problem is not None:
                self.problems.append(problem)
            else:
                relpath = f"{PLANT_FOLDERS[species]}/{HEALTH_NAMES[health]}/{name}"
                self.entries.append(_Entry(relpath, species, health, size, locator, stamp))
        elif _NAME_RE.match(name):
            self.outside.append("/".join(parts))
        else:
            self.ignored.append("/".join(parts))

    def raise_misplaced(self, where: str) -> None:
        """Files that break the class table or the layout stop the load; stray images only warn."""
        _raise_all(self.problems, where, "leaf image(s) disagree with the class table")
        _raise_all(
            [f"{p!r}" for p in self.outside],
            where,
            f"dataset file(s) lie outside the layout {_LAYOUT} (move them into their class folder)",
        )
        if self.ignored:
            warnings.warn(
                f"ignored {len(self.ignored)} image file(s) in {where} outside the layout {_LAYOUT}: "
                f"{self.ignored[:10]}{' ...' if len(self.ignored) > 10 else ''}",
                stacklevel=4,
            )
        seen: dict[str, str] = {}
        for entry in self.entries:
            if entry.relpath in seen:
                raise ValueError(
                    f"{where} holds {entry.relpath!r} twice ({seen[entry.relpath]!r} and {entry.locator!r}); "
                    "give one copy of the dataset"
                )
            seen[entry.relpath] = entry.locator

    def missing_and_empty(self) -> tuple[list[str], list[str]]:
        """Plant or class folders the source lacks, and class folders it has without images."""
        with_images = {(e.species, e.health) for e in self.entries}
        species_with_images = {s for s, _ in with_images}
        missing: list[str] = []
        empty: list[str] = []
        for species, health, _, _ in CLASS_TABLE:
            folder = f"{PLANT_FOLDERS[species]}/{HEALTH_NAMES[health]}"
            if species not in self.plants_seen and species not in species_with_images:
                if PLANT_FOLDERS[species] not in missing:
                    missing.append(PLANT_FOLDERS[species])
            elif (species, health) not in self.class_folders:
                missing.append(folder)
            elif (species, health) not in with_images:
                empty.append(folder)
        return missing, empty


def _check_complete(listing: Listing, unknown: dict[str, list[str]], allow_subset: bool) -> None:
    """Refuse an incomplete dataset (or, with ``allow_subset``, warn and load what is there)."""
    if not (listing.is_subset and listing.entries):
        return
    lines = []
    if listing.missing:
        lines.append("missing: " + ", ".join(listing.missing))
    if listing.empty:
        lines.append("class folders without images: " + ", ".join(listing.empty))
    if unknown:
        lines.append(
            "plant folders that are not in the dataset: "
            + ", ".join(f"{_unknown_help(u)} at {unknown[u][0]!r}" for u in sorted(unknown))
        )
    report = f"{listing.where} is not the complete leaf dataset:\n  " + "\n  ".join(lines)
    if not allow_subset:
        raise ValueError(
            f"{report}\nThe dataset has the twelve plant folders {list(PLANT_FOLDERS)}, each "
            "with its healthy/diseased class folders (Bael only diseased, Basil only healthy). "
            "Complete or rename the folders, or pass allow_subset=True (--allow-subset) to "
            "load only what is there."
        )
    warnings.warn(f"{report}\nLoading the subset (allow_subset=True).", stacklevel=4)


def _list_entries(
    files: Iterable[tuple[Sequence[str], int, str, str]],
    folders: Iterable[Sequence[str]],
    where: str,
    allow_subset: bool = False,
) -> Listing:
    """Check every ``(path parts, size, locator, stamp)`` file and every folder (path parts) of
    a source against the dataset's layout and class table; see the module docstring."""
    survey = _Survey()
    for parts in folders:
        survey.note_folder(parts)
    for parts, size, locator, stamp in files:
        survey.add_file(parts, size, locator, stamp)
    survey.raise_misplaced(where)
    missing, empty = survey.missing_and_empty()
    listing = Listing(sorted(survey.entries, key=lambda e: e.relpath), where, missing, empty, sorted(survey.unknown))
    _check_complete(listing, survey.unknown, allow_subset)
    return listing


def _list_folder(root: Path, allow_subset: bool = False) -> Listing:
    files: list[tuple[Sequence[str], int, str, str]] = []
    folders: list[Sequence[str]] = []
    dangling: list[str] = []
    visited: set[str] = set()
    # followlinks: symlinked folders are part of the tree; a cycle is entered only once.
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in visited:
            dirnames[:] = []
            continue
        visited.add(real)
        rel = Path(dirpath).relative_to(root).parts
        folders.append(rel)
        for name in filenames:
            path = Path(dirpath) / name
            try:
                stat = path.stat()  # follows a symlinked file
            except OSError as error:
                if not name.startswith("."):
                    dangling.append(f"{str(path)!r}: {error.strerror or error}")
                continue
            files.append(((*rel, name), stat.st_size, str(path), str(stat.st_mtime_ns)))
    _raise_all(dangling, str(root), "file(s) cannot be read (dangling link?)")
    return _list_entries(files, folders, str(root), allow_subset)


def _list_zip(archive: zipfile.ZipFile, where: str, allow_subset: bool = False) -> Listing:
    infos = archive.infolist()
    files = [
        (i.filename.rstrip("/").split("/"), i.file_size, i.filename, f"{i.CRC:08x}") for i in infos if not i.is_dir()
    ]
    folders = [i.filename.rstrip("/").split("/") for i in infos if i.is_dir()]
    if not any(len(p) >= 3 and _is_health(p[-2]) and p[-1].lower().endswith(IMAGE_SUFFIXES) for p, *_ in files):
        nested = [i.filename for i in infos if i.filename.lower().endswith(".zip")]
        if nested:
            raise ValueError(
                f"{where} holds no leaf images but the archive(s) {nested[:5]}: unpack {where} "
                "and give the inner archive (or its unpacked folder) instead"
            )
    return _list_entries(files, folders, where, allow_subset)
