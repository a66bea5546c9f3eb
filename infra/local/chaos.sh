#!/usr/bin/env bash
# `make chaos`: brings a stack up on ports of its own with short timeouts (so a killed sync's
# lease and in-flight messages come back within seconds), runs infra/local/chaos.py against
# it, and brings it down whatever happened. CHAOS_RUNS (50) and CHAOS_SEED set the runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export API_PORT="$(free_port)" LAMBDA_PORT="$(free_port)" EMULATOR_PORT="$(free_port)" REMOTE_PORT="$(free_port)"
export STATE_DIR="$root/.local/chaos" EMULATOR=moto
unset AWS_ENDPOINT_URL REMOTE_BASE_URL
export SYNC_INTERVAL=3 SYNC_BUDGET_SECONDS=5 SYNC_CALL_DEADLINE_SECONDS=5 SYNC_LEASE_SECONDS=12
export SYNC_BACKOFF_SECONDS=1 REMOTE_TIMEOUT_MS=2000 REMOTE_RATE_LIMIT=50 QUEUE_VISIBILITY_SECONDS=8
rm -rf "$STATE_DIR"
trap 'infra/local/down.sh >/dev/null; echo "chaos: stack down"' EXIT
infra/local/up.sh
source infra/local/env.sh
python3 infra/local/chaos.py
