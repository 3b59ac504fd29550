#!/usr/bin/env bash
# Run the whole test suite: ruff (lint + format check, settings in pyproject.toml), unit tests
# in tests/ plus nbval over every notebook.
#
# Notebooks run at their default parameters (the `smoke` profile), and write
# their results into a fresh temporary MTL_RESULTS_DIR, so every run really
# computes instead of resuming results left by an earlier build.
# Extra arguments are passed on to pytest, e.g. `scripts/test.sh -k rau -x`.
set -euo pipefail

START=$SECONDS
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash "$ROOT/scripts/ensure_env.sh"
# The notebooks are committed as MyST text; nbval reads their generated .ipynb twins.
"$ROOT/.venv/bin/python" "$ROOT/scripts/sync_notebooks.py"

MTL_RESULTS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mtl_results.XXXXXX")"
export MTL_RESULTS_DIR
# Notebook sweeps train in the kernel (workers=1) under nbval: smoke runs take seconds, less
# than spawning worker processes would.
export MTL_SWEEP_WORKERS="${MTL_SWEEP_WORKERS:-1}"
export MTL_VERDICTS_DIR="$MTL_RESULTS_DIR/verdicts"   # the notebooks' verdict reports, kept out of _build
export PATH="$ROOT/.venv/bin:$PATH"
trap 'rm -rf "$MTL_RESULTS_DIR"' EXIT

echo "[test] MTL_RESULTS_DIR=$MTL_RESULTS_DIR"
rc=0
# Lint and format check first (seconds); a finding fails the run but the tests still run.
echo "[test] ruff check . && ruff format --check ."
"$ROOT/.venv/bin/ruff" check . || rc=1
"$ROOT/.venv/bin/ruff" format --check . || rc=1
"$ROOT/.venv/bin/python" -m pytest tests notebooks --nbval-lax -p no:cacheprovider -q "$@" || rc=$?

echo "[test] exit code $rc (ruff and pytest); total wall time $((SECONDS - START)) s"
exit "$rc"
