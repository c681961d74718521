#!/usr/bin/env bash
# Builds the executables a GPU machine can run (docs/BUILD.md, "The GPU machine": it has torch
# 2.11 but none of the Debian libraries) -- model, bench and checking tools linking only LibTorch,
# Arrow/Parquet (carried, xz-compressed, in lib/) and header-only or static libraries -- and
# gathers them with the reference cases the checks need into build/gpu-bundle, an ignored folder
# to send along (device `carry`). The device's working tree is limited to 64 MiB and tests/golden
# alone is 64 MB: move tests/golden out of the checkout for the device call (docs/BUILD.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOLDEN="${BAGEL_GOLDEN_DIR:-$ROOT/tests/golden}"
BUILD="$ROOT/build/gpu"
BUNDLE="$ROOT/build/gpu-bundle"
"$ROOT/scripts/setup.sh"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBAGEL_GPU_BUNDLE=ON
cmake --build "$BUILD" -j "${BAGEL_JOBS:-2}"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin" "$BUNDLE/cases"
cp "$BUILD"/bin/bagel-* "$BUNDLE/bin/"
# libarrow / libparquet from the pyarrow wheel (62 MB; 15 MB as xz), unpacked by gpu_checks.sh.
PYARROW_DIR="$(sed -n 's/^BAGEL_PYARROW_DIR:PATH=//p' "$BUILD/CMakeCache.txt")"
mkdir -p "$BUNDLE/lib"
for lib in libarrow.so.2600 libparquet.so.2600; do
  xz -T2 -6 -c "$PYARROW_DIR/$lib" > "$BUNDLE/lib/$lib.xz"
done
for c in stage1-vlm stage1-mixed stage2-mixed; do
  [[ -d "$GOLDEN/$c" ]] && cp -r "$GOLDEN/$c" "$BUNDLE/cases/"
done
cp "$ROOT/scripts/gpu_checks.sh" "$BUNDLE/"
# The executables must not need a Debian-only shared library on the GPU machine.
for exe in "$BUNDLE"/bin/*; do
  if ldd "$exe" | grep -E "libgrpc|libprotobuf|libabsl|libyaml|libprometheus|libspdlog|libfmt|libsqlite|libpcre2|libutf8proc|libjpeg|libpng|libzstd|libgflags|libglog|libssl|libcrypto" ; then
    echo "gpu_bundle: $exe links a Debian-only library" >&2
    exit 1
  fi
done
du -sh "$BUNDLE"
