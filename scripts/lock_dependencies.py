#!/usr/bin/env python3
"""Re-resolve the project's dependencies and write the lock file ``requirements.lock``.

    .venv/bin/python scripts/lock_dependencies.py [--check]

``make book`` and ``make test`` (through ``scripts/ensure_env.sh``) install exactly the versions
in ``requirements.lock``, and ``environment.yml`` installs from the same file, so every machine
runs one dependency set. Run this after changing the dependencies in ``pyproject.toml``: it asks
pip to resolve ``torch==2.13.0`` (the CPU build) plus ``mtl_lib[dev]`` as if nothing were
installed (``pip install --dry-run --ignore-installed --report``) and pins every package it
would install. ``--check`` exits 1 when the lock misses a dependency that pyproject.toml names.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
TORCH_PIN = "torch==2.13.0"  # the CPU wheel here; an open range would resolve to a multi-GB CUDA build


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def resolve() -> list[tuple[str, str]]:
    """(name, version) of everything pip would install for the project, without installing it."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
        command += ["--disable-pip-version-check", "--report", str(report), TORCH_PIN, "-e", f"{ROOT}[dev]"]
        subprocess.run(command, check=True)
        installs = json.loads(report.read_text())["install"]
    pins = []
    for item in installs:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if canonical(name) == "mtl-lib":
            continue
        if canonical(name) == "torch":
            version = version.split("+")[0]  # ==2.13.0 matches the local +cpu build too
        pins.append((name, version))
    return sorted(pins, key=lambda pin: canonical(pin[0]))


def write_lock(pins: list[tuple[str, str]]) -> None:
    header = [
        "# The one dependency set of mtl-book: make book, make test and environment.yml install these.",
        f"# Resolved by scripts/lock_dependencies.py for CPython {platform.python_version()} on "
        f"{platform.system()} {platform.machine()} from pyproject.toml (mtl_lib[dev] + {TORCH_PIN}).",
        "# Regenerate after changing pyproject.toml's dependencies: .venv/bin/python scripts/lock_dependencies.py",
    ]
    LOCK.write_text("\n".join(header + [f"{name}=={version}" for name, version in pins]) + "\n")


def locked_names() -> set[str]:
    names = set()
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            names.add(canonical(line.split("==")[0]))
    return names


def declared_names() -> set[str]:
    """Every distribution named in pyproject.toml's dependencies and its dev extra."""
    import tomllib  # Python 3.11+; only this check needs it

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return {canonical(re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]) for requirement in requirements}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the lock lacks a declared dependency")
    args = parser.parse_args(argv)
    if args.check:
        missing = sorted(declared_names() - locked_names())
        if missing:
            print(f"requirements.lock lacks {missing}: run scripts/lock_dependencies.py", file=sys.stderr)
            return 1
        return 0
    pins = resolve()
    write_lock(pins)
    print(f"wrote {LOCK.name}: {len(pins)} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
