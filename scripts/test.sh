#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), builds, and runs every test
# with CTest. Reference cases are read from tests/golden (BAGEL_GOLDEN_DIR overrides).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BAGEL_BUILD_DIR:-$ROOT/build/release}"
"$ROOT/scripts/build.sh"
cd "$BUILD_DIR"
ctest -j "${BAGEL_TEST_JOBS:-2}" --output-on-failure "$@"
