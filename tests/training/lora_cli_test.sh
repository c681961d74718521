#!/usr/bin/env bash
# LoRA through bagel-train (docs/MEMORY.md, config/JOB_SPEC.md), 2 local CPU ranks, Stage 2 from
# an HF-layout base checkpoint:
#   1. kill -9 mid-run and a resume give exactly the uninterrupted losses;
#   2. the checkpoints hold the adapters and their optimizer state only, and name the base;
#   3. the export's merged weights give the same answers as the base with the PEFT adapter
#      applied by bagel-infer --adapter (and other ones than the base); the export loads strictly;
#   4. a resume against a changed base is refused naming it;
#   5. bagel-plan counts only the adapters as trainable.
# Usage: lora_cli_test.sh BIN_DIR WORK_DIR
set -uo pipefail
bin="$1" work="$2"
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
"$bin/bagel-init-checkpoint" --preset tiny --stage 2 --seed 3 --vae tiny --out base > /dev/null ||
  fail "bagel-init-checkpoint failed"
cat > spec.yaml <<YAML
model: {stage: 2, init_from: {path: $PWD/base}, vae: $PWD/base/ae.safetensors}
data:
  groups: [{name: demo, type: demo}]
  expected_num_tokens: 200
  max_num_tokens: 400
  max_num_tokens_per_sample: 200
train: {steps: 12, lr: 2.0e-2, warmup_steps: 2, ema_decay: 0.9, precision: fp32, log_every: 1}
parallel: {workers: 1, gpus_per_worker: 0}
checkpoint: {every_steps: 4, keep_last: 3, export_hf: true}
lora: {rank: 4, alpha: 8}
YAML
loss_at() { grep "\"event\":\"step\"" "$1" | grep "\"step\":$2," | grep -o '"\(ce\|mse\)":[-0-9.e]*' | tr '\n' ' '; }
run() { timeout 300 "$bin/bagel-train" --spec "$PWD/spec.yaml" --nproc 2 --checkpoint-root "$1" --job-id j "${@:2}"; }

# 1. Uninterrupted reference; kill -9 after step 6 and resume.
run ref > ref.jsonl 2> ref.log || fail "reference run failed: $(tail -3 ref.log)"
( run lora-killed > a.jsonl 2> a.log & )
for _ in $(seq 1 600); do grep -q '"step":6,' a.jsonl 2>/dev/null && break; sleep 0.05; done
pkill -9 -f "$PWD/spec.yaml.*checkpoint-root lora-killed"; sleep 1
grep -q '"step":12,' a.jsonl && fail "the run finished before it was killed"
run lora-killed > b.jsonl 2> b.log || fail "resume failed: $(tail -3 b.log)"
grep -q "resumed from lora-killed/j/step-00000004" b.log || fail "did not resume from step 4: $(grep -m3 . b.log)"
for s in 5 8 12; do
  [[ -n "$(loss_at ref.jsonl $s)" && "$(loss_at ref.jsonl $s)" == "$(loss_at b.jsonl $s)" ]] ||
    fail "step $s: resumed $(loss_at b.jsonl $s) != uninterrupted $(loss_at ref.jsonl $s)"
done
echo "ok: kill -9 and resume with LoRA reproduce the uninterrupted losses"

# 2. What a LoRA checkpoint holds.
python3 - ref/j/step-00000012 <<'PY' || fail "a LoRA checkpoint holds more than the adapters"
import json, struct, sys, glob, os
step = sys.argv[1]
state = json.load(open(os.path.join(step, "train_state.json")))
lora = state["lora"]
assert lora["base"].endswith("base/ema.safetensors") or lora["base"].endswith("base/model.safetensors"), lora
assert len(lora["sha256"]) == 64 and lora["rank"] == 4, lora
for path in glob.glob(os.path.join(step, "rank-*.safetensors")):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    keys = [k for k in header if k != "__metadata__"]
    assert not any(k.endswith(".frozen") for k in keys), "frozen base in " + path
    trainable = sum(header[k]["shape"][0] for k in keys if k.endswith(".master"))
    # tiny: 2 layers x 2 experts x 7 projections, rank 4, in+out <= 2*128 per module: a few
    # thousand adapter values per rank, against ~1M base parameters.
    assert 0 < trainable < 100000, (path, trainable)
print("checkpoint holds", trainable, "adapter values per rank")
PY
echo "ok: the checkpoints hold the adapters only and name the base by path and sha256"

# 3. The export: merged weights, the PEFT adapter beside them, the same images both ways.
hf=ref/j/hf
[[ -f $hf/ema.safetensors && -f $hf/adapter/adapter_config.json && -f $hf/adapter/adapter_model.safetensors ]] ||
  fail "the export lacks the merged weights or the adapter: $(ls -R $hf | head)"
grep -q '"peft_type": "LORA"' $hf/adapter/adapter_config.json || fail "adapter_config.json is not PEFT's"
# Understanding (greedy decoding) depends on every adapted projection; a generated image would
# not show the adapters of a fresh tiny model, whose llm2vae is zero and frozen under LoRA.
"$bin/bagel-infer" --checkpoint base --task t2i --prompt-ids "7 8 9" --height 32 --width 32 \
  --special-tokens 252,253,254,255 --steps 3 --out picture.png 2>> infer.log ||
  fail "bagel-infer t2i: $(tail -3 infer.log)"
infer() { timeout 300 "$bin/bagel-infer" --task und --image picture.png --prompt-ids "7 8 9" \
  --special-tokens 252,253,254,255 --max-length 24 "$@" 2>> infer.log; }
infer --checkpoint $hf --out merged.txt || fail "bagel-infer on the merged export: $(tail -3 infer.log)"
infer --checkpoint base --adapter $hf/adapter --out adapted.txt ||
  fail "bagel-infer --adapter: $(tail -3 infer.log)"
infer --checkpoint base --out base.txt || fail "bagel-infer on the base: $(tail -3 infer.log)"
cmp -s merged.txt adapted.txt || fail "the merged export and base + adapter answer differently: $(cat merged.txt) / $(cat adapted.txt)"
cmp -s merged.txt base.txt && fail "the adapters changed nothing: $(cat base.txt)"
echo "ok: merged export == base + PEFT adapter (bagel-infer --adapter), != base"

# 4. Another base: the resume is refused, naming it.
"$bin/bagel-init-checkpoint" --preset tiny --stage 2 --seed 4 --vae tiny --out base > /dev/null
timeout 300 "$bin/bagel-train" --spec spec.yaml --checkpoint-root ref --job-id j --resume auto \
  > c.jsonl 2> c.log && fail "a resume on another base was accepted"
grep -q "LoRA adapters were trained on" c.log || fail "the base change was not named: $(tail -3 c.log)"
echo "ok: a resume against a changed base is refused"

# 5. The plan counts the adapters as the trainable parameters.
"$bin/bagel-plan" --spec spec.yaml --world-size 2 > plan.json || fail "bagel-plan failed"
python3 -c '
import json; p = json.load(open("plan.json"))
assert 0 < p["trainable_params"] < p["total_params"] / 20, p
print("plan:", p["trainable_params"], "trainable of", p["total_params"])' || fail "the plan's trainable count"
echo "ok: bagel-plan counts the adapters"
