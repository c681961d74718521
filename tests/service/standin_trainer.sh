#!/usr/bin/env bash
# TEST-ONLY STAND-IN for bagel-train. It is NOT the trainer: it speaks docs/TRAINER_CONTRACT.md
# (arguments, rank environment, JSON progress lines on stdout, exit codes, SIGTERM -> checkpoint
# -> exit 3, step-<N> directories with MANIFEST.json written last, LATEST, PINNED-aware retention,
# an HF export directory) so the control plane's tests can run without LibTorch. Its "losses" are a
# fixed function of the step, so a resumed run reports the same final losses as an uninterrupted
# one. Ranks move in lockstep through files in <root>/<job>/.standin/attempt-N/ (a stand-in for a
# collective): a rank whose peer died exits 4 after BAGEL_STANDIN_COLLECTIVE_TIMEOUT_S seconds.
#
# Knobs (environment): BAGEL_STANDIN_STEP_S (seconds per step, default 0.1),
# BAGEL_STANDIN_COLLECTIVE_TIMEOUT_S (default 5).
set -uo pipefail

spec="" job="local" attempt=0 root="./checkpoints" resume="auto"
while (($#)); do
  case "$1" in
    --spec) spec="$2"; shift 2 ;;
    --job-id) job="$2"; shift 2 ;;
    --attempt) attempt="$2"; shift 2 ;;
    --checkpoint-root) root="$2"; shift 2 ;;
    --resume) resume="$2"; shift 2 ;;
    *) echo "standin: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$spec" && -r "$spec" ]] || { echo "standin: --spec: expected a readable job spec" >&2; exit 2; }

rank="${RANK:-0}" world="${WORLD_SIZE:-1}"
step_s="${BAGEL_STANDIN_STEP_S:-0.1}"
timeout_s="${BAGEL_STANDIN_COLLECTIVE_TIMEOUT_S:-5}"

# Reads "<section>.<key>" from the canonical YAML (block style at the top level).
spec_get() {
  awk -v sec="$1" -v key="$2" '
    /^[A-Za-z_]+:/ { cur = $1; sub(":", "", cur) }
    /^  [A-Za-z_]+:/ && cur == sec { k = $1; sub(":", "", k); if (k == key) { v = $0; sub(/^[^:]*: */, "", v); print v; exit } }
  ' "$spec"
}
steps="$(spec_get train steps)"; steps="${steps:-10}"
every="$(spec_get checkpoint every_steps)"; every="${every:-500}"
keep="$(spec_get checkpoint keep_last)"; keep="${keep:-3}"
export_hf="$(spec_get checkpoint export_hf)"; export_hf="${export_hf:-true}"
[[ "$steps" =~ ^[0-9]+$ ]] || { echo "standin: train.steps: got $steps" >&2; exit 2; }

dir="$root/$job"
sync="$dir/.standin/attempt-$attempt"
mkdir -p "$dir" "$sync"

# Where to start.
start=0
ckpt=""
case "$resume" in
  none) ;;
  auto) [[ -f "$dir/LATEST" ]] && ckpt="$dir/$(cat "$dir/LATEST")" ;;
  *) ckpt="$resume" ;;
esac
if [[ -n "$ckpt" ]]; then
  if [[ -f "$ckpt/MANIFEST.json" && -f "$ckpt/train_state.json" ]]; then
    start="$(sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$ckpt/train_state.json")"
    echo "standin: rank $rank resuming from $ckpt (step $start)" >&2
  elif [[ "$resume" != auto ]]; then
    echo "standin: --resume $resume: not a complete checkpoint" >&2; exit 1
  fi
fi

stop=0
trap 'stop=1' TERM INT

loss() { awk -v s="$1" 'BEGIN { printf "%.6f", 4.0 / (1.0 + 0.05 * s) + 0.1 * sin(s) }'; }

# Lockstep barrier: every rank has reached step $1 (or the "collective" times out: exit 4).
barrier() {
  echo "$1" > "$sync/rank-$rank"
  local waited=0
  while :; do
    local ok=1
    for ((r = 0; r < world; ++r)); do
      local v; v="$(cat "$sync/rank-$r" 2>/dev/null || echo -1)"
      ((v >= $1)) || { ok=0; break; }
    done
    ((ok)) && return 0
    sleep 0.02
    waited=$((waited + 1))
    if ((waited * 2 > timeout_s * 100)); then
      echo "{\"event\":\"error\",\"rank\":$rank,\"message\":\"collective timed out after $timeout_s s (barrier at step $1)\"}"
      echo "standin: rank $rank: collective timed out" >&2
      exit 4
    fi
  done
}

