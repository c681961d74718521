#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine; idempotent and quick
# when everything is already present. Debian packages via apt, LibTorch via PyPI's torch wheel
# into an ignored virtualenv (build/venv). No Python is part of the product.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BAGEL_VENV:-$ROOT/build/venv}"
TORCH_VERSION="2.11.0"

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git python3-venv
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libyaml-cpp-dev prometheus-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgloo-dev libpcre2-dev libutf8proc-dev
  libjpeg-dev libpng-dev libstb-dev zlib1g-dev libzstd-dev
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
# Test-only: kubernetes-validate (offline Kubernetes schema validation of deploy/k8s, tests/deploy)
# in the same test virtualenv; the deploy checks are skipped when it cannot be installed.
if [[ -x "$TESTENV/bin/python" ]] && ! "$TESTENV/bin/python" -c "import kubernetes_validate" 2>/dev/null; then
  echo "setup: installing kubernetes-validate into $TESTENV"
  "$TESTENV/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==1.37.*" ||
    echo "setup: warning: no kubernetes-validate; the manifest schema checks will be skipped"
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
