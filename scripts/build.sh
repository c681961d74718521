#!/usr/bin/env bash
# Configures and builds the project (Release, Ninja, ccache, precompiled headers) into
# build/release after scripts/setup.sh. Extra arguments go to CMake's configure step,
# e.g. -DBAGEL_BUILD_SERVICE=OFF.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BAGEL_BUILD_DIR:-$ROOT/build/release}"
JOBS="${BAGEL_JOBS:-2}"
"$ROOT/scripts/setup.sh"
if [[ ! -f "$BUILD_DIR/build.ninja" || $# -gt 0 ]]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
fi
cmake --build "$BUILD_DIR" -j "$JOBS"
