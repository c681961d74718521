#!/usr/bin/env bash
# Runs one reference case through the bagel-forward and bagel-compare executables, passing every
# grad key of its case.json. Usage: run_forward_case.sh BIN_DIR CASE_DIR OUT_DIR
# Exit 77 (skipped) when the case directory is absent.
set -euo pipefail
bin="$1" case_dir="$2" out_dir="$3"
[[ -d "$case_dir" ]] || { echo "skip: $case_dir not present"; exit 77; }
mkdir -p "$out_dir"
grads=()
while read -r key; do grads+=(--grad "$key"); done < <(
  sed -n '/"grad_keys"/,/]/p' "$case_dir/case.json" | grep -o '"[^"]*\.[^"]*"' | tr -d '"')
"$bin/bagel-forward" --checkpoint "$case_dir/checkpoint" --batch "$case_dir/batch.safetensors" \
  --out "$out_dir/out.safetensors" "${grads[@]}"
"$bin/bagel-compare" "$case_dir" "$out_dir/out.safetensors"
