#!/usr/bin/env bash
# The service demo: starts a coordinator and a worker on this machine, submits a Stage 1 job and
# a Stage 2 job initialised from Stage 1's final checkpoint (model.init_from: {job: ID}) on small
# generated datasets in the official formats with the real Qwen2 vocabulary (demo-data.sh), watches both live to completion with bagelctl, and prints where the checkpoints,
# metrics and logs are. Outputs go to out/demo-service (or $BAGEL_DEMO_DIR).
#
# Knobs: BAGEL_DEMO_STEPS (Stage 1 steps, default 30), BAGEL_DEMO_STAGE2_STEPS (default 10),
# BAGEL_DEMO_GPUS (GPUs per worker for the jobs, default 0 = one CPU rank), BAGEL_DEMO_TRAINER
# (the trainer the worker starts; default build/release/bin/bagel-train), BAGEL_BUILD_DIR,
# BAGEL_DEMO_SKIP_BUILD=1 (use what is built).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${BAGEL_BUILD_DIR:-$ROOT/build/release}/bin"
OUT="${BAGEL_DEMO_DIR:-$ROOT/out/demo-service}"
STEPS1="${BAGEL_DEMO_STEPS:-120}"
STEPS2="${BAGEL_DEMO_STAGE2_STEPS:-80}"
GPUS="${BAGEL_DEMO_GPUS:-0}"

[[ "${BAGEL_DEMO_SKIP_BUILD:-0}" == 1 ]] || "$ROOT/scripts/build.sh"
BIN="$(cd "$BIN" && pwd)"
TRAINER="$(realpath "${BAGEL_DEMO_TRAINER:-$BIN/bagel-train}")"
rm -rf "$OUT"
mkdir -p "$OUT/service" "$OUT/data" "$OUT/checkpoints"
OUT="$(cd "$OUT" && pwd)"

# Credentials: a user token for bagelctl, a join token for the worker (files, mode 600).
umask 077
token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
token > "$OUT/service/user.token"
token > "$OUT/service/admin.token"
token > "$OUT/service/join.token"
umask 022
cat > "$OUT/service/coordinator.yaml" <<YAML
# bagel-coordinator's service config (docs/CONTROL_PLANE.md)
listen: 127.0.0.1:0
port_file: $OUT/service/port
database: $OUT/service/coordinator.db
checkpoint_root: $OUT/checkpoints
data_roots: [$OUT/data]
auth:
  users:
    - {name: demo, token_file: user.token}
    - {name: admin, token_file: admin.token, role: admin}
  worker_token_file: join.token
leases: {heartbeat_interval_ms: 1000, ttl_ms: 10000}
metrics: {listen: 127.0.0.1:0, port_file: $OUT/service/metrics.port}
YAML

pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; --i)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== starting bagel-coordinator (log: $OUT/service/coordinator.log)"
"$BIN/bagel-coordinator" --config "$OUT/service/coordinator.yaml" 2> "$OUT/service/coordinator.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s "$OUT/service/port" ]] && break; sleep 0.1; done
[[ -s "$OUT/service/port" ]] || { cat "$OUT/service/coordinator.log"; exit 1; }
export BAGEL_COORDINATOR="127.0.0.1:$(cat "$OUT/service/port")"
CTL=("$BIN/bagelctl" --token-file "$OUT/service/user.token")

echo "== starting bagel-worker (log: $OUT/service/worker.log), trainer $TRAINER"
"$BIN/bagel-worker" --token-file "$OUT/service/join.token" --name "$(hostname)-0" --address 127.0.0.1 \
  --gpus "$GPUS" --trainer "$TRAINER" --work-dir "$OUT/service/work" \
  --metrics-listen 127.0.0.1:0 --metrics-port-file "$OUT/service/worker-metrics.port" \
  2> "$OUT/service/worker.log" &
