#!/usr/bin/env bash
# The trainer alone, without the service (e.g. on a GPU machine): generates a tiny BAGEL
# checkpoint with the real Qwen2 vocabulary, a small random FLUX VAE and small datasets in the
# official formats (scripts/demo-data.sh), then trains Stage 1 and Stage 2 with live progress,
# each as a job of two local ranks of bagel-train (fully sharded over Gloo); Stage 2 writes
# sample images from fixed prompts at its evaluations.
# Outputs: out/demo-trainer (or $BAGEL_DEMO_DIR). BAGEL_DEMO_STEPS sets the steps per stage.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BAGEL_BUILD_DIR:-$ROOT/build/release}/bin"
OUT="${BAGEL_DEMO_DIR:-$ROOT/out/demo-trainer}"
STEPS="${BAGEL_DEMO_STEPS:-200}"
RANKS="${BAGEL_DEMO_RANKS:-2}"

[[ "${BAGEL_DEMO_SKIP_BUILD:-0}" == 1 ]] || "$ROOT/scripts/build.sh"
rm -rf "$OUT"
mkdir -p "$OUT"
"$ROOT/scripts/demo-data.sh" "$OUT/data" "$BIN"

spec() {  # stage, init_from, extra model lines, eval line
  cat <<YAML
name: demo-stage$1
model:
  stage: $1
  init_from: $2
$3
YAML
  "$ROOT/scripts/demo-data.sh" "$OUT/data" "$BIN" "stage$1" | grep -v '^val_dataset:'
  local val
  val="$("$ROOT/scripts/demo-data.sh" "$OUT/data" "$BIN" "stage$1" | sed -n 's/^val_dataset: //p')"
  cat <<YAML
train: {steps: $STEPS, lr: 2.0e-3, warmup_steps: 20, ema_decay: 0.99, precision: fp32, log_every: 10}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 50, keep_last: 2, export_hf: true}
eval: {every_steps: 100, max_batches: 2, dataset: $val$4}
YAML
}
spec 1 "{path: $OUT/data/init}" "" "" > "$OUT/stage1.yaml"
spec 2 "{path: $OUT/checkpoints/stage1/hf}" "  vae: $OUT/data/init/ae.safetensors" \
  ", prompts: [a red circle on a photograph, a blue square], image_size: 64, num_timesteps: 12" \
  > "$OUT/stage2.yaml"

for stage in 1 2; do
  echo "== Stage $stage: $STEPS steps on $RANKS ranks (progress below; JSON events in $OUT/stage$stage.jsonl)"
  "$BIN/bagel-train" --spec "$OUT/stage$stage.yaml" --nproc "$RANKS" --job-id "stage$stage" \
    --checkpoint-root "$OUT/checkpoints" > "$OUT/stage$stage.jsonl"
done
echo "== done"
echo "   Stage 1 export: $OUT/checkpoints/stage1/hf"
echo "   Stage 2 export: $OUT/checkpoints/stage2/hf (llm/vit/config JSON, ema/model.safetensors, ae.safetensors)"
echo "   sharded checkpoints: $OUT/checkpoints/stage{1,2}/step-*"
echo "   Stage 2 sample images: $OUT/checkpoints/stage2/eval/step-*/"
echo "   TensorBoard (loss curves, sample images, the specs): tensorboard --logdir $OUT/checkpoints"
