#!/usr/bin/env bash
# Brings the whole local stack up in the background: AWS emulator, tables, the local remote
# (json-server), the functions under `cargo lambda watch`, and the API gateway.
set -euo pipefail
source "$(dirname "$0")/env.sh"
pids="$STATE_DIR/pids"
logs="$STATE_DIR/logs"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if compgen -G "$pids/*.pid" >/dev/null; then
  for f in "$pids"/*.pid; do
    if ! alive "$f"; then
      echo "the local stack is partly up ($(basename "$f" .pid) is not running); run 'make down' first" >&2
      exit 1
    fi
  done
  echo "the local stack is already up; nothing changed (API: http://127.0.0.1:$API_PORT)"
  exit 0
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$API_PORT" "$LAMBDA_PORT" "$REMOTE_PORT"; do
  port_free "$port" || { echo "port $port on 127.0.0.1 is in use; set the *_PORT variables to free ports" >&2; exit 1; }
done
if [ "$EMULATOR" = moto ]; then
  port_free "$EMULATOR_PORT" || { echo "port $EMULATOR_PORT is in use; set EMULATOR_PORT, or EMULATOR=external to use the emulator there" >&2; exit 1; }
fi

"$root/infra/local/install-tools.sh"
"$root/infra/local/console.sh" build
echo "building the functions and the local tooling..."
(cd "$root" && cargo build --quiet --workspace --bins)

source "$(dirname "$0")/components.sh"
rm -rf "$logs"
mkdir -p "$pids" "$logs"
fail() { echo "$1 (see $logs/)" >&2; "$root/infra/local/down.sh" >/dev/null || true; exit 1; }

if [ "$EMULATOR" = moto ]; then
  start_emulator
fi
if [ "$EMULATOR" = moto ]; then
  "$local_stack" wait "$AWS_ENDPOINT_URL/moto-api/" 60 || fail "the AWS emulator did not start"
fi
"$local_stack" init >"$STATE_DIR/queues.env" || fail "could not create the tables and queues"

[ -f "$STATE_DIR/remote-db.json" ] || cp "$root/fixtures/jsonplaceholder.json" "$STATE_DIR/remote-db.json"
start_remote

# Secrets of the local stack only: a random token signing key and the demo user's argon2
# hash, made once and kept in the state directory, and put into the emulator's Secrets
# Manager as the template's secrets are on AWS: the functions read them from there, and their
# environment holds only the secrets' ARNs.
[ -f "$STATE_DIR/jwt-secret" ] || head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$STATE_DIR/jwt-secret"
if [ ! -f "$STATE_DIR/auth-users.json" ] || [ "$(cat "$STATE_DIR/auth-user" 2>/dev/null)" != "$DEMO_USER:$DEMO_PASSWORD" ]; then
  hash=$(printf '%s' "$DEMO_PASSWORD" | "$local_stack" hash-password)
  printf '{"%s":"%s"}' "$DEMO_USER" "$hash" >"$STATE_DIR/auth-users.json"
  printf '%s' "$DEMO_USER:$DEMO_PASSWORD" >"$STATE_DIR/auth-user"
fi
[ -f "$STATE_DIR/ingest-clients.json" ] || echo '{}' >"$STATE_DIR/ingest-clients.json"
"$local_stack" secrets "$STATE_DIR/jwt-secret" "$STATE_DIR/auth-users.json" "$STATE_DIR/ingest-clients.json" >"$STATE_DIR/secrets.env" \
  || fail "could not create the secrets"
cat >"$STATE_DIR/functions.env" <<ENV
AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
ENTITIES_TABLE=$ENTITIES_TABLE
META_TABLE=$META_TABLE
REMOTE_BASE_URL=$REMOTE_BASE_URL
REMOTE_RATE_LIMIT=${REMOTE_RATE_LIMIT:-20}
SYNC_BUDGET_SECONDS=${SYNC_BUDGET_SECONDS:-20}
${SYNC_CALL_DEADLINE_SECONDS:+SYNC_CALL_DEADLINE_SECONDS=$SYNC_CALL_DEADLINE_SECONDS}
${SYNC_LEASE_SECONDS:+SYNC_LEASE_SECONDS=$SYNC_LEASE_SECONDS}
${SYNC_BACKOFF_SECONDS:+SYNC_BACKOFF_SECONDS=$SYNC_BACKOFF_SECONDS}
${SYNC_MAX_ATTEMPTS:+SYNC_MAX_ATTEMPTS=$SYNC_MAX_ATTEMPTS}
${REMOTE_TIMEOUT_MS:+REMOTE_TIMEOUT_MS=$REMOTE_TIMEOUT_MS}
$(cat "$STATE_DIR/queues.env")
$(cat "$STATE_DIR/secrets.env")
RUST_LOG=${RUST_LOG:-info}
${PS_AWS_AUDIT_DIR:+PS_AWS_AUDIT_DIR=$PS_AWS_AUDIT_DIR}
ENV

start_functions
start_gateway
"$local_stack" wait-port "127.0.0.1:$REMOTE_PORT" 60 || fail "json-server did not start"

echo "waiting for the API (the first start compiles each function once)..."
"$local_stack" wait "http://127.0.0.1:$API_PORT/posts?_limit=1" 600 || fail "the API did not become healthy"
"$local_stack" wait "http://127.0.0.1:$API_PORT/comments?_limit=1" 600 || fail "the API did not become healthy"
"$local_stack" wait "http://127.0.0.1:$API_PORT/admin/" 600 || fail "the console did not come up"

rm -f "$STATE_DIR/pump-checkpoint.json"  # a new emulator, a new stream
start_pump
echo "importing from the remote if the table is empty..."
(set -a; source "$STATE_DIR/functions.env"; set +a; "$CARGO_TARGET_DIR/debug/import" --if-empty) || fail "the import failed"
start_scheduler

cat <<MSG

placeholder-sync is up.
  admin console                http://127.0.0.1:$API_PORT/admin/   (log in as below)
  API (API Gateway stand-in)   http://127.0.0.1:$API_PORT   e.g. curl http://127.0.0.1:$API_PORT/posts
  functions (cargo lambda)     http://127.0.0.1:$LAMBDA_PORT
  AWS emulator ($EMULATOR)       $AWS_ENDPOINT_URL
  remote (json-server)         $REMOTE_BASE_URL
  sync                         every ${SYNC_INTERVAL:-30}s, or now: POST /sync/run; state: GET /sync/status
  login                        $DEMO_USER / $DEMO_PASSWORD  (POST /auth/token)
  logs                         $logs/
Stop it with: make down
MSG
