#!/usr/bin/env bash
# How the 2026-12 pack's recipe variants were trained on a GPU machine with no network, in one
# call: train them side by side, export each to ONNX, score each against Gatys, and bring it all
# back in one archive. Not part of the installed package; for one training run of your own,
# `live-nst train --device cuda` (README, "Training on a GPU") is all you need.
#
#   here:  python tools/gpu_carry.py --styles <the artworks>         # builds .carry/ (see there)
#   there: bash tools/gpu_train.sh [MINUTES]                         # from a checkout with .carry/
#   or:    bash tools/gpu_train.sh score LABEL=ONNX...               # fidelity only, for files under .carry
#
# The machine needs PyTorch, ONNX and ONNX Runtime, not MediaPipe and no network: face boxes
# come precomputed in .carry/faces.json, the VGG-19 convs in .carry/cache. Results go to
# $OUT/gpu-results.tar.gz (checkpoints, ONNX files, fidelity JSON, logs). STYLE_NAMES picks the
# artworks under .carry/styles (default: the pack's eight).
set -u
# Smaller settings for a dry run on a CPU: DEVICE=cpu SIZE=64 BATCH=2 FID_SIZE=64 GATYS_STEPS=2 PORTRAITS=1
DEVICE=${DEVICE:-cuda} SIZE=${SIZE:-256} BATCH=${BATCH:-16}
FID_SIZE=${FID_SIZE:-256} GATYS_STEPS=${GATYS_STEPS:-60} PORTRAITS=${PORTRAITS:-12} FID_TIMEOUT=${FID_TIMEOUT:-150}
OUT=${OUT:-/tmp/out}
ROOT=$PWD
RUNS=$ROOT/runs/gpu
export PYTHONUNBUFFERED=1 LIVE_NST_CACHE=$ROOT/.carry/cache TQDM_MININTERVAL=20
mkdir -p "$OUT" "$RUNS"

PY="python3 -P"  # -P: the working tree's live_nst/ must not shadow the installed package
if ! $PY -c "import live_nst.models, live_nst.bench" 2>/dev/null; then
  # No live-nst installed (and no pip to install it): the package laid out as installed
  # (models/ -> live_nst.models, ...) in a copied tree.
  SITE=/tmp/site
  rm -rf "$SITE" && mkdir -p "$SITE"
  cp -r live_nst "$SITE/" && cp -r models "$SITE/live_nst/models" && cp -r export "$SITE/live_nst/export" \
    && cp -r bench "$SITE/live_nst/bench"
  export PYTHONPATH=$SITE
fi

STYLE_NAMES=${STYLE_NAMES:-starry_night great_wave the_scream composition_vii shipwreck_of_the_minotaur udnie \
woman_with_hat seated_nude}
STYLES=$(for s in $STYLE_NAMES; do echo ".carry/styles/$s.jpg"; done)
train() {  # name, then extra flags
  local name=$1; shift
  mkdir -p "$RUNS/$name" && cp .carry/faces.json "$RUNS/$name/faces.json"
  $PY -m live_nst train --style-path $STYLES --content-dir .carry/content --size "$SIZE" --batch "$BATCH" \
    --style-size 512 --steps 200000 --budget "$MINUTES" --workers 4 --checkpoint-every 500 \
    --out-dir "$RUNS/$name" --device "$DEVICE" "$@" > "$RUNS/$name/train.log" 2>&1
  echo "train $name: exit $?" | tee -a "$RUNS/status.txt"
}
score() {  # label, ONNX file
  local name=$1 model=$2
  timeout "$FID_TIMEOUT" $PY - "$model" "$RUNS/fidelity-$name.json" "$FID_SIZE" "$GATYS_STEPS" "$PORTRAITS" "$DEVICE" > "$RUNS/fidelity-$name.log" 2>&1 <<'EOF'
import json, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO)
from live_nst.bench.fidelity import measure_fidelity, model_style_artworks
model, out, size, steps, count, device = Path(sys.argv[1]), Path(sys.argv[2]), *map(int, sys.argv[3:6]), sys.argv[6]
artworks = {n: p for n, p in model_style_artworks(model, Path(".carry/styles")).items() if p}
photos = sorted(Path(".carry/portraits").glob("*.jpg"))[:count]
# The bench's protocol: the artwork at the model's own recipe size, Gatys with a fixed step count.
result = measure_fidelity(model, artworks, photos, size=size, gatys_steps=steps, device=device)
out.write_text(json.dumps(result, indent=1))
print(json.dumps(result["summary"]))
EOF
  echo "fidelity $name: exit $?" | tee -a "$RUNS/status.txt"
}
export_run() {
  $PY -m live_nst export "$RUNS/$1/last.ckpt" "$RUNS/$1/pack.onnx" > "$RUNS/$1/export.log" 2>&1
  echo "export $1: exit $?" | tee -a "$RUNS/status.txt"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RUNS/gpu.txt"
$PY -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'ort', o.__version__, o.get_available_providers())" \
  | tee -a "$RUNS/gpu.txt"

if [ "${1:-}" = score ]; then  # bash tools/gpu_train.sh score LABEL=ONNX...: fidelity only
  shift
  for pair in "$@"; do score "${pair%%=*}" "${pair#*=}" & done
  wait
  tar czf "$OUT/gpu-results.tar.gz" -C "$ROOT/runs" gpu
  exit 0
fi

MINUTES=${1:-5}
train style4 --style-weight 4 --temporal-weight 20 &
train style8 --style-weight 8 --temporal-weight 20 &
train style6t60 --style-weight 6 --temporal-weight 60 &
wait
VARIANTS="style4 style8 style6t60"
for name in $VARIANTS; do cp "$RUNS/$name/last.ckpt" "$OUT/$name.ckpt"; done  # safe first

for name in $VARIANTS; do export_run "$name" & done
wait
score shipped "$ROOT/live_nst/styles/pack.onnx" &
for name in $VARIANTS; do score "$name" "$RUNS/$name/pack.onnx" & done
wait

# The network's speed on every provider this ONNX Runtime offers (TensorRT builds engines: capped).
timeout 90 $PY - "$ROOT/live_nst/styles/pack.onnx" > "$RUNS/speed.log" 2>&1 <<'EOF'
import sys, time
import numpy as np, onnxruntime as ort
from live_nst.inference import StyleModel
from live_nst.providers import PROVIDERS
for device in ("tensorrt", "cuda", "cpu"):
    if PROVIDERS[device] not in ort.get_available_providers():
        print(device, "not offered"); continue
    try:
        model = StyleModel(sys.argv[1], device)
    except Exception as exc:
        print(device, "failed:", exc); continue
    for w, h in ((640, 360), (1280, 720), (1920, 1080)):
        image = np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)
        weights = np.zeros((model.num_styles, h // 4, w // 4), np.float32); weights[0] = 1
        for _ in range(3): model.run(image, weights)
        times = []
        for _ in range(20):
            t = time.perf_counter(); model.run(image, weights); times.append(time.perf_counter() - t)
        print(f"{device} ({model.provider}) {w}x{h}: median {1000 * np.median(times):.2f} ms", flush=True)
EOF
echo "speed: exit $?" | tee -a "$RUNS/status.txt"

tar czf "$OUT/gpu-results.tar.gz" -C "$ROOT/runs" gpu
ls -la "$OUT"
