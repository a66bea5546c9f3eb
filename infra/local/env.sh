# Shared settings of the local stack, sourced by up.sh, down.sh and the Makefile's targets.
# Every value can be overridden from the environment.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export API_PORT="${API_PORT:-8080}"
export LAMBDA_PORT="${LAMBDA_PORT:-9000}"
export EMULATOR_PORT="${EMULATOR_PORT:-4566}"
export REMOTE_PORT="${REMOTE_PORT:-3001}"
export STATE_DIR="${STATE_DIR:-$root/.local/stack}"
export TABLE_PREFIX="${TABLE_PREFIX:-placeholder-sync-}"
export DEMO_USER="${DEMO_USER:-demo}"
export DEMO_PASSWORD="${DEMO_PASSWORD:-demo-password}"
# Set EMULATOR=external with AWS_ENDPOINT_URL pointing at LocalStack (or any emulator you
# run yourself) and the stack uses it instead of starting moto.
export EMULATOR="${EMULATOR:-moto}"
if [ "$EMULATOR" = moto ] || [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  export AWS_ENDPOINT_URL="http://127.0.0.1:$EMULATOR_PORT"
fi
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export ENTITIES_TABLE="${ENTITIES_TABLE:-${TABLE_PREFIX}entities}"
export META_TABLE="${META_TABLE:-${TABLE_PREFIX}meta}"
export REMOTE_BASE_URL="${REMOTE_BASE_URL:-http://127.0.0.1:$REMOTE_PORT}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/placeholder-sync/target}"
export SAM_CLI_TELEMETRY=0
export PATH="$root/.tools/venv/bin:$root/.tools/node/node_modules/.bin:$PATH"
local_stack="$CARGO_TARGET_DIR/debug/local-stack"
