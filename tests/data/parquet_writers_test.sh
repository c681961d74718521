#!/usr/bin/env bash
# Datasets as users write them: tests/data/write_parquet_variants.py writes the same T2I and
# edit records with pyarrow (every codec, encoding, page version and byte type), polars, DuckDB,
# fastparquet and Hugging Face datasets (in the test virtualenv of scripts/setup.sh); then
#   1. every value of every file reads back as written (ParquetWriters.* of data_pipeline_tests);
#   2. bagel-train trains a tiny Stage 2 model from all of them with no record skipped, T2I and
#      edit each through at least one full pass.
# Usage: parquet_writers_test.sh BIN_DIR DATA_TESTS WORK_DIR TOKENIZER_DIR PYTHON
set -uo pipefail
bin="$1" data_tests="$2" work="$3" tokenizer="$4" python="$5"
fail() { echo "FAIL: $*"; exit 1; }
"$python" -c "import pyarrow, polars, duckdb, fastparquet, datasets, PIL" 2>/dev/null ||
  { echo "skip: the Parquet writers are not installed in $python (scripts/setup.sh)"; exit 77; }
[[ -f "$tokenizer/vocab.json" ]] || { echo "skip: no tokenizer at $tokenizer"; exit 77; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rm -rf "$work" && mkdir -p "$work" && cd "$work"

HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_CACHE="$work/hf-cache" \
  "$python" "$here/write_parquet_variants.py" files > write.log 2>&1 ||
  fail "writing the files failed: $(tail -5 write.log)"
grep -v "Creating parquet" write.log
BAGEL_PARQUET_WRITERS_DIR="$work/files" "$data_tests" --gtest_filter='ParquetWriters.*' > read.log 2>&1 ||
  fail "reading them back failed: $(grep -A5 'Failure\|FAILED' read.log | head -30)"
grep -q "\[  PASSED  \] 1 test" read.log || fail "ParquetWriters did not run: $(tail -3 read.log)"
echo "ok: every value of every file reads back as written"

"$bin/bagel-init-checkpoint" --out ckpt --preset tiny --stage 2 --vocab-size 151665 --vae tiny \
  --seed 5 > /dev/null || fail "bagel-init-checkpoint failed"
rows() {  # the rows of the group's files, from the manifest
  "$python" -c "import json,sys; m=json.load(open('files/manifest.json')); print(sum(len(r) for r in m[sys.argv[1]].values()))" "$1"
}
train() {  # train GROUP STEPS: one rank, the group alone, every step logged
  local group="$1" steps="$2" extra=""
  [[ "$group" == edit ]] && extra="parquet_info: $work/files/edit/parquet_info.json, vit_transform: {max_size: 56, min_size: 28, stride: 14, max_pixels: 1000000},"
  cat > "$group.yaml" <<YAML
model: {stage: 2, init_from: {path: $work/ckpt}, vae: $work/ckpt/ae.safetensors}
data:
  groups:
    - {name: $group, type: $group, paths: [$work/files/$group], $extra
       vae_transform: {max_size: 64, min_size: 32, stride: 16, max_pixels: 1000000}}
  tokenizer: $tokenizer
  expected_num_tokens: 1024
  max_num_tokens: 1280
  max_num_tokens_per_sample: 1024
  loader_threads: 1
train: {steps: $steps, lr: 1.0e-3, warmup_steps: 1, precision: fp32, log_every: 1}
checkpoint: {every_steps: 1000, export_hf: false}
YAML
  OMP_NUM_THREADS=1 timeout 300 "$bin/bagel-train" --spec "$group.yaml" --checkpoint-root "$group.ckpt" \
    --job-id j > "$group.jsonl" 2> "$group.log" || fail "$group training failed: $(tail -5 "$group.log")"
  local last
  last=$(grep '"event":"step"' "$group.jsonl" | tail -1)
  grep -q "\"step\":$steps," <<< "$last" || fail "$group: did not reach step $steps"
  if grep '"event":"step"' "$group.jsonl" | grep -v '"data_skipped":0,' | grep -q .; then
    fail "$group: records were skipped: $(grep -o '"data_skipped_by_reason":{[^}]*}' <<< "$last"); $(grep -i skip "$group.log" | head -5)"
  fi
  local samples want
  samples=$(grep -o '"data_samples":[0-9]*' <<< "$last" | cut -d: -f2)
  want=$(rows "$group")
  [[ -n "$samples" && "$samples" -ge "$want" ]] ||
    fail "$group: $samples samples packed, fewer than the $want rows of one pass"
  echo "ok: $group trained $steps steps over $want rows of $(ls files/$group/*.parquet | wc -l) files ($samples samples, none skipped)"
}
train t2i 8
train edit 6
