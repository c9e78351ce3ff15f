#!/usr/bin/env bash
# Runs every notebook's tests with nbdev-test (cells flagged `gpu`, `slow` or `notest` are skipped unless
# FLAGS names them) and ends with one line: "N passed, M failed", counted in notebooks.
# Usage: tools/test.sh [extra nbdev-test arguments]     e.g. FLAGS="gpu slow" tools/test.sh --n-workers 1
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
BIN=${BIN:-.venv/bin}; [ -x "$BIN/nbdev-test" ] || BIN=$(dirname "$(command -v nbdev-test)")
# the notebooks export and optimize real models into temporary folders (GBs per run): keep them in one place, removed after
export TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/transformer-opt-tests.XXXXXX")
# a local Ray (05_scale, 08_cli) keeps its sockets under RAY_TMPDIR: a short path, as Unix socket paths are limited
export RAY_TMPDIR=$(mktemp -d /tmp/ray.XXXX); trap 'rm -rf "$TMPDIR" "$RAY_TMPDIR"' EXIT
total=$(ls nbs/[0-9a-z]*.ipynb | wc -l)
log=$(mktemp -p /tmp)
"$BIN/nbdev-test" --timing ${FLAGS:+--flags "$FLAGS"} "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
failed=$(awk '/Tests Failed On The Following Notebooks/{f=1; next} f && /\.ipynb/{n++} END{print n+0}' "$log")
[ "$rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=$total   # nbdev-test itself broke
rm -f "$log"  # TMPDIR goes with the trap
echo "$((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
