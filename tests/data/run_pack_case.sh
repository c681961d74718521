#!/usr/bin/env bash
# Runs one packing reference case through bagel-pack and checks it with bagel-compare against
# <case>/pack/expected.safetensors and the tolerance of <case>/pack/case.json.
# Usage: run_pack_case.sh BIN_DIR CASE_DIR OUT_DIR. Exit 77 (skipped) when the case is absent.
set -euo pipefail
bin="$1" case_dir="$2" out_dir="$3"
[[ -f "$case_dir/pack/samples.json" ]] || { echo "skip: $case_dir/pack not present"; exit 77; }
mkdir -p "$out_dir"
"$bin/bagel-pack" --samples "$case_dir/pack/samples.json" --out "$out_dir/pack.safetensors"
"$bin/bagel-compare" "$case_dir/pack" "$out_dir/pack.safetensors"
