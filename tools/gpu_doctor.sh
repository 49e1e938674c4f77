#!/usr/bin/env bash
# The GPU out of the box, checked on a machine with an NVIDIA GPU and its driver (nothing else):
# install live-nst with the [cuda] extra into a fresh virtualenv, ask `live-nst doctor --json`
# which provider it chose (CUDA or TensorRT expected), then time a short `live-nst render` with
# --device cuda against --device cpu. About 3-7 minutes, under 8 in all: every step has its own time limit.
#
#   bash tools/gpu_doctor.sh            # from the repository root; results in $OUT (default /tmp/out)
#
# The install needs a package index (the [cuda] extra brings about 1.5 GB of NVIDIA wheels). For a
# machine without one, WHEELS=DIR installs from a folder that `pip download '.[cuda]' -d DIR` filled
# elsewhere. LIVE_NST_CACHE=DIR points at MediaPipe's models where they cannot be fetched. VENV=DIR
# reuses a virtualenv that has live-nst installed (a second run, say) instead of a fresh install.
# A dry run on a CPU: DEVICE=cpu FRAMES=20 SIZE=320x180 VENV=... bash tools/gpu_doctor.sh
# Results: $OUT/doctor.json, $OUT/summary.txt (the provider chosen, fps on each device), $OUT/log.txt.
set -uo pipefail
OUT=${OUT:-/tmp/out}
ROOT=$PWD
WORK=$(mktemp -d /tmp/live-nst-gpu.XXXXXX)
DEVICE=${DEVICE:-cuda} FRAMES=${FRAMES:-150} SIZE=${SIZE:-1280x720}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
step() {  # seconds, name, command...: run with a time limit; say how it ended
  local limit=$1 name=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@"
  local code=$?
  echo "[$name: exit $code after $((SECONDS - start)) s]" >&2
  return $code
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/gpu: /' \
  | tee -a "$OUT/summary.txt" || summary "gpu: nvidia-smi found no GPU"

if [ -z "${VENV:-}" ]; then
  VENV=$WORK/venv
  python3 -m venv "$VENV" || { summary "FAIL: python3 -m venv"; exit 1; }
  PIP=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
  [ -n "${WHEELS:-}" ] && PIP+=(--no-index --find-links "$WHEELS")
  if ! step 240 "pip install .[cuda]" "${PIP[@]}" "$ROOT[cuda]"; then
    summary "FAIL: pip install '.[cuda]' did not finish (no package index here? give WHEELS=DIR)"
    exit 1
  fi
fi
"$VENV/bin/pip" list 2>/dev/null | grep -iE '^(onnxruntime|nvidia-)' | sed 's/^/installed: /' | tee -a "$OUT/summary.txt"
LIVE_NST=$VENV/bin/live-nst
cd "$WORK" || exit 1  # the installed package, not the checkout's live_nst/

step 45 "doctor" "$LIVE_NST" doctor --json > "$OUT/doctor.json"
"$VENV/bin/python" - "$OUT/doctor.json" <<'EOF' | tee -a "$OUT/summary.txt"
import json, sys
report = json.load(open(sys.argv[1]))
providers = report["providers"]
print(f"doctor: chosen {providers['chosen']}; usable {providers['usable']}; not usable {providers['not_usable']}")
print(f"doctor: {providers['onnxruntime']}; status {providers['status']}")
on_gpu = providers["chosen"] in ("CUDAExecutionProvider", "TensorrtExecutionProvider")
print(("PASS" if on_gpu else "FAIL") + ": the style network runs on " + str(providers["chosen"]))
EOF

# A clip to render: the built-in sample, written frame by frame (no camera here).
step 60 "sample clip" "$LIVE_NST" run --source sample --output "$WORK/in.mp4" --frames "$FRAMES" --size "$SIZE" \
  --device "$DEVICE" || summary "FAIL: could not write the sample clip"

render() {  # device: paint the clip; the whole pipeline's fps (decode, segment, paint, encode)
  local device=$1 start=$SECONDS rate
  if step 60 "render --device $device" "$LIVE_NST" -v render "$WORK/in.mp4" -o "$WORK/out-$device.mp4" \
      --device "$device" > "$OUT/render-$device.log" 2>&1; then
    rate=$(tr '\r' '\n' < "$OUT/render-$device.log" | grep -o '[0-9.]*frame/s' | tail -1)
    summary "render --device $device: $FRAMES frames of $SIZE at ${rate:-?} (progress bar, after start-up);" \
      "$((SECONDS - start)) s in all"
  else
    summary "FAIL: render --device $device (see render-$device.log)"
    tail -5 "$OUT/render-$device.log"
  fi
}
render "$DEVICE"
render cpu
grep -h "style network" "$OUT"/render-*.log | sed 's/^/log: /' | tee -a "$OUT/summary.txt"
ls -la "$OUT"
rm -rf "$WORK"
