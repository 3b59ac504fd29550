#!/usr/bin/env bash
# Create (if needed) and populate the project virtualenv at <repo>/.venv.
#
# Idempotent: the expensive pip step runs only when the stamp file
# .venv/.mtl_book_installed is missing or records another pyproject.toml + requirements.lock (sha256: a
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

WANT="$(cat "$ROOT/pyproject.toml" "$ROOT/requirements.lock" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$WANT" ]]; then
    echo "[ensure_env] installing requirements.lock ($TORCH_PIN first) and mtl_lib into .venv (first run takes a few minutes)"
    # -qq hides progress and warning chatter (e.g. about missing local find-links
    # folders); errors still reach stderr and abort the script.
    "$PY" -m pip install -qq --disable-pip-version-check "$TORCH_PIN"
    # One locked dependency set (scripts/lock_dependencies.py writes it from pyproject.toml).
    if ! "$PY" -m pip install -qq --disable-pip-version-check -r "$ROOT/requirements.lock"; then
        echo "[ensure_env] requirements.lock does not install on this Python ($("$PY" --version)); it was" \
             "resolved for the Python named in its header. Falling back to the unlocked mtl_lib[dev]." >&2
        "$PY" -m pip install -qq --disable-pip-version-check -e ".[dev]"
    fi
    "$PY" -m pip install -qq --disable-pip-version-check --no-deps -e .
    echo "$WANT" > "$STAMP"
    echo "[ensure_env] environment ready"
fi
