#!/usr/bin/env bash
# bagel-plan against what bagel-train measures: for the tiny and small presets, Stages 1 and 2,
# on 1 and 2 CPU ranks, the plan's device_bytes of rank 0 must be within 20% of the peak
# mem_bytes rank 0 reports (docs/MEMORY.md).
# Usage: memory_plan_test.sh BIN_DIR WORK_DIR
set -uo pipefail
bin="$1" work="$2"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$bin/bagel-init-checkpoint" --preset tiny --stage 1 --seed 3 --vae tiny --out vae > /dev/null \
  || fail "bagel-init-checkpoint failed"
status=0
for preset in tiny small; do
  if [[ $preset == tiny ]]; then tokens="expected_num_tokens: 200, max_num_tokens: 400, max_num_tokens_per_sample: 200"
  else tokens="expected_num_tokens: 768, max_num_tokens: 1024, max_num_tokens_per_sample: 512"; fi
  for stage in 1 2; do
    vae=""; [[ $stage == 2 ]] && vae=", vae: $PWD/vae/ae.safetensors"
    for world in 1 2; do
      name="$preset-s$stage-w$world"
      cat > "$name.yaml" <<YAML
model: {stage: $stage, init_from: {preset: $preset, seed: 7}$vae}
data: {groups: [{name: demo, type: demo}], $tokens}
train: {steps: 3, lr: 1.0e-4, warmup_steps: 1, ema_decay: 0.9, precision: fp32, log_every: 1}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 1000, keep_last: 1, export_hf: false}
YAML
      planned=$("$bin/bagel-plan" --spec "$name.yaml" --world-size "$world" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["ranks"][0]["device_bytes"])') \
        || fail "$name: bagel-plan failed"
      timeout 600 "$bin/bagel-train" --spec "$name.yaml" --nproc "$world" --checkpoint-root "ck-$name" \
        --job-id j > "$name.jsonl" 2> "$name.log" || fail "$name: bagel-train failed: $(tail -3 "$name.log")"
      measured=$(grep '"event":"step"' "$name.jsonl" | grep -o '"mem_bytes":[0-9.e+]*' | cut -d: -f2 \
        | sort -g | tail -1)
      [[ -n "$measured" ]] || fail "$name: no mem_bytes in the step lines"
      if python3 -c "import sys; p, m = $planned, $measured; r = p / m
print(f'$name: planned {p / 2**20:.0f} MiB, measured {m / 2**20:.0f} MiB, ratio {r:.3f}')
sys.exit(0 if 0.8 <= r <= 1.2 else 1)"; then :; else status=1; fi
    done
  done
done
[[ $status == 0 ]] || fail "a plan is more than 20% off the measured peak"
echo "ok: every plan is within 20% of bagel-train's peak"
