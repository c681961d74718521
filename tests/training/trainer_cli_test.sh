#!/usr/bin/env bash
# End-to-end checks of the bagel-train command (docs/TRAINER_CONTRACT.md), 2 local CPU ranks:
#   1. kill -9 of the ranks mid-run, then a resume, gives exactly the losses of an uninterrupted run;
#   2. SIGTERM makes the ranks write a checkpoint and exit 3;
#   3. a newest checkpoint with a corrupt file is refused (named) and the previous one used;
#   4. a resume on another world size reshards and finishes;
#   5. an invalid spec (a bad value, a key written twice) exits 2 naming the field;
#   6. Stage 2 evaluation writes sample images from fixed prompts;
#   8. (asynchronous checkpoints) a rank killed while a checkpoint is being written leaves the
#      previous one the newest complete checkpoint, and the resume from it loses nothing.
# Usage: trainer_cli_test.sh BIN_DIR WORK_DIR [ASYNC]   (ASYNC: checkpoint.async, default false)
set -uo pipefail
bin="$1" work="$2" async="${3:-false}"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
cat > spec.yaml <<YAML
model: {stage: 1, init_from: {preset: tiny, seed: 7}}
data:
  groups: [{name: demo, type: demo}]
  expected_num_tokens: 200
  max_num_tokens: 400
  max_num_tokens_per_sample: 200
train: {steps: 24, lr: 2.0e-3, warmup_steps: 3, ema_decay: 0.9, precision: fp32, log_every: 1}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 8, keep_last: 3, export_hf: false, async: $async}
YAML
ce_at() { grep "\"event\":\"step\"" "$1" | grep "\"step\":$2," | grep -o '"ce":[-0-9.e]*'; }
# The spec by absolute path: pkill patterns name it, so that concurrent runs of this test (sync and
# async) never stop each other's ranks.
run() { timeout 300 "$bin/bagel-train" --spec "$PWD/spec.yaml" --nproc 2 --checkpoint-root "$1" --job-id j "${@:2}"; }

# 1. Uninterrupted reference, then kill -9 after step 11 and resume.
run ref > ref.jsonl 2> ref.log || fail "reference run failed: $(tail -3 ref.log)"
( run killed > a.jsonl 2> a.log & )
# (Asynchronous: the step-8 checkpoint is published in the background; wait for its line too.)
for _ in $(seq 1 600); do
  grep -q '"step":11,' a.jsonl 2>/dev/null && grep '"event":"checkpoint"' a.jsonl | grep -q '"step":8[,}]' &&
    break
  sleep 0.05
done
pkill -9 -f "$PWD/spec.yaml.*checkpoint-root killed" ; sleep 1
grep -q '"step":24,' a.jsonl && fail "the run finished before it was killed"
[[ -d killed/j/step-00000008 ]] || fail "no checkpoint at step 8 before the kill"
run killed > b.jsonl 2> b.log || fail "resume failed: $(tail -3 b.log)"
grep -q "resumed from killed/j/step-00000008" b.log || fail "did not resume from step 8: $(head -3 b.log)"
for s in 9 16 24; do
  [[ "$(ce_at ref.jsonl $s)" == "$(ce_at b.jsonl $s)" ]] || fail "step $s: resumed $(ce_at b.jsonl $s) != uninterrupted $(ce_at ref.jsonl $s)"
done
echo "ok: kill -9 and resume reproduce the uninterrupted losses"

# 2. SIGTERM: checkpoint of the current step, exit 3.
( run term > t.jsonl 2> t.log; echo $? > t.rc ) &
for _ in $(seq 1 600); do grep -q '"step":5,' t.jsonl 2>/dev/null && break; sleep 0.05; done
pkill -TERM -f "$PWD/spec.yaml.*checkpoint-root term"
wait
[[ "$(cat t.rc)" == 3 ]] || fail "SIGTERM exit status $(cat t.rc), expected 3"
step=$(cat term/j/LATEST | tr -d '\n')
[[ -n "$step" && "$step" != step-00000000 ]] || fail "no checkpoint after SIGTERM"
echo "ok: SIGTERM wrote $step and exited 3"

