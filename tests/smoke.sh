#!/usr/bin/env bash
# The end-to-end smoke test: `make up` on ports of its own (so it never touches a running
# stack), the smoke test over real HTTP, then `make down`, whatever happened.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export API_PORT="${SMOKE_API_PORT:-$(free_port)}" LAMBDA_PORT="${SMOKE_LAMBDA_PORT:-$(free_port)}"
export EMULATOR_PORT="${SMOKE_EMULATOR_PORT:-$(free_port)}" REMOTE_PORT="${SMOKE_REMOTE_PORT:-$(free_port)}"
export STATE_DIR="$root/.local/smoke" EMULATOR=moto
unset AWS_ENDPOINT_URL
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/placeholder-sync/target}"

# Build the smoke test before the stack is up: cargo must not hold the build lock while
# `cargo lambda watch` compiles functions.
test_bin() {
  cargo test --locked -p placeholder-sync-tests --test "$1" --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1"
}
smoke_bin=$(test_bin smoke)
iam_bin=$(test_bin iam)
[ -x "$smoke_bin" ] && [ -x "$iam_bin" ] || { echo "smoke: could not build the smoke and iam tests" >&2; exit 1; }

rm -rf "$STATE_DIR"
# Every function records the IAM actions of each AWS request it makes (ps_aws::audit);
# the iam test below holds infra/iam/needs.yaml and the template to what they did.
export PS_AWS_AUDIT_DIR="$STATE_DIR/aws-audit"
# A refused change is parked at its first refusal, so the smoke test sees parking and redrive.
export SYNC_MAX_ATTEMPTS=1
trap 'infra/local/down.sh >/dev/null; echo "smoke: stack down"' EXIT
infra/local/up.sh
SMOKE_API_URL="http://127.0.0.1:$API_PORT" SMOKE_REMOTE_URL="http://127.0.0.1:$REMOTE_PORT" "$smoke_bin" --ignored --test-threads 1
# A second `make up` while up must change nothing.
infra/local/up.sh | grep -q "already up"

# Real clients: react-admin's json-server data provider against the stack, with a token...
api="http://127.0.0.1:$API_PORT"
token=$(curl -sf -X POST "$api/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"${DEMO_USER:-demo}\",\"password\":\"${DEMO_PASSWORD:-demo-password}\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
node tests/clients/react-admin.mjs "$api" "$token"
# ...and the same script against json-server 0.17.4 (what JSONPlaceholder runs) on the same
# data: the script's expectations are json-server's, not ours.
js_port=$(free_port)
cp fixtures/jsonplaceholder.json "$STATE_DIR/react-admin-db.json"
.tools/node/node_modules/.bin/json-server --host 127.0.0.1 --port "$js_port" "$STATE_DIR/react-admin-db.json" \
  >"$STATE_DIR/react-admin-json-server.log" 2>&1 &
js_pid=$!
trap 'kill $js_pid 2>/dev/null || true; infra/local/down.sh >/dev/null; echo "smoke: stack down"' EXIT
"$CARGO_TARGET_DIR/debug/local-stack" wait-port "127.0.0.1:$js_port" 30
node tests/clients/react-admin.mjs "http://127.0.0.1:$js_port"
kill "$js_pid"

# The admin console in headless Chromium, as a person uses it (console/e2e): a screenshot
# of each step under .local/smoke/console-e2e/.
API_URL="$api" REMOTE_URL="http://127.0.0.1:$REMOTE_PORT" OUT_DIR="$STATE_DIR/console-e2e" \
  node console/e2e/console.e2e.mjs

# A machine client: added with `make client`'s command, its batches signed and sent by
# docs/ingest-client.sh (the README's example): applied, repeated (409), refused whole (400),
# then a replace, deletes (a post with its comments) and its status.
client_added=$(set -a; source "$STATE_DIR/functions.env"; set +a
  INGEST_CLIENTS_FILE="$STATE_DIR/ingest-clients.json" "$CARGO_TARGET_DIR/debug/local-stack" client add smoke-client)
export INGEST_URL="$api" INGEST_CLIENT=smoke-client
INGEST_SECRET=$(sed -n 's/.*(shown only now): //p' <<<"$client_added")
export INGEST_SECRET
expect() { # expect STATUS BODY [KEY]: sends, checks the status, prints the answer's body
  local out; out=$(docs/ingest-client.sh "$2" ${3:+"$3"})
  [ "$(tail -1 <<<"$out")" = "$1" ] || { echo "ingest: expected $1, got: $out" >&2; exit 1; }
  head -n -1 <<<"$out"
}
batch='{"items":[{"op":"upsert","entity":"post","ref":"p","data":{"title":"from a machine","body":"b"}},{"op":"upsert","entity":"comment","data":{"postRef":"p","name":"n","email":"m@example.com","body":"b"}}]}'
ids=$(expect 202 "$batch" | python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(r[0]["id"], r[1]["id"])')
read -r machine_post machine_comment <<<"$ids"
expect 409 "$batch" >/dev/null
expect 400 '{"items":[{"op":"upsert","entity":"post","data":{"title":"never","body":"b"}},{"op":"delete","entity":"post","id":999999}]}' >/dev/null
curl -sf "$api/posts?title=never" | python3 -c 'import json,sys; assert json.load(sys.stdin) == [], "a refused batch wrote"'
expect 202 "{\"items\":[{\"op\":\"upsert\",\"entity\":\"post\",\"id\":$machine_post,\"data\":{\"title\":\"from a machine, replaced\",\"body\":\"b\"}},{\"op\":\"upsert\",\"entity\":\"comment\",\"data\":{\"postId\":$machine_post,\"name\":\"n2\",\"email\":\"m@example.com\",\"body\":\"b\"}}]}" >/dev/null
expect 202 "{\"items\":[{\"op\":\"delete\",\"entity\":\"comment\",\"id\":$machine_comment},{\"op\":\"delete\",\"entity\":\"post\",\"id\":$machine_post}]}" >/dev/null
[ "$(curl -s -o /dev/null -w '%{http_code}' "$api/posts/$machine_post")" = 404 ]
docs/ingest-client.sh --status | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["client"] == "smoke-client" and s["written"] == 3, s; print("ingest status:", s)'

# The contract: schemathesis from openapi.json, writes included; no 5xx, nothing off-contract.
python3 tests/fuzz.py --url "$api" --examples "${FUZZ_EXAMPLES:-25}"

# The functions' logs are JSON lines that carry their invocation's request id, and each sync
# run wrote its metrics as an Embedded Metric Format line (what CloudWatch turns into metrics).
python3 - "$STATE_DIR/logs/functions.log" <<'PY'
import json, sys
def parsed(line):
    try:
        return json.loads(line)
    except ValueError:  # cargo lambda's own lines, a line cut by a kill
        return None
logged = [p for p in map(parsed, open(sys.argv[1], errors="replace")) if isinstance(p, dict)]
ids = [l for l in logged if l.get("span", {}).get("requestId")]
emf = [l for l in logged if l.get("_aws", {}).get("CloudWatchMetrics", [{}])[0].get("Namespace") == "placeholder-sync"]
assert ids, "no log line carries a request id"
assert emf and "Synced" in emf[-1], "no sync run wrote its metrics"
print(f"logs: {len(ids)} lines with a request id, {len(emf)} metric lines")
PY

# Every AWS call the functions made above is in the needs table, which the template grants.
PS_AWS_AUDIT_DIR="$PS_AWS_AUDIT_DIR" "$iam_bin" --ignored --exact the_needs_table_is_what_the_functions_were_seen_doing
