#!/usr/bin/env bash
# bagel-train's TensorBoard run (docs/METRICS.md, "TensorBoard"), read with the real TensorBoard
# (PyPI's tensorboard in the test virtualenv): a tiny Stage 2 job of 8 steps, logging every step,
# evaluating with two prompts at steps 4 and 8, then a second attempt resumed from the step-4
# checkpoint that recomputes steps 5..8 into the same run. tensorboard_train_read.py checks every
# scalar at every logged step against the trainer's progress lines, each step once, the images
# against the PNG files, the spec and config texts, and a cut copy of the last file.
# Exit 77 (skipped) without the virtualenv or the package.
#
#   tensorboard_train_test.sh BIN_DIR TESTENV_PYTHON WORK_DIR
set -uo pipefail
bin="$1" PY="$2" work="$3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x "$PY" ]] || ! "$PY" -c "import tensorboard, numpy, PIL" 2>/dev/null; then
  echo "skipped: no test virtualenv with tensorboard at $PY (scripts/setup.sh makes it)"
  exit 77
fi
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$bin/bagel-init-checkpoint" --preset tiny --stage 1 --seed 3 --vae tiny --out init > /dev/null \
  || fail "bagel-init-checkpoint failed"
cat > spec.yaml <<YAML
model: {stage: 2, init_from: {path: $PWD/init}, vae: $PWD/init/ae.safetensors}
data:
  groups: [{name: demo, type: demo}]
  expected_num_tokens: 200
  max_num_tokens: 400
  max_num_tokens_per_sample: 200
train: {steps: 8, lr: 1.0e-3, warmup_steps: 1, ema_decay: 0.9, precision: fp32, log_every: 1,
        ce_weight: 0.5, mse_weight: 2.0}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 4, keep_last: 2, export_hf: false}
eval: {every_steps: 4, max_batches: 1, prompts: ["a red square", "two cats / one sofa"], image_size: 32, num_timesteps: 4}
YAML
run() { timeout 300 "$bin/bagel-train" --spec spec.yaml --checkpoint-root ckpt --job-id j "$@"; }
run > first.jsonl 2> first.log || fail "first attempt failed: $(tail -3 first.log)"
grep -q "tensorboard: ckpt/j/tensorboard" first.log || fail "the log directory was not printed"
run --resume ckpt/j/step-00000004 > second.jsonl 2> second.log \
  || fail "second attempt failed: $(tail -3 second.log)"
grep -q "resumed from ckpt/j/step-00000004" second.log || fail "did not resume from step 4"
files=$(ls ckpt/j/tensorboard | grep -c tfevents)
[[ $files == 2 ]] || fail "expected one event file per attempt, found $files"
"$PY" "$HERE/tensorboard_train_read.py" ckpt/j/tensorboard "$PWD/cut" first.jsonl second.jsonl
