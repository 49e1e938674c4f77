#!/usr/bin/env bash
# The live pipeline at an earlier commit against this checkout, in one session: builds
# COMMIT (its own code, bench and style pack) into a temporary folder, then runs each
# one's speed section in turn, ROUNDS times, and prints fps and latency p95 per run.
# The two share the machine's speed swings, which on a shared VM reach 2x within minutes.
#
#   bash bench/against_commit.sh COMMIT [ROUNDS] [PROC_SIZE] [-- more live-nst-bench args]
#   bash bench/against_commit.sh c321295 3 640x360
#
# Run from the repository root with the project's environment (.venv) installed.
set -euo pipefail
commit=${1:?usage: bench/against_commit.sh COMMIT [ROUNDS] [PROC_SIZE]}
rounds=${2:-3}
size=${3:-640x360}
shift $(( $# < 3 ? $# : 3 )); [[ "${1:-}" == "--" ]] && shift
extra=("$@")
python=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --quiet --detach "$work/src" "$commit"
"$python" -m pip install --quiet --no-deps --no-build-isolation --target "$work/pkg" "$work/src"

bench() {  # bench NAME PACKAGE_DIR(or "") OUT
    "$python" -c "import sys; sys.path[:0] = [p for p in sys.argv[1:2] if p]
from live_nst.bench.command import main
sys.exit(main(sys.argv[2:]))" "$2" --out "$3" --sections speed --proc-sizes "$size" --frames 150 "${extra[@]}" \
        > "$3.log" 2>&1 || { echo "$1 failed, see $3.log" >&2; exit 1; }
    "$python" - "$1" "$3/report.json" <<'PY'
import json, sys
run = json.load(open(sys.argv[2]))["sections"]["speed"]["runs"][0]
print(f"{sys.argv[1]:>8}: {run['fps']:5.1f} fps, latency median {run['latency_ms']['median']:.0f} ms, "
      f"p95 {run['latency_ms']['p95']:.0f} ms")
PY
}
for round in $(seq "$rounds"); do
    bench "$commit" "$work/pkg" "$work/old-$round"
    bench "HEAD" "" "$work/new-$round"
done
