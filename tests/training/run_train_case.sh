#!/usr/bin/env bash
# Replays one training-step reference case with bagel-train-replay (W local ranks on Gloo) and
# checks it with bagel-compare. Usage: run_train_case.sh BIN_DIR CASE_DIR OUT_DIR SHARD_GROUP_SIZE
# Exit 77 (skipped) when the case directory is absent.
set -euo pipefail
bin="$1" case_dir="$2" out_dir="$3" group="$4"
[[ -d "$case_dir" ]] || { echo "skip: $case_dir not present"; exit 77; }
mkdir -p "$out_dir"
"$bin/bagel-train-replay" --checkpoint "$case_dir/checkpoint" --batches "$case_dir/batches" \
  --train "$case_dir/train.json" --out "$out_dir/out.safetensors" --shard-group-size "$group"
"$bin/bagel-compare" "$case_dir" "$out_dir/out.safetensors"
