#!/usr/bin/env bash
# Runs every notebook's tests with nbdev-test (cells flagged `gpu`, `slow` or `notest` are skipped unless
# FLAGS names them) and ends with one line: "N passed, M failed", counted in notebooks.
# Each notebook runs in a process of its own, JOBS at a time (default: the CPU count, at most 2), the longest first:
# nbdev-test's own pool runs several notebooks one after another in one process and keeps each one's namespace alive,
# so the models of every notebook a worker ran added up (over 13 GB in one worker here, and CI's run was killed).
# Usage: tools/test.sh [notebooks...]     e.g. FLAGS="gpu slow" tools/test.sh nbs/04_engine.ipynb
# Stored outputs: NBTEST_ARGS=--save tools/test.sh && python tools/clean_outputs.py nbs/*.ipynb && nbdev-clean
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg
BIN=${BIN:-.venv/bin}; [ -x "$BIN/nbdev-test" ] || BIN=$(dirname "$(command -v nbdev-test)")
# the notebooks export and optimize real models into temporary folders (GBs per run): keep them in one place, removed after
export TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/transformer-opt-tests.XXXXXX")
# a local Ray (05_scale, 05b_serve_ray, 08_cli) keeps its sockets under RAY_TMPDIR: a short path, as Unix socket paths are limited
export RAY_TMPDIR=$(mktemp -d /tmp/ray.XXXX)
logs=$(mktemp -d /tmp/nbtest.XXXX); trap 'rm -rf "$TMPDIR" "$RAY_TMPDIR" "$logs"' EXIT
JOBS=${JOBS:-$(nproc)}; [ "$JOBS" -gt 2 ] && JOBS=2
# the longest first (seconds on a 2-core CI machine), so that two at a time finish together
ORDER="06_bench 02_optimize 04a_build 05a_serve 08_cli 04_engine index 05b_serve_ray 05_scale 03_session 01_export 07_viz 00a_models 00_core 09_main"
if [ $# -gt 0 ]; then nbs=("$@"); else
  nbs=(); for n in $ORDER; do [ -f "nbs/$n.ipynb" ] && nbs+=("nbs/$n.ipynb"); done
  for f in nbs/[0-9a-z]*.ipynb; do case " ${nbs[*]} " in *" $f "*) ;; *) nbs+=("$f");; esac; done
fi
one() {  # one notebook in its own process: its log, its seconds and its result
  local nb=$1 name; name=$(basename "$nb" .ipynb); local t0=$SECONDS
  "$BIN/nbdev-test" "$nb" ${FLAGS:+--flags "$FLAGS"} ${NBTEST_ARGS:-} >"$logs/$name.log" 2>&1; local rc=$?
  echo "$name $((SECONDS - t0)) $rc" >>"$logs/results"
  if [ $rc -eq 0 ]; then echo "passed $name ($((SECONDS - t0)) s)"; else echo "FAILED $name ($((SECONDS - t0)) s)"; cat "$logs/$name.log"; fi
}
export -f one; export BIN FLAGS NBTEST_ARGS logs
printf '%s\n' "${nbs[@]}" | xargs -P "$JOBS" -I{} bash -c 'one "$@"' _ {}
total=${#nbs[@]}
failed=$(awk '$3 != 0' "$logs/results" 2>/dev/null | wc -l)
done_=$(wc -l <"$logs/results" 2>/dev/null || echo 0)
failed=$((failed + total - done_))   # a notebook whose process left no result counts as failed
echo "$((total - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
