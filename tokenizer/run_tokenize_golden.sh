#!/usr/bin/env bash
# Runs the bagel-tokenize executable on the tokenizer reference cases, as
# tests/golden/README.md does: every case's text must encode to its ids, and decoding the ids
# and encoding the text again must give the same ids.
# Usage: run_tokenize_golden.sh BAGEL_TOKENIZE GOLDEN_TOKENIZER_DIR OUT_DIR
# Exit 77 (skipped) when the reference directory is absent.
set -euo pipefail
tool="$1" golden="$2" out="$3"
[[ -f "$golden/cases.jsonl" ]] || { echo "skip: $golden/cases.jsonl not present"; exit 77; }
mkdir -p "$out"

# The expected ids, in the tool's output format: the cases end with "ids": [...]}.
sed -E 's/.*"ids": (\[[^]]*\])\}$/{"ids": \1}/' "$golden/cases.jsonl" > "$out/expected.jsonl"
[[ $(wc -l < "$out/expected.jsonl") -gt 0 ]] || { echo "no cases read"; exit 1; }

# Encoding: each input line's "text" (its "ids" field is ignored).
"$tool" --tokenizer "$golden" < "$golden/cases.jsonl" > "$out/encoded.jsonl"
diff -u "$out/expected.jsonl" "$out/encoded.jsonl" > "$out/encode.diff" ||
  { echo "encode mismatch:"; head -20 "$out/encode.diff"; exit 1; }

# Decoding each case's ids and encoding the decoded text again gives the ids back.
"$tool" --tokenizer "$golden" --decode < "$golden/cases.jsonl" > "$out/decoded.jsonl"
"$tool" --tokenizer "$golden" < "$out/decoded.jsonl" > "$out/reencoded.jsonl"
diff -u "$out/expected.jsonl" "$out/reencoded.jsonl" > "$out/roundtrip.diff" ||
  { echo "decode/encode round trip mismatch:"; head -20 "$out/roundtrip.diff"; exit 1; }

# Bad input: one clear line naming the line and field, non-zero exit.
if printf '{"text": "ok"}\n{"text": 5}\n' | "$tool" --tokenizer "$golden" > /dev/null 2> "$out/error.txt"; then
  echo "a non-string text was accepted"; exit 1
fi
grep -q 'stdin:2: field "text"' "$out/error.txt" || { echo "unclear error:"; cat "$out/error.txt"; exit 1; }

if "$tool" --tokenizer "$out/no-such-dir" < /dev/null 2> "$out/error.txt"; then
  echo "a missing tokenizer directory was accepted"; exit 1
fi
grep -q 'no-such-dir: not a directory' "$out/error.txt" || { echo "unclear error:"; cat "$out/error.txt"; exit 1; }

echo "bagel-tokenize: $(wc -l < "$out/expected.jsonl") cases encode and round-trip"
