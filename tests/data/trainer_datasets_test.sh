#!/usr/bin/env bash
# bagel-train fed from datasets in the official formats (docs/DATA.md), 2 local CPU ranks:
#   1. a Stage 2 run over generated VLM, text, T2I and edit datasets with bad records trains,
#      reports the skipped records in its step events, logs them with file and line, and
#      evaluates on eval.dataset;
#   2. a resume from its step-3 checkpoint gives exactly the losses of the uninterrupted run;
#   3. a resume on 1 rank (another world size) reshards the data state and finishes.
# Usage: trainer_datasets_test.sh BIN_DIR WORK_DIR TOKENIZER_DIR
set -uo pipefail
bin="$1" work="$2" tokenizer="$3"
[[ -f "$tokenizer/vocab.json" ]] || { echo "skip: no tokenizer at $tokenizer"; exit 77; }
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*"; exit 1; }

"$bin/bagel-make-dataset" --out ds --bad-data --vlm-samples 12 --text-samples 12 --t2i-files 4 \
  --edit-files 2 > /dev/null || fail "bagel-make-dataset failed"
"$bin/bagel-init-checkpoint" --out ckpt --preset tiny --stage 2 --vocab-size 151665 --vae tiny \
  --seed 3 > /dev/null || fail "bagel-init-checkpoint failed"
cat > spec.yaml <<YAML
model: {stage: 2, init_from: {path: $PWD/ckpt}, vae: $PWD/ckpt/ae.safetensors}
data:
  groups:
    - {name: vlm, type: vlm_sft, paths: [$PWD/ds/vlm/train.jsonl], image_root: $PWD/ds/vlm,
       vit_transform: {max_size: 56, min_size: 28, stride: 14, max_pixels: 1000000}}
    - {name: text, type: text, paths: [$PWD/ds/text/train.jsonl]}
    - {name: t2i, type: t2i, paths: [$PWD/ds/t2i], mandatory: true,
       vae_transform: {max_size: 64, min_size: 32, stride: 16, max_pixels: 1000000}}
    - {name: edit, type: edit, paths: [$PWD/ds/edit], parquet_info: $PWD/ds/edit/parquet_info.json,
       vit_transform: {max_size: 56, min_size: 28, stride: 14, max_pixels: 1000000},
       vae_transform: {max_size: 64, min_size: 32, stride: 16, max_pixels: 1000000}}
  tokenizer: $tokenizer
  expected_num_tokens: 200
  max_num_tokens: 320
  max_num_tokens_per_sample: 300
  prefer_buffer_before: 100
  max_buffer_size: 4
  loader_threads: 2
train: {steps: 6, lr: 1.0e-3, warmup_steps: 1, ema_decay: 0.9, precision: fp32, log_every: 1}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 3, keep_last: 3, export_hf: false}
eval: {every_steps: 3, max_batches: 2, dataset: {name: val, type: text, paths: [$PWD/ds/text/train.jsonl]}}
YAML
loss_at() {
  local line
  line=$(grep "\"event\":\"step\"" "$1" | grep "\"step\":$2,")
  [[ -n "$line" ]] && echo "$(grep -o '"ce":[-0-9.e]*' <<< "$line") $(grep -o '"mse":[-0-9.e]*' <<< "$line")"
}
run() { timeout 300 "$bin/bagel-train" --spec spec.yaml --nproc 2 --checkpoint-root "$1" --job-id j "${@:2}"; }

# 1. Uninterrupted run.
run ref > ref.jsonl 2> ref.log || fail "run failed: $(tail -5 ref.log)"
grep -q '"step":6,' ref.jsonl || fail "did not reach step 6"
grep '"step":6,' ref.jsonl | grep -q '"data_skipped":[1-9]' || fail "no skipped records reported: $(grep '"step":6,' ref.jsonl)"
grep -q "train.jsonl:[0-9]" ref.log || fail "skipped records not logged with file and line"
grep '"event":"eval"' ref.jsonl | grep -q '"val_ce"' || fail "no validation loss from eval.dataset"
echo "ok: trained from datasets; skipped $(grep '"step":6,' ref.jsonl | grep -o '"data_skipped_by_reason":{[^}]*}')"

# 2. Resume from step 3: exactly the uninterrupted losses.
run resumed --resume ref/j/step-00000003 > b.jsonl 2> b.log || fail "resume failed: $(tail -5 b.log)"
for s in 4 5 6; do
  [[ -n "$(loss_at ref.jsonl $s)" && "$(loss_at ref.jsonl $s)" == "$(loss_at b.jsonl $s)" ]] ||
    fail "step $s: resumed $(loss_at b.jsonl $s) != uninterrupted $(loss_at ref.jsonl $s)"
done
echo "ok: resume reproduces the uninterrupted losses"

# 3. Another world size.
timeout 300 "$bin/bagel-train" --spec spec.yaml --checkpoint-root one --job-id j \
  --resume ref/j/step-00000003 > c.jsonl 2> c.log || fail "1-rank resume failed: $(tail -5 c.log)"
grep -q '"step":6,' c.jsonl || fail "1-rank resume did not finish"
grep -q "resumed from 2 ranks" c.log || fail "no reshard note: $(grep -i data c.log | head -3)"
echo "ok: a 1-rank resume of a 2-rank run reshards the data and finishes"

# 4. An eval dataset that cannot serve every rank (one parquet file, two ranks) fails the job at
#    start, before any step, not at the first evaluation.
sed 's|dataset: {name: val, type: text, paths: \[[^]]*\]}|dataset: {name: val, type: t2i, paths: ['"$PWD"'/ds/t2i/part-00000.parquet]}|' \
  spec.yaml > badval.yaml
grep -q "type: t2i, paths: \[$PWD/ds/t2i/part-00000.parquet\]}" badval.yaml || fail "could not derive the spec"
timeout 300 "$bin/bagel-train" --spec badval.yaml --nproc 2 --checkpoint-root badval --job-id j \
  > badval.jsonl 2> badval.log && fail "a too small eval dataset was accepted"
grep -q '"event":"step"' badval.jsonl && fail "trained before refusing the eval dataset"
grep -q "cannot give each of 2 ranks" badval.log || fail "no clear error: $(tail -2 badval.log)"
echo "ok: an eval dataset too small for the ranks is refused at start"
