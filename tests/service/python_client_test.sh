#!/usr/bin/env bash
# Runs python_client_check.py (PyPI grpcio, test-only virtualenv build/testenv made by
# scripts/setup.sh) against a real bagel-coordinator: health, reflection, JobService calls from
# reflected descriptors, then SIGTERM and NOT_SERVING while it drains. Exit 77 (skipped) without
# the virtualenv.
set -euo pipefail
BIN="$1" PY="$2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ ! -x "$PY" ]] || ! "$PY" -c "import grpc, grpc_health, grpc_reflection" 2>/dev/null; then
  echo "skipped: no test virtualenv with grpcio at $PY (scripts/setup.sh makes it)"
  exit 77
fi
T="$(mktemp -d)"
trap 'kill $PID 2>/dev/null || true; rm -rf "$T"' EXIT
TOKEN=alice-token-0123456789abcdef
cat > "$T/c.yaml" <<YAML
listen: 127.0.0.1:0
database: $T/db.sqlite
checkpoint_root: $T/ckpt
auth:
  users: [{name: alice, token: $TOKEN}]
  worker_token: join-token-0123456789abcdef
drain_ms: 1500
YAML
"$BIN/bagel-coordinator" --config "$T/c.yaml" --port-file "$T/port" 2> "$T/log" &
PID=$!
for _ in $(seq 100); do [[ -s "$T/port" ]] && break; sleep 0.05; done
PORT="$(cat "$T/port")"
"$PY" "$HERE/python_client_check.py" "127.0.0.1:$PORT" "$TOKEN" api
"$PY" "$HERE/python_client_check.py" "127.0.0.1:$PORT" "$TOKEN" drain &
CHECK=$!
sleep 0.3
kill -TERM $PID
wait $CHECK
wait $PID
if grep -q "$TOKEN" "$T/log"; then echo "a token appeared in the coordinator's log"; exit 1; fi
echo "python client checks passed"
