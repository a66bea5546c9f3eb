#!/usr/bin/env bash
# `make fuzz`: `make up` on ports of its own, schemathesis from openapi.json against it
# (FUZZ_EXAMPLES per operation, default 100; writes included), the figures into
# bench/fuzz.json, then `make down`, whatever happened. `make test` runs a smaller fuzz in the
# smoke test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export API_PORT="$(free_port)" LAMBDA_PORT="$(free_port)" EMULATOR_PORT="$(free_port)" REMOTE_PORT="$(free_port)"
export STATE_DIR="$root/.local/fuzz" EMULATOR=moto
unset AWS_ENDPOINT_URL
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/placeholder-sync/target}"
rm -rf "$STATE_DIR"
trap 'infra/local/down.sh >/dev/null; echo "fuzz: stack down"' EXIT
infra/local/up.sh >/dev/null
python3 tests/fuzz.py --url "http://127.0.0.1:$API_PORT" --examples "${FUZZ_EXAMPLES:-100}" \
  --seed "${FUZZ_SEED:-1}" --out bench/fuzz.json
