#!/usr/bin/env bash
# The real TensorBoard (PyPI's tensorboard in the test virtualenv build/testenv, scripts/setup.sh)
# reads the event files of bagel-tensorboard-write: scalars of steps 1..N, a PNG, a text, and a
# restart at step K that rewrites steps K..N (tensorboard_read.py says what is checked). Exit 77
# (skipped) without the virtualenv or the package.
#
#   tensorboard_reader_test.sh BAGEL_TENSORBOARD_WRITE TESTENV_PYTHON
set -euo pipefail
TOOL="$1" PY="$2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x "$PY" ]] || ! "$PY" -c "import tensorboard, numpy, PIL" 2>/dev/null; then
  echo "skipped: no test virtualenv with tensorboard at $PY (scripts/setup.sh makes it)"
  exit 77
fi
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
# A 5x3 RGBA PNG with distinct pixels, written by Pillow (not by the code under test).
"$PY" -c "
import sys
from PIL import Image
img = Image.new('RGBA', (5, 3))
img.putdata([(40 * i % 256, 7 * i, 255 - 9 * i, 128 + i) for i in range(15)])
img.save(sys.argv[1])" "$T/sample.png"
TEXT=$'## Stage 2\n\nlr **1e-4**, ünïcode ✓'
"$TOOL" --logdir "$T/logs/run" --steps 20 --restart-step 13 --image "$T/sample.png" \
  --text "$TEXT" > "$T/written.tsv"
"$PY" "$HERE/tensorboard_read.py" "$T/logs/run" "$T/written.tsv" "$T/sample.png" "$TEXT" "$T"
