#!/usr/bin/env bash
# Build the executable book.
#
#   scripts/build_book.sh [profile] [options]     profile: smoke | quick (default) | paper
#
# Makes sure .venv exists (scripts/ensure_env.sh), then hands over to scripts/build_book.py,
# which runs the notebooks in parallel over the cores (longest first, torch threads and sweep
# workers shared so that no more threads are busy than cores), reuses notebooks whose inputs
# did not change, writes the verdict summary and the build status page, renders with
# `jupyter-book build -n -W --keep-going` (nitpicky, strict) and checks the internal links offline.
# Options: --force (re-execute every notebook; sweeps still resume from the results store),
# --cores N, --jobs N, --out DIR, --render-only (re-render from the last executed notebooks);
# see `python scripts/build_book.py --help`.
#
# Run records go to $MTL_RESULTS_DIR (default _build/results). That folder is kept between
# builds, so a rebuild resumes sweeps instead of recomputing finished runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
START=$SECONDS

bash "$ROOT/scripts/ensure_env.sh"
"$ROOT/.venv/bin/python" "$ROOT/scripts/sync_notebooks.py"   # notebooks/*.md -> their .ipynb twins
"$ROOT/.venv/bin/python" "$ROOT/scripts/build_book.py" "$@"
echo "[book] make book wall time $((SECONDS - START)) s"
