#!/usr/bin/env bash
# Runs one VAE or inference reference case through bagel-forward and bagel-compare, as the golden
# README runs them: inference cases (case.json "kind": "infer") get --infer <case>/case.json, VAE
# cases none. Usage: run_infer_case.sh BIN_DIR CASE_DIR OUT_DIR
# Exit 77 (skipped) when the case directory is absent.
set -euo pipefail
bin="$1" case_dir="$2" out_dir="$3"
[[ -d "$case_dir" ]] || { echo "skip: $case_dir not present"; exit 77; }
mkdir -p "$out_dir"
infer=()
if grep -q '"kind": *"infer"' "$case_dir/case.json"; then infer=(--infer "$case_dir/case.json"); fi
"$bin/bagel-forward" --checkpoint "$case_dir/checkpoint" --batch "$case_dir/batch.safetensors" \
  --out "$out_dir/out.safetensors" "${infer[@]}"
"$bin/bagel-compare" "$case_dir" "$out_dir/out.safetensors"
