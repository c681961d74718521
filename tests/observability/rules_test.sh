#!/usr/bin/env bash
# The alert rules (deploy/prometheus/alerts.yaml) pass `promtool check rules`, and their unit
# tests (alerts_test.yaml: each alert fires on the series that should trigger it and not on
# healthy ones) pass `promtool test rules`. The PrometheusRule of deploy/k8s carries the same
# rules (checked by tests/deploy). Exit 77 (skipped) only without promtool.
#
#   rules_test.sh SOURCE_DIR [PROMTOOL]
set -euo pipefail
SRC="$1"
PROMTOOL="${2:-}"
[[ -x "$PROMTOOL" ]] || PROMTOOL="$(command -v promtool || true)"
if [[ -z "$PROMTOOL" ]]; then
  echo "skipped: promtool not found (scripts/setup.sh unpacks Debian's into build/tools/bin)"
  exit 77
fi
cd "$SRC/deploy/prometheus"
"$PROMTOOL" check rules alerts.yaml
"$PROMTOOL" test rules alerts_test.yaml
