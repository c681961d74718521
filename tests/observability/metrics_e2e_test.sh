#!/usr/bin/env bash
# End to end (issue 8): a real bagel-coordinator and bagel-worker on loopback, both serving
# /metrics on ports the OS picks, train a tiny Stage 1 job and then a Stage 2 job initialised from
# it (with an eval) with the real bagel-train on the CPU.
# Every scrape must pass `promtool check metrics` and match the families the code declares
# (check_exposition.py against `--metric-catalogue`: names, types, help texts, label names), and
# the training series must move: scraped once with the trainer paused before its first step and
# once after each job, where they must equal what the trainer wrote (metrics.jsonl), the mse head
# and the validation losses included for Stage 2.
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
STEPS=10 STEPS2=6
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
mkdir -p "$T/ckpt" "$T/work" "$T/data"
cat > "$T/coordinator.yaml" <<YAML
listen: 127.0.0.1:0
port_file: $T/port
database: $T/coordinator.db
checkpoint_root: $T/ckpt
data_roots: [$T/data]
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
checkpoint: {every_steps: 5, keep_last: 2, export_hf: true}
scheduling: {max_restarts: 0}
YAML
# Stage 2 trains the generation expert through a FLUX VAE: a small random one.
"$BIN/bagel-init-checkpoint" --preset tiny --stage 1 --out "$T/data/init" --vae tiny \
  --vae-out "$T/data/ae.safetensors" > /dev/null || fail "bagel-init-checkpoint"
JOB="$("$BIN/bagelctl" submit "$T/job.yaml")" || fail "submit"
echo "job $JOB"
sed -e "s/^name: .*/name: metrics-e2e-stage2/" \
    -e "s|^model: .*|model: {stage: 2, init_from: {job: $JOB}, vae: $T/data/ae.safetensors}|" \
    -e "s/steps: $STEPS,/steps: $STEPS2,/" "$T/job.yaml" > "$T/job2.yaml"
echo "eval: {every_steps: 3, max_batches: 1, dataset: {name: val, type: demo}}" >> "$T/job2.yaml"
JOB2="$("$BIN/bagelctl" submit "$T/job2.yaml")" || fail "submit stage 2"
echo "stage 2 job $JOB2 (waits for $JOB)"

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

wait_succeeded() {
  local state=""
  for _ in $(seq 6000); do
    state="$("$BIN/bagelctl" --json get "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("state",""))')"
    [[ "$state" == SUCCEEDED || "$state" == FAILED || "$state" == CANCELLED ]] && break
    sleep 0.1
  done
  [[ "$state" == SUCCEEDED ]] || fail "job $1 ended $state"
}
# Scrapes both endpoints once the coordinator has counted at least N succeeded jobs (the exit
# report reaches it just after the state) into $T/{c,w}-NAME.txt.
scrape_after() {
  for _ in $(seq 200); do
    scrape "$CPORT" "$T/c-$2.txt"
    awk -v n="$1" '$1 == "bagel_jobs_finished_total{state=\"SUCCEEDED\"}" && $2 >= n {ok = 1}
                   END {exit !ok}' "$T/c-$2.txt" && break
    sleep 0.05
  done
  scrape "$WPORT" "$T/w-$2.txt"
}
wait_succeeded "$JOB"
scrape_after 1 final
wait_succeeded "$JOB2"
scrape_after 2 final2

SCRAPES=()
for n in paused final final2; do SCRAPES+=("$T/c-$n.txt" "$T/w-$n.txt"); done
for f in "${SCRAPES[@]}"; do
  "$PROMTOOL" check metrics < "$f" || fail "promtool check metrics: $f"
done
python3 "$HERE/check_exposition.py" "$T/catalogue.tsv" "${SCRAPES[@]}" > "$T/samples.json" ||
  fail "check_exposition.py"

