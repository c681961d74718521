#!/usr/bin/env bash
# End to end (issue 8): a real bagel-coordinator and bagel-worker on loopback, both serving
# /metrics on ports the OS picks, train a tiny Stage 1 job with the real bagel-train on the CPU.
# Every scrape must pass `promtool check metrics` and match the families the code declares
# (check_exposition.py against `--metric-catalogue`: names, types, help texts, label names), and
# the training series must move: scraped once with the trainer paused before its first step and
# once after the job, where they must equal what the trainer wrote (metrics.jsonl).
#
#   metrics_e2e_test.sh BIN_DIR [PROMTOOL]      exit 77 (skipped) only without promtool
set -euo pipefail
BIN="$(cd "$1" && pwd)"
PROMTOOL="${2:-}"
[[ -x "$PROMTOOL" ]] || PROMTOOL="$(command -v promtool || true)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "$PROMTOOL" || ! -x "$PROMTOOL" ]]; then
  echo "skipped: promtool not found (scripts/setup.sh unpacks Debian's into build/tools/bin)"
  exit 77
fi
STEPS=10
T="$(mktemp -d)"
pids=()
TRAINER_PID=""
cleanup() {
  [[ -n "$TRAINER_PID" ]] && kill -CONT "$TRAINER_PID" 2>/dev/null || true
  for ((i = ${#pids[@]} - 1; i >= 0; --i)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
fail() {
  echo "FAILED: $*"
  for f in "$T"/coordinator.log "$T"/worker.log; do echo "== $f"; tail -n 30 "$f"; done
  exit 1
}
wait_file() { for _ in $(seq 600); do [[ -s "$1" ]] && return 0; sleep 0.05; done; fail "no $1"; }
scrape() {
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=10).read().decode())' "$1" > "$2" || fail "scrape of port $1"
}

JOIN=join-token-0123456789abcdef USER_TOKEN=alice-token-0123456789abcdef
mkdir -p "$T/ckpt" "$T/work"
cat > "$T/coordinator.yaml" <<YAML
listen: 127.0.0.1:0
port_file: $T/port
database: $T/coordinator.db
checkpoint_root: $T/ckpt
auth:
  users: [{name: alice, token: $USER_TOKEN}]
  worker_token: $JOIN
leases: {heartbeat_interval_ms: 200, ttl_ms: 5000}
metrics: {listen: "127.0.0.1:0", port_file: $T/coordinator.metrics-port}
YAML
echo "$JOIN" > "$T/join.token"
"$BIN/bagel-coordinator" --config "$T/coordinator.yaml" 2> "$T/coordinator.log" &
pids+=($!)
wait_file "$T/port"
wait_file "$T/coordinator.metrics-port"
export BAGEL_COORDINATOR="127.0.0.1:$(cat "$T/port")" BAGEL_TOKEN="$USER_TOKEN"
OMP_NUM_THREADS=1 "$BIN/bagel-worker" --token-file "$T/join.token" --name w0 --address 127.0.0.1 \
  --gpus 0 --trainer "$BIN/bagel-train" --work-dir "$T/work" \
  --metrics-listen 127.0.0.1:0 --metrics-port-file "$T/worker.metrics-port" 2> "$T/worker.log" &
pids+=($!)
wait_file "$T/worker.metrics-port"
CPORT="$(cat "$T/coordinator.metrics-port")" WPORT="$(cat "$T/worker.metrics-port")"
grep -q "metrics on port $CPORT" "$T/coordinator.log" || fail "the coordinator did not log its metrics port"

"$BIN/bagel-coordinator" --metric-catalogue > "$T/catalogue.tsv"
"$BIN/bagel-worker" --metric-catalogue >> "$T/catalogue.tsv"
# bagel_build_info is in both; keep one line per family.
sort -u -t $'\t' -k1,1 "$T/catalogue.tsv" -o "$T/catalogue.tsv"

cat > "$T/job.yaml" <<YAML
name: metrics-e2e
model: {stage: 1, init_from: {preset: tiny, seed: 7}}
data:
  groups: [{name: demo, type: demo}]
  expected_num_tokens: 256
  max_num_tokens: 512
  max_num_tokens_per_sample: 256
  prefer_buffer_before: 256
train: {steps: $STEPS, lr: 0.002, warmup_steps: 2, precision: fp32, log_every: 1}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 5, keep_last: 2, export_hf: false}
scheduling: {max_restarts: 0}
YAML
JOB="$("$BIN/bagelctl" submit "$T/job.yaml")" || fail "submit"
echo "job $JOB"

# Pause the trainer as soon as it exists (before its first step), scrape, let it go on.
for _ in $(seq 1200); do
  TRAINER_PID="$(pgrep -f -- "--job-id $JOB --attempt 0" | head -n 1 || true)"
  [[ -n "$TRAINER_PID" ]] && break
  sleep 0.05
done
[[ -n "$TRAINER_PID" ]] || fail "the trainer did not start"
kill -STOP "$TRAINER_PID"
scrape "$CPORT" "$T/c-paused.txt"
scrape "$WPORT" "$T/w-paused.txt"
kill -CONT "$TRAINER_PID"
TRAINER_PID=""

for _ in $(seq 6000); do
  state="$("$BIN/bagelctl" --json get "$JOB" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("state",""))')"
  [[ "$state" == SUCCEEDED || "$state" == FAILED || "$state" == CANCELLED ]] && break
  sleep 0.1
done
[[ "$state" == SUCCEEDED ]] || fail "job ended $state"
# The exit report reaches the coordinator just after the state; scrape once both agree.
for _ in $(seq 200); do
  scrape "$CPORT" "$T/c-final.txt"
  grep -q '^bagel_jobs_finished_total{state="SUCCEEDED"} 1' "$T/c-final.txt" && break
  sleep 0.05
done
scrape "$WPORT" "$T/w-final.txt"

for f in "$T"/c-paused.txt "$T"/w-paused.txt "$T"/c-final.txt "$T"/w-final.txt; do
  "$PROMTOOL" check metrics < "$f" || fail "promtool check metrics: $f"
done
python3 "$HERE/check_exposition.py" "$T/catalogue.tsv" "$T"/c-paused.txt "$T"/w-paused.txt \
  "$T"/c-final.txt "$T"/w-final.txt > "$T/samples.json" || fail "check_exposition.py"

python3 - "$T" "$JOB" "$STEPS" <<'PY' || fail "series checks"
import json, sys
t, job, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(f"{t}/samples.json"))
cp, wp, cf, wf = (s[f"{t}/{n}.txt"] for n in ("c-paused", "w-paused", "c-final", "w-final"))
lines = [json.loads(l) for l in open(f"{t}/ckpt/{job}/metrics.jsonl")]
step_lines = [l for l in lines if l.get("event") == "step"]
problems = []
def expect(ok, what):
    if not ok:
        problems.append(what)
