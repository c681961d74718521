#!/usr/bin/env bash
# Builds the executables a GPU machine can run (STACK.md, "The GPU machine": it has torch 2.11
# but none of the Debian libraries) -- model, bench and checking tools linking only LibTorch and
# header-only libraries -- and gathers them with the reference cases the checks need into
# build/gpu-bundle, an ignored folder to send along (device `carry`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOLDEN="${BAGEL_GOLDEN_DIR:-$ROOT/../shared/golden}"
BUILD="$ROOT/build/gpu"
BUNDLE="$ROOT/build/gpu-bundle"
"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBAGEL_GPU_BUNDLE=ON
cmake --build "$BUILD" -j "${BAGEL_JOBS:-2}"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/cases"
cp "$BUILD"/bin/bagel-* "$BUNDLE/bin/"
for c in stage1-vlm stage1-mixed stage2-mixed; do
  [[ -d "$GOLDEN/$c" ]] && cp -r "$GOLDEN/$c" "$BUNDLE/cases/"
done
cp "$ROOT/scripts/gpu_checks.sh" "$BUNDLE/"
# The executables must not need a Debian-only shared library on the GPU machine.
for exe in "$BUNDLE"/bin/*; do
  if ldd "$exe" | grep -E "libgrpc|libprotobuf|libabsl|libyaml|libprometheus|libspdlog|libfmt|libsqlite|libpcre2|libutf8proc|libjpeg|libpng|libzstd|libgflags|libglog" ; then
    echo "gpu_bundle: $exe links a Debian-only library" >&2
    exit 1
  fi
done
du -sh "$BUNDLE"