python3 - "$T" "$JOB" "$STEPS" "$JOB2" "$STEPS2" <<'PY' || fail "series checks"
import json, sys
t, job, steps, job2, steps2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
s = json.load(open(f"{t}/samples.json"))
cp, wp, cf, wf, cf2, wf2 = (s[f"{t}/{n}.txt"] for n in
                            ("c-paused", "w-paused", "c-final", "w-final", "c-final2", "w-final2"))
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
# Agent-wide counters: Stage 2 may already be running (its own checks follow).
expect(wf.get("bagel_agent_checkpoints_total{}", 0) >= 2, "worker: two checkpoints")
expect(wf.get("bagel_agent_rank_exits_total{reason=completed}", 0) >= 1, "worker: exit completed")
expect(wf.get("bagel_agent_heartbeats_total{result=ok}", 0) > 0, "worker: heartbeats")
expect(cf.get("bagel_jobs_submitted_total{}") == 2, "coordinator: both submitted")
expect(cf.get("bagel_jobs{state=SUCCEEDED}", 0) >= 1, "coordinator: SUCCEEDED")
expect(cf.get("bagel_rank_exits_total{reason=completed}", 0) >= 1, "coordinator: exit completed")
# (Stage 2 may already be placed by now.)
expect(cf.get("bagel_job_queue_wait_seconds_count{}", 0) >= 1, "coordinator: queue wait observed")
expect(cf.get("bagel_scheduling_latency_seconds_count{}", 0) >= 1, "coordinator: gang start observed")
expect(cf.get("bagel_checkpoint_save_duration_seconds_count{}", 0) >= 2, "coordinator: 2 saves")
expect(cf.get("bagel_checkpoint_written_bytes_total{}", 0) > 0, "coordinator: checkpoint bytes")
expect(not any(f"job_id={job}" in k for k in cf), "coordinator: per-job series end with the job")
for name in ("bagel_build_info{component=coordinator", "bagel_build_info{component=worker"):
    expect(any(k.startswith(name) for k in list(cf) + list(wf)), name)
# Stage 2: the mse head and the validation losses, equal to the trainer's last lines.
lines2 = [json.loads(l) for l in open(f"{t}/ckpt/{job2}/metrics.jsonl")]
last2 = [l for l in lines2 if l.get("event") == "step"][-1]
evals2 = [l for l in lines2 if l.get("event") == "eval"]
r2 = f"job_id={job2},rank=0"
expect(wf2.get(f"bagel_rank_step{{{r2}}}") == steps2, "stage 2: final step")
for head in ("ce", "mse"):
    expect(abs(wf2.get(f"bagel_rank_loss{{head={head},{r2}}}", -1) - last2[head]) < 1e-9,
           f"stage 2: {head} loss")
expect(bool(evals2), "stage 2 wrote eval lines")
if evals2:
    for head in ("ce", "mse"):
        expect(abs(wf2.get(f"bagel_rank_validation_loss{{head={head},{r2}}}", -1)
                   - evals2[-1]["val_" + head]) < 1e-9, f"stage 2: validation {head}")
expect(wf2.get(f"bagel_rank_step{{{r0}}}") == steps, "stage 1's series are kept after it ended")
expect(cf2.get("bagel_jobs{state=SUCCEEDED}") == 2, "coordinator: both jobs SUCCEEDED")
expect(cf2.get("bagel_jobs_submitted_total{}") == 2, "coordinator: two submissions")
expect(cf2.get("bagel_job_queue_wait_seconds_count{}") == 2, "coordinator: two placements")
expect(not any("job_id=" in k for k in cf2), "coordinator: no per-job series once all ended")
expect(wf2.get("bagel_agent_rank_exits_total{reason=completed}") == 2, "worker: two exits")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"series moved: step {paused_step:g} (paused) -> {steps}; ce {last['ce']:.4f}; "
      f"stage 2 mse {last2['mse']:.4f}")
PY
echo "metrics end-to-end checks passed"
