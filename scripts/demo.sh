#!/usr/bin/env bash
# The main job: sets everything up, starts a coordinator and a worker on this machine, submits a
# Stage 1 job and a Stage 2 job initialised from Stage 1's final checkpoint on generated data,
# watches both live to completion and prints where the checkpoints and metrics are
# (scripts/demo-service.sh; scripts/demo-trainer.sh runs the trainer alone).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec "$ROOT/scripts/demo-service.sh" "$@"
