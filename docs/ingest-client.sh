#!/usr/bin/env bash
# A machine client of POST /ingest in a few lines of shell: signs the body with the client's
# secret (HMAC-SHA256 of "<unix seconds>.<body>") and sends it.
#   INGEST_URL=http://127.0.0.1:8080 INGEST_CLIENT=nightly INGEST_SECRET=... \
#     docs/ingest-client.sh '{"items":[...]}' [Idempotency-Key]
#   docs/ingest-client.sh --status        # GET /ingest/status, signed over an empty body
set -euo pipefail
url="${INGEST_URL:-http://127.0.0.1:8080}"
: "${INGEST_CLIENT:?the client name}" "${INGEST_SECRET:?the client secret}"
sign() { printf '%s.%s' "$1" "$2" | openssl dgst -sha256 -hmac "$INGEST_SECRET" -hex | sed 's/^.* //'; }
t=$(date +%s)
if [ "${1:-}" = --status ]; then
  exec curl -sS "$url/ingest/status" -H "X-Ingest-Signature: t=$t,client=$INGEST_CLIENT,v1=$(sign "$t" '')"
fi
body="$1"
exec curl -sS -X POST "$url/ingest" -H 'Content-Type: application/json' \
  -H "X-Ingest-Signature: t=$t,client=$INGEST_CLIENT,v1=$(sign "$t" "$body")" \
  ${2:+-H "Idempotency-Key: $2"} --data-binary "$body" -w '\n%{http_code}\n'
