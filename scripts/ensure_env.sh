#!/usr/bin/env bash
# Create (if needed) and populate the project virtualenv at <repo>/.venv.
#
# Idempotent: the expensive pip step runs only when the stamp file
# .venv/.mtl_book_installed is missing or records another pyproject.toml (its sha256: a
# fresh clone has new file times but needs no reinstall into a venv that already matches).
# Safe to call from any working directory, and safe to `source`-free call
# from the other scripts (it never changes the caller's shell).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.mtl_book_installed"
# This exact pin resolves to the CPU-only wheel in this environment; an unpinned
# torch would drag in a multi-GB CUDA build, so it is installed before anything else.
TORCH_PIN="torch==2.13.0"

if [[ ! -x "$PY" ]]; then
    echo "[ensure_env] creating virtualenv in $VENV"
    python3 -m venv "$VENV"
fi

WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    echo "[ensure_env] installing $TORCH_PIN and mtl_lib[dev] into .venv (first run takes a few minutes)"
    # -qq hides progress and warning chatter (e.g. about missing local find-links
    # folders); errors still reach stderr and abort the script.
    "$PY" -m pip install -qq --disable-pip-version-check "$TORCH_PIN"
    "$PY" -m pip install -qq --disable-pip-version-check -e ".[dev]"
    echo "$WANT" > "$STAMP"
    echo "[ensure_env] environment ready"
fi