r0 = f"job_id={job},rank=0"
# While the trainer is paused before its first step.
expect(cp.get("bagel_jobs{state=RUNNING}") == 1 or cp.get("bagel_jobs{state=SCHEDULED}") == 1,
       "coordinator: the job is running or scheduled while paused")
expect(cp.get(f"bagel_job_ranks{{job_id={job}}}") == 1, "coordinator: bagel_job_ranks")
expect(cp.get(f"bagel_train_target_steps{{job_id={job}}}") == steps, "coordinator: target steps")
expect(cp.get("bagel_workers{state=READY}") == 1, "coordinator: one READY worker")
expect(cp.get("bagel_cluster_cpu_slots{state=allocated}") == 1, "coordinator: slot allocated")
expect(wp.get(f"bagel_rank_running{{{r0}}}") == 1, "worker: rank 0 running while paused")
expect(wp.get("bagel_agent_registered{}") == 1, "worker: registered")
expect(wp.get("bagel_agent_ranks{state=running}") == 1, "worker: one running rank")
expect(wp.get("bagel_agent_rank_starts_total{}") == 1, "worker: one rank started")
paused_step = wp.get(f"bagel_rank_step{{{r0}}}", 0)
expect(paused_step < steps, f"worker: paused before the end (step {paused_step})")
expect(f"bagel_rank_loss{{head=ce,{r0}}}" not in wp, "worker: no loss before the first step")
# After the job: the series moved to what the trainer wrote.
last = step_lines[-1]
expect(len(step_lines) == steps, f"{len(step_lines)} step lines")
expect(wf.get(f"bagel_rank_step{{{r0}}}") == steps, "worker: final step")
expect(wf.get(f"bagel_rank_running{{{r0}}}") == 0, "worker: rank ended")
expect(abs(wf.get(f"bagel_rank_loss{{head=ce,{r0}}}", -1) - last["ce"]) < 1e-9, "worker: ce")
expect(f"bagel_rank_loss{{head=mse,{r0}}}" not in wf, "worker: no mse head in Stage 1")
expect(abs(wf.get(f"bagel_rank_learning_rate{{{r0}}}", -1) - last["lr"]) < 1e-12, "worker: lr")
expect(abs(wf.get(f"bagel_rank_grad_norm{{{r0}}}", -1) - last["grad_norm"]) < 1e-9, "worker: grad norm")
expect(wf.get(f"bagel_rank_tokens_total{{{r0}}}") == sum(l["tokens"] for l in step_lines),
       "worker: tokens_total is the sum of every step's tokens")
expect(wf.get(f"bagel_rank_tokens_per_second{{{r0}}}", 0) > 0, "worker: tokens/s")
expect(wf.get(f"bagel_rank_peak_memory_bytes{{{r0}}}", 0) > 0, "worker: memory")
expect(wf.get(f"bagel_rank_checkpoint_last_step{{{r0}}}") == steps, "worker: last checkpoint")
expect(wf.get(f"bagel_rank_checkpoint_last_save_duration_seconds{{{r0}}}", 0) > 0, "worker: ckpt s")
expect(wf.get("bagel_agent_checkpoints_total{}") == 2, "worker: two checkpoints")
expect(wf.get("bagel_agent_rank_exits_total{reason=completed}") == 1, "worker: exit completed")
expect(wf.get("bagel_agent_heartbeats_total{result=ok}", 0) > 0, "worker: heartbeats")
expect(cf.get("bagel_jobs_submitted_total{}") == 1, "coordinator: submitted")
expect(cf.get("bagel_jobs{state=SUCCEEDED}") == 1, "coordinator: SUCCEEDED")
expect(cf.get("bagel_rank_exits_total{reason=completed}") == 1, "coordinator: exit completed")
expect(cf.get("bagel_job_queue_wait_seconds_count{}") == 1, "coordinator: queue wait observed")
expect(cf.get("bagel_scheduling_latency_seconds_count{}") == 1, "coordinator: gang start observed")
expect(cf.get("bagel_checkpoint_save_duration_seconds_count{}") == 2, "coordinator: 2 saves")
expect(cf.get("bagel_checkpoint_written_bytes_total{}", 0) > 0, "coordinator: checkpoint bytes")
expect(not any("job_id=" in k for k in cf), "coordinator: per-job series end with the job")
for name in ("bagel_build_info{component=coordinator", "bagel_build_info{component=worker"):
    expect(any(k.startswith(name) for k in list(cf) + list(wf)), name)
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"series moved: step {paused_step:g} (paused) -> {steps}; ce {last['ce']:.4f}")
PY
echo "metrics end-to-end checks passed"
