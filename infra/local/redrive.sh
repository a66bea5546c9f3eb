#!/usr/bin/env bash
# `make redrive`: puts the changes parked in the dead-letter queue back into the sync, on the
# running local stack, through POST /sync/redrive with the demo user's token. One entity's
# only with ARGS="entity=post&id=5". Prints what was put back and what was left parked.
set -euo pipefail
source "$(dirname "$0")/env.sh"
api="http://127.0.0.1:$API_PORT"
curl -sf "$api/posts?_limit=1" >/dev/null || { echo "the local stack is not up (make up)" >&2; exit 1; }
token=$(curl -sf -X POST "$api/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"$DEMO_USER\",\"password\":\"$DEMO_PASSWORD\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
query="${1:+?$1}"
curl -s -X POST "$api/sync/redrive$query" -H "authorization: Bearer $token"
echo