# Every rank writes its shard; rank 0 waits for all, then publishes (manifest last, rename,
# LATEST), prunes, and reports.
checkpoint() {
  local s="$1" name; name="$(printf 'step-%08d' "$s")"
  local staging="$dir/$name.staging"
  [[ -d "$dir/$name" ]] && return 0  # a published step is never overwritten
  mkdir -p "$staging"
  echo "shard of rank $rank at step $s" > "$staging/rank-$rank-of-$world.safetensors"
  ((rank == 0)) || return 0
  local waited=0
  while :; do
    local n; n="$(ls "$staging" | grep -c '^rank-.*\.safetensors$')"
    ((n >= world)) && break
    sleep 0.02; waited=$((waited + 1))
    if ((waited * 2 > timeout_s * 100)); then echo "standin: shards missing at step $s" >&2; exit 4; fi
  done
  echo "{\"step\": $s, \"world_size\": $world}" > "$staging/train_state.json"
  local files="" bytes=0
  for f in "$staging"/*; do
    local sz; sz="$(stat -c %s "$f")"; bytes=$((bytes + sz))
    files="$files${files:+,}{\"path\":\"$(basename "$f")\",\"size\":$sz,\"sha256\":\"$(sha256sum "$f" | cut -d' ' -f1)\"}"
  done
  echo "{\"files\":[$files]}" > "$staging/MANIFEST.json"
  mv "$staging" "$dir/$name"
  echo "$name" > "$dir/LATEST.tmp" && mv "$dir/LATEST.tmp" "$dir/LATEST"
  echo "{\"event\":\"checkpoint\",\"step\":$s,\"path\":\"$dir/$name\",\"bytes\":$bytes,\"seconds\":0.01}"
  # Retention: keep the last K, never LATEST, never a pinned one.
  local all; all="$(ls -d "$dir"/step-[0-9]* 2>/dev/null | grep -v staging | sort)"
  local count; count="$(echo "$all" | grep -c . || true)"
  local excess=$((count - keep))
  for d in $all; do
    ((excess > 0)) || break
    local b; b="$(basename "$d")"
    [[ "$b" == "$name" ]] && continue
    grep -qx "$b" "$dir/PINNED" 2>/dev/null && continue
    rm -rf "$d"; excess=$((excess - 1))
  done
}

echo "{\"event\":\"started\",\"rank\":$rank,\"world_size\":$world,\"step\":$start,\"total_steps\":$steps,\"attempt\":$attempt}"
echo "standin: rank $rank of $world, job $job attempt $attempt, steps $start..$steps" >&2
s="$start"
while ((s < steps)); do
  sleep "$step_s"
  s=$((s + 1))
  # Whether this rank was asked to stop, written once per step before the step's barrier, so
  # that every rank reads the same flags after it and all stop at the same step (the real
  # trainer all-reduces the flag; signals reach the ranks at different moments).
  echo "$stop" > "$sync/stop-$s-$rank"
  barrier "$s"
  if ((rank == 0)); then
    ce="$(loss "$s")"
    echo "{\"event\":\"step\",\"step\":$s,\"total_steps\":$steps,\"ce\":$ce,\"mse\":0.0,\"lr\":0.0001,\"grad_norm\":1.0,\"tokens\":1024,\"tokens_per_s\":10240.0,\"step_time_s\":$step_s,\"mfu\":0.0,\"mem_bytes\":0}"
  fi
  if grep -qx 1 "$sync"/stop-"$s"-* 2>/dev/null; then
    checkpoint "$s"
    echo "standin: rank $rank stopped by SIGTERM at step $s" >&2
    exit 3
  fi
  ((s % every == 0)) && checkpoint "$s"
done
checkpoint "$steps"
if ((rank == 0)); then
  final="$dir/$(printf 'step-%08d' "$steps")"
  hf=""
  if [[ "$export_hf" == true ]]; then
    hf="$dir/hf"; mkdir -p "$hf"
    echo '{"standin": true}' > "$hf/config.json"
    echo '{}' > "$hf/llm_config.json"; echo '{}' > "$hf/vit_config.json"
    echo "ema weights at step $steps" > "$hf/ema.safetensors"
  fi
  echo "{\"event\":\"done\",\"step\":$steps,\"final_checkpoint\":\"$final\",\"hf_export\":\"$hf\"}"
fi
exit 0
