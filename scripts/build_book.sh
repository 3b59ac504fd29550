#!/usr/bin/env bash
# Build the executable book.
#
#   scripts/build_book.sh [profile]      profile: smoke | quick (default) | paper
#
# 1. every notebooks/*.ipynb is executed by papermill with `-p profile <profile>`
#    into _build/stage/notebooks/ (cwd = notebooks/, so relative paths behave as
#    when the notebook is run in place);
# 2. _config.yml, _toc.yml and book/ are copied next to them;
# 3. jupyter-book renders the staged tree (without re-executing) to _build/html/.
#
# Run records go to $MTL_RESULTS_DIR (default _build/results). That folder is kept
# between builds, so a rebuild resumes sweeps instead of recomputing finished runs.
set -euo pipefail

START=$SECONDS
PROFILE="${1:-quick}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

case "$PROFILE" in
    smoke|quick|paper) ;;
    *) echo "[book] unknown profile '$PROFILE' (expected smoke, quick or paper)" >&2; exit 2 ;;
esac

bash "$ROOT/scripts/ensure_env.sh"

BIN="$ROOT/.venv/bin"
export PATH="$BIN:$PATH"
MTL_RESULTS_DIR="${MTL_RESULTS_DIR:-$ROOT/_build/results}"
mkdir -p "$MTL_RESULTS_DIR"
MTL_RESULTS_DIR="$(cd "$MTL_RESULTS_DIR" && pwd)"   # absolute: notebooks run in notebooks/
export MTL_RESULTS_DIR

STAGE="$ROOT/_build/stage"
rm -rf "$STAGE"
mkdir -p "$STAGE/notebooks"

echo "[book] profile=$PROFILE  results=$MTL_RESULTS_DIR"

PM_ARGS=(-k python3 -p profile "$PROFILE" --cwd "$ROOT/notebooks")
[[ -t 2 ]] || PM_ARGS+=(--no-progress-bar)

shopt -s nullglob
notebooks=("$ROOT"/notebooks/*.ipynb)
if (( ${#notebooks[@]} == 0 )); then
    echo "[book] warning: no notebooks found in notebooks/" >&2
fi
for nb in "${notebooks[@]}"; do
    name="$(basename "$nb")"
    t0=$SECONDS
    if ! "$BIN/papermill" "$nb" "$STAGE/notebooks/$name" "${PM_ARGS[@]}"; then
        echo "[book] FAILED: notebook $name (profile $PROFILE) after $((SECONDS - t0)) s;" \
             "the partially executed copy is $STAGE/notebooks/$name" >&2
        exit 1
    fi
    echo "[book] executed $name in $((SECONDS - t0)) s"
done

# Non-notebook assets next to the notebooks (images, small json) travel with them.
for f in "$ROOT"/notebooks/*; do
    if [[ -f "$f" && "$f" != *.ipynb ]]; then cp "$f" "$STAGE/notebooks/"; fi
done

cp "$ROOT/_config.yml" "$ROOT/_toc.yml" "$STAGE/"
cp -r "$ROOT/book" "$STAGE/book"

t0=$SECONDS
"$BIN/jupyter-book" build "$STAGE" --path-output "$ROOT"
echo "[book] jupyter-book build took $((SECONDS - t0)) s"

echo "[book] book written to: $ROOT/_build/html/index.html"
echo "[book] total wall time $((SECONDS - START)) s"