# 3. Corrupt the newest checkpoint of the reference run: the previous one is used.
printf 'x' >> ref/j/step-00000024/rank-1-of-2.safetensors
run ref --resume auto > c.jsonl 2> c.log || fail "resume after corruption failed: $(tail -3 c.log)"
grep -q "rank-1-of-2.safetensors" c.log || fail "the corrupt file was not named: $(head -5 c.log)"
grep -q "resumed from ref/j/step-00000016" c.log || fail "did not fall back to step 16: $(grep resumed c.log)"
echo "ok: a corrupt checkpoint is refused and the previous one used"

# 4. Another world size: 2 ranks' checkpoint resumed by 1 rank.
timeout 300 "$bin/bagel-train" --spec spec.yaml --checkpoint-root killed --job-id j --resume killed/j/step-00000016 \
  > r.jsonl 2> r.log || fail "resharded resume failed: $(tail -3 r.log)"
grep -q "resharded from 2 ranks" r.log || fail "no resharding reported"
grep -q '"event":"done"' r.jsonl || fail "resharded run did not finish"
echo "ok: resume on another world size reshards"

# 5. An invalid spec.
sed 's/lr: 2.0e-3/lr: -1/' spec.yaml > bad.yaml
timeout 60 "$bin/bagel-train" --spec bad.yaml > bad.jsonl 2> bad.log
rc=$?
[[ $rc == 2 ]] || fail "invalid spec exit status $rc, expected 2"
grep -q "train.lr" bad.log || fail "the field was not named: $(cat bad.log)"
echo "ok: an invalid spec exits 2 naming train.lr"
{ cat spec.yaml; echo "train: {steps: 3}"; } > twice.yaml
timeout 60 "$bin/bagel-train" --spec twice.yaml > twice.jsonl 2> twice.log
rc=$?
[[ $rc == 2 ]] || fail "a key written twice: exit status $rc, expected 2"
grep -q "train: got the key written twice (lines" twice.log || fail "the key was not named: $(cat twice.log)"
echo "ok: a key written twice exits 2 naming the key and both lines"

# 6. Stage 2 evaluation: validation losses and sample images from fixed prompts (two ranks: rank 0
#    samples while rank 1 waits for it; two steps, 32x32 images in 4 timesteps: the byte
#    vocabulary of the tiny model reads the prompts), then the HF export.
"$bin/bagel-init-checkpoint" --preset tiny --stage 1 --seed 3 --vae tiny --out init2 > /dev/null \
  || fail "bagel-init-checkpoint failed"
cat > s2.yaml <<YAML
model: {stage: 2, init_from: {path: $PWD/init2}, vae: $PWD/init2/ae.safetensors}
data:
  groups: [{name: demo, type: demo}]
  expected_num_tokens: 200
  max_num_tokens: 400
  max_num_tokens_per_sample: 200
train: {steps: 2, lr: 1.0e-3, warmup_steps: 1, ema_decay: 0.9, precision: fp32, log_every: 1}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 2, keep_last: 1, export_hf: true, async: $async}
eval: {every_steps: 2, max_batches: 1, prompts: ["a red square", "a cat"], image_size: 32, num_timesteps: 4}
YAML
timeout 300 "$bin/bagel-train" --spec s2.yaml --nproc 2 --checkpoint-root s2 --job-id j > s2.jsonl 2> s2.log \
  || fail "Stage 2 run with eval prompts failed: $(tail -3 s2.log)"
