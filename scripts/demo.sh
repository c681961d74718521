#!/usr/bin/env bash
# The main job: sets everything up, generates a tiny BAGEL checkpoint and trains it on generated
# data with live progress, then exports the result. Outputs go to out/demo (or $BAGEL_DEMO_DIR).
#
# Today this runs Stage 1 in one process (bagel-train); as the service lands it grows into a
# local coordinator + worker running Stage 1 then Stage 2.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BAGEL_BUILD_DIR:-$ROOT/build/release}/bin"
OUT="${BAGEL_DEMO_DIR:-$ROOT/out/demo}"
STEPS="${BAGEL_DEMO_STEPS:-300}"

"$ROOT/scripts/build.sh"
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== generating a tiny BAGEL checkpoint (HF layout) in $OUT/init"
"$BIN/bagel-init-checkpoint" --preset tiny --stage 1 --seed 4396 --out "$OUT/init"
echo "== Stage 1: training $STEPS steps on generated VLM and text data"
"$BIN/bagel-train" --init-from "$OUT/init" --stage 1 --steps "$STEPS" --lr 2e-3 --warmup 20 \
  --log-every 25 --out "$OUT/stage1" | tee "$OUT/stage1.log"
echo "== done: checkpoint $OUT/stage1 (llm_config.json, vit_config.json, config.json, ema.safetensors)"
