#!/usr/bin/env bash
# Stops exactly the processes up.sh started, by the pid files it wrote.
set -uo pipefail
source "$(dirname "$0")/env.sh"
pids="$STATE_DIR/pids"
compgen -G "$pids/*.pid" >/dev/null || { echo "the local stack is not running"; exit 0; }
for f in "$pids"/*.pid; do
  pid=$(cat "$f")
  # Each was started as its own process group leader; stop the group (cargo lambda watch
  # runs the functions as children).
  kill -TERM -- "-$pid" 2>/dev/null
done
for _ in $(seq 1 50); do
  remaining=0
  for f in "$pids"/*.pid; do kill -0 -- "-$(cat "$f")" 2>/dev/null && remaining=1; done
  [ "$remaining" = 0 ] && break
  sleep 0.2
done
for f in "$pids"/*.pid; do kill -KILL -- "-$(cat "$f")" 2>/dev/null; rm -f "$f"; done
echo "the local stack is down"
