#!/usr/bin/env bash
# The trainer alone, without the service (e.g. on a GPU machine): generates a tiny BAGEL
# checkpoint and a small random FLUX VAE, then trains Stage 1 and Stage 2 on generated data with
# live progress, each as a job of two local ranks of bagel-train (fully sharded over Gloo).
# Outputs: out/demo-trainer (or $BAGEL_DEMO_DIR). BAGEL_DEMO_STEPS sets the steps per stage.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BAGEL_BUILD_DIR:-$ROOT/build/release}/bin"
OUT="${BAGEL_DEMO_DIR:-$ROOT/out/demo-trainer}"
STEPS="${BAGEL_DEMO_STEPS:-200}"
RANKS="${BAGEL_DEMO_RANKS:-2}"

"$ROOT/scripts/build.sh"
rm -rf "$OUT"
mkdir -p "$OUT"
echo "== generating a tiny BAGEL checkpoint and VAE (HF layout) in $OUT/init"
"$BIN/bagel-init-checkpoint" --preset tiny --stage 1 --seed 4396 --vae tiny --out "$OUT/init"

spec() {  # stage, init_from, extra model lines
  cat <<YAML
name: demo-stage$1
model:
  stage: $1
  init_from: $2
$3
data:
  groups: [{name: demo, type: demo}]
  expected_num_tokens: 256
  max_num_tokens: 512
  max_num_tokens_per_sample: 256
  cfg_dropout: {text: 0.1, vit: 0.3, vae: 0.3}
train: {steps: $STEPS, lr: 2.0e-3, warmup_steps: 20, ema_decay: 0.99, precision: fp32, log_every: 10}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 50, keep_last: 2, export_hf: true}
eval: {every_steps: 100, max_batches: 2}
YAML
}
spec 1 "{path: $OUT/init}" "" > "$OUT/stage1.yaml"
spec 2 "{path: $OUT/checkpoints/stage1/hf}" "  vae: $OUT/init/ae.safetensors" > "$OUT/stage2.yaml"

for stage in 1 2; do
  echo "== Stage $stage: $STEPS steps on $RANKS ranks (progress below; JSON events in $OUT/stage$stage.jsonl)"
  "$BIN/bagel-train" --spec "$OUT/stage$stage.yaml" --nproc "$RANKS" --job-id "stage$stage" \
    --checkpoint-root "$OUT/checkpoints" > "$OUT/stage$stage.jsonl"
done
echo "== done"
echo "   Stage 1 export: $OUT/checkpoints/stage1/hf"
echo "   Stage 2 export: $OUT/checkpoints/stage2/hf (llm/vit/config JSON, ema/model.safetensors, ae.safetensors)"
echo "   sharded checkpoints: $OUT/checkpoints/stage{1,2}/step-*"
