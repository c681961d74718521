#!/usr/bin/env bash
# The Grafana dashboard parses and every query (and every alert rule expression) names a metric
# the code exports: the catalogue is what bagel-coordinator and bagel-worker print with
# --metric-catalogue, built from the same definitions their exporters use.
#
#   dashboard_test.sh BIN_DIR SOURCE_DIR
set -euo pipefail
BIN="$1" SRC="$2"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
{ "$BIN/bagel-coordinator" --metric-catalogue; "$BIN/bagel-worker" --metric-catalogue; } |
  sort -u -t $'\t' -k1,1 > "$T/catalogue.tsv"
python3 "$(dirname "$0")/check_dashboard.py" "$T/catalogue.tsv" \
  "$SRC/deploy/grafana/bagel-dashboard.json" "$SRC/deploy/prometheus/alerts.yaml"
