#!/usr/bin/env bash
# `make reconcile`: compares the whole remote with the master copy on the running local stack
# (POST /sync/reconcile with the demo user's token) and prints what it found. Changes nothing
# unless asked: ARGS=--repair makes each differing or missing entity a pending change of the
# sync (the next sync sends it); --delete-orphans deletes remote records no local entity
# holds whose data equals a local entity's (likely duplicates); --delete-orphans=all deletes
# foreign ones too.
set -euo pipefail
source "$(dirname "$0")/env.sh"
query=()
for arg in "$@"; do
  case "$arg" in
    "") ;;
    --repair) query+=("repair=true") ;;
    --delete-orphans | --delete-orphans=duplicates) query+=("deleteOrphans=duplicates") ;;
    --delete-orphans=all) query+=("deleteOrphans=all") ;;
    *) echo "make reconcile: unknown argument $arg (takes --repair, --delete-orphans[=all])" >&2; exit 2 ;;
  esac
done
api="http://127.0.0.1:$API_PORT"
curl -sf "$api/posts?_limit=1" >/dev/null || { echo "the local stack is not up (make up)" >&2; exit 1; }
token=$(curl -sf -X POST "$api/auth/token" -H 'content-type: application/json' \
  -d "{\"username\":\"$DEMO_USER\",\"password\":\"$DEMO_PASSWORD\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
joined=$(IFS='&'; echo "${query[*]:-}")
status=$(curl -s -o "$STATE_DIR/reconcile.json" -w '%{http_code}' -X POST "$api/sync/reconcile${joined:+?$joined}" \
  -H "authorization: Bearer $token")
python3 -m json.tool "$STATE_DIR/reconcile.json" 2>/dev/null || cat "$STATE_DIR/reconcile.json"
[ "$status" = 200 ] || { echo "POST /sync/reconcile answered $status" >&2; exit 1; }
