#!/usr/bin/env bash
# deploy/k8s builds with kubectl 1.20's kustomize (Debian's kubernetes-client, the oldest the
# manifests target) and its output checks out (check_manifests.py):
#   kustomize_test.sh SOURCE_DIR TOOLS_BIN PYTHON build     only the kustomize build
#   kustomize_test.sh SOURCE_DIR TOOLS_BIN PYTHON core      + offline schema validation (strict)
#   kustomize_test.sh SOURCE_DIR TOOLS_BIN PYTHON operator  + the Prometheus Operator objects
# Exit 77 (skipped, with the reason) only when kubectl 1.20 or the test virtualenv's
# kubernetes-validate is missing (scripts/setup.sh provides both).
set -euo pipefail
SRC="$1" TOOLS="$2" PY="$3" MODE="$4"
KUBECTL="$TOOLS/kubectl"
if [[ ! -x "$KUBECTL" ]]; then
  echo "skipped: no $KUBECTL (scripts/setup.sh unpacks Debian's kubernetes-client 1.20 there)"
  exit 77
fi
"$KUBECTL" version --client 2>/dev/null | grep -q 'Minor:"20"' ||
  echo "note: $KUBECTL is not kubectl 1.20"
if [[ "$MODE" != build ]] && ! "$PY" -c "import kubernetes_validate, yaml" 2>/dev/null; then
  echo "skipped: no kubernetes-validate in $PY (scripts/setup.sh installs it in build/testenv)"
  exit 77
fi
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
for k in base monitoring overlays/cpu-demo overlays/gpu; do
  "$KUBECTL" kustomize "$SRC/deploy/k8s/$k" > "$T/$(basename "$k").yaml" ||
    { echo "FAILED: kubectl kustomize deploy/k8s/$k"; exit 1; }
  echo "built deploy/k8s/$k: $(grep -c '^kind:' "$T/$(basename "$k").yaml") objects"
done
[[ "$MODE" == build ]] && exit 0
PROMTOOL="$TOOLS/promtool" "$PY" "$(dirname "$0")/check_manifests.py" "$MODE" "$T" "$SRC"
