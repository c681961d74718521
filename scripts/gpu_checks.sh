#!/usr/bin/env bash
# Runs on the GPU machine, from build/gpu-bundle (see scripts/gpu_bundle.sh): parity of the
# reference cases on CUDA in fp32 (the cases' tolerance) and bf16 (a documented looser one), and
# the small-config benchmark. Results go to $OUT (or ./gpu-results).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="${OUT:-$HERE/gpu-results}"
mkdir -p "$RESULTS"
TORCH_LIB="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
NVIDIA_LIBS="$(python3 -c 'import os, nvidia; p = os.path.dirname(nvidia.__path__[0]); print(":".join(os.path.join(r, d) for r, ds, _ in os.walk(p) for d in ds if d == "lib"))' 2>/dev/null)"
export LD_LIBRARY_PATH="$TORCH_LIB:$NVIDIA_LIBS:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$RESULTS/device.txt"
for c in "$HERE"/cases/*; do
  name="$(basename "$c")"
  grads=()
  while read -r key; do grads+=(--grad "$key"); done < <(
    sed -n '/"grad_keys"/,/]/p' "$c/case.json" | grep -o '"[^"]*\.[^"]*"' | tr -d '"')
  for dtype in fp32 bf16; do
    "$HERE/bin/bagel-forward" --checkpoint "$c/checkpoint" --batch "$c/batch.safetensors" \
      --device cuda --dtype "$dtype" --out "$RESULTS/$name.$dtype.safetensors" "${grads[@]}"
  done
  "$HERE/bin/bagel-compare" "$c" "$RESULTS/$name.fp32.safetensors" | tee "$RESULTS/$name.fp32.txt"
  # bf16 computes in 8-bit mantissas: the documented looser tolerance of docs/PARITY.md.
  "$HERE/bin/bagel-compare" --norm-rtol 0.05 "$c" "$RESULTS/$name.bf16.safetensors" \
    | tee "$RESULTS/$name.bf16.txt"
done
for stage in 1 2; do
  for dtype in fp32 bf16; do
    "$HERE/bin/bagel-bench" --config small --stage "$stage" --device cuda --dtype "$dtype" --iters 10 \
      | tee "$RESULTS/bench.small.stage$stage.$dtype.txt"
  done
done