pids+=($!)
for _ in $(seq 100); do
  "$BIN/bagelctl" --token-file "$OUT/service/admin.token" workers 2>/dev/null | grep -q READY && break
  sleep 0.1
done
"$BIN/bagelctl" --token-file "$OUT/service/admin.token" workers

# What the jobs train on (scripts/demo-data.sh): a tiny BAGEL with the real Qwen2 vocabulary, a
# small random FLUX VAE (Stage 2 trains through it) and small datasets in the official formats.
"$ROOT/scripts/demo-data.sh" "$OUT/data/demo" "$BIN"
VAE="$OUT/data/demo/init/ae.safetensors"
spec() {  # stage, model line, steps, eval extras
  echo "name: demo-stage$1"
  echo "$2"
  "$ROOT/scripts/demo-data.sh" "$OUT/data/demo" "$BIN" "stage$1" | grep -v '^val_dataset:'
  local val
  val="$("$ROOT/scripts/demo-data.sh" "$OUT/data/demo" "$BIN" "stage$1" | sed -n 's/^val_dataset: //p')"
  cat <<YAML
train: {steps: $3, lr: 0.002, warmup_steps: 10, ema_decay: 0.99, precision: fp32, log_every: 1}
parallel: {workers: 1, gpus_per_worker: $GPUS}
checkpoint: {every_steps: 40, keep_last: 2, export_hf: true}
eval: {every_steps: 40, max_batches: 2, dataset: $val$4}
scheduling: {max_restarts: 2}
YAML
}
spec 1 "model: {stage: 1, init_from: {path: $OUT/data/demo/init}}" "$STEPS1" "" > "$OUT/stage1.yaml"
echo "== submitting Stage 1 ($STEPS1 steps)"
S1="$("${CTL[@]}" submit "$OUT/stage1.yaml" --request-id "demo-stage1-$$")"
echo "   $S1"
spec 2 "model: {stage: 2, init_from: {job: $S1}, vae: $VAE}" "$STEPS2" \
  ", prompts: [a red circle on a photograph, a blue square], image_size: 64, num_timesteps: 12" \
  > "$OUT/stage2.yaml"
echo "== submitting Stage 2 ($STEPS2 steps), initialised from $S1's final checkpoint"
S2="$("${CTL[@]}" submit "$OUT/stage2.yaml" --request-id "demo-stage2-$$")"
echo "   $S2 (waits for $S1)"
"${CTL[@]}" list

echo "== Stage 1"
"${CTL[@]}" watch "$S1"
echo "== Stage 2"
"${CTL[@]}" watch "$S2"

echo "== checkpoints"
"${CTL[@]}" checkpoints "$S1"
"${CTL[@]}" checkpoints "$S2"
"${CTL[@]}" export "$S2" --out "$OUT/stage2-hf"
cat <<TEXT
== done
  Stage 1 ($S1): checkpoints $OUT/checkpoints/$S1, HF export $OUT/checkpoints/$S1/hf
  Stage 2 ($S2): checkpoints $OUT/checkpoints/$S2, HF export $OUT/checkpoints/$S2/hf (copied to $OUT/stage2-hf)
  Stage 2 sample images from fixed prompts: $OUT/checkpoints/$S2/eval/step-*/
  TensorBoard (loss curves, sample images, the specs): tensorboard --logdir $OUT/checkpoints
  metrics (every step, JSON lines): $OUT/checkpoints/$S1/metrics.jsonl, $OUT/checkpoints/$S2/metrics.jsonl
  Prometheus metrics: http://127.0.0.1:$(cat "$OUT/service/metrics.port" 2>/dev/null)/metrics (coordinator),
                      http://127.0.0.1:$(cat "$OUT/service/worker-metrics.port" 2>/dev/null)/metrics (worker; both stop with this script)
  rank logs: bagelctl logs JOB [--attempt N] [--rank R]  (files: $OUT/checkpoints/JOB/logs/)
  service: $OUT/service (config, database, coordinator and worker logs)
TEXT