grep '"event":"eval"' s2.jsonl | grep -q '"val_mse"' || fail "no validation MSE: $(grep eval s2.jsonl)"
for i in 0 1; do
  png="s2/j/eval/step-00000002/$i.png"
  grep '"event":"eval"' s2.jsonl | grep -q "\"$png\"" || fail "eval event does not list $png"
  [[ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] || fail "$png is not a PNG"
done
[[ -f s2/j/hf/ema.safetensors ]] || fail "no HF export after the Stage 2 run"
echo "ok: Stage 2 evaluation reports validation losses and writes sample images"

# 7. The same Stage 2 run with activation checkpointing and grouped MoT routing: the recomputed
#    layers and the grouped layout must give the same losses, step by step.
sed -e 's/precision: fp32,/precision: fp32, activation_checkpointing: true,/' \
  -e 's/vae: \(.*\)}$/vae: \1, grouped_routing: true}/' s2.yaml > s2ac.yaml
grep -q "activation_checkpointing: true" s2ac.yaml && grep -q "grouped_routing: true" s2ac.yaml \
  || fail "could not derive the spec: $(cat s2ac.yaml)"
timeout 300 "$bin/bagel-train" --spec s2ac.yaml --nproc 2 --checkpoint-root s2ac --job-id j > s2ac.jsonl \
  2> s2ac.log || fail "Stage 2 run with activation checkpointing failed: $(tail -3 s2ac.log)"
losses() { grep '"event":"step"' "$1" | grep -o '"\(ce\|mse\)":[-0-9.e]*' | cut -d: -f2; }
paste <(losses s2.jsonl) <(losses s2ac.jsonl) | awk '
  { n++; d = $1 - $2; if (d < 0) d = -d; if (d > 1e-4 * ($1 < 0 ? -$1 : $1) + 1e-6) bad++ }
  END { exit (n == 4 && bad == 0) ? 0 : 1 }' \
  || fail "losses differ: $(paste <(losses s2.jsonl) <(losses s2ac.jsonl) | tr '\n' ' ')"
echo "ok: activation checkpointing and grouped routing give the same losses"

# 8. Asynchronous checkpoints: kill -9 while the step-16 checkpoint is being written (each rank
#    pauses after writing its file, before reporting it): LATEST still names step 8, whose resume
#    gives the uninterrupted losses.
if [[ $async == true ]]; then
  ( BAGEL_TEST_CHECKPOINT_PAUSE_S=30 run midwrite > m.jsonl 2> m.log & )
  for _ in $(seq 1 1200); do
    [[ -f midwrite/j/step-00000016.staging/rank-1-of-2.safetensors ]] && break
    sleep 0.05
  done
  [[ -f midwrite/j/step-00000016.staging/rank-1-of-2.safetensors ]] ||
    fail "the step-16 checkpoint never started: $(tail -3 m.log)"
  grep -q '"step":17,' m.jsonl || sleep 1  # training goes on while the writer pauses
  grep -q '"step":17,' m.jsonl || fail "training waited for the asynchronous write"
  pkill -9 -f "$PWD/spec.yaml.*checkpoint-root midwrite"; sleep 1
  [[ "$(cat midwrite/j/LATEST)" == step-00000008 ]] || fail "LATEST is $(cat midwrite/j/LATEST)"
  [[ -d midwrite/j/step-00000016 ]] && fail "a half-written checkpoint was published"
  run midwrite > n.jsonl 2> n.log || fail "resume after a kill mid-write failed: $(tail -3 n.log)"
  grep -q "resumed from midwrite/j/step-00000008" n.log || fail "did not resume from step 8: $(grep resumed n.log)"
  for s in 9 16 24; do
    [[ "$(ce_at ref.jsonl $s)" == "$(ce_at n.jsonl $s)" ]] || fail "step $s after the kill mid-write differs"
  done
  grep '"event":"checkpoint"' n.jsonl | grep -q '"blocking_s"' || fail "no blocking_s in the checkpoint line"
  echo "ok: a kill during an asynchronous checkpoint leaves step 8 the newest, and resuming loses nothing"
fi
