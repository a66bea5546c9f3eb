# The local stack's processes, each started in a process group of its own with its pid file
# and log in $STATE_DIR: sourced after env.sh by up.sh, and by chaos.sh to kill and restart
# one of them.
pids="$STATE_DIR/pids"
logs="$STATE_DIR/logs"

start() { # name command...: starts a process in its own process group, remembering its pid
  local name=$1; shift
  mkdir -p "$pids" "$logs"
  setsid "$@" >>"$logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$pids/$name.pid"
}

# Every process below `pid`, children first.
descendants() {
  local child
  for child in $(pgrep -P "$1"); do
    descendants "$child"
    echo "$child"
  done
}

# Kills a component at once (SIGKILL), with every process under it: cargo lambda watch runs
# each function in a process group of its own.
kill_component() {
  local file="$pids/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  kill -KILL $(descendants "$pid") 2>/dev/null
  kill -KILL -- "-$pid" 2>/dev/null
  rm -f "$file"
}

start_emulator() { start emulator python "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$EMULATOR_PORT"; }
# json-server through infra/local/remote.js: it writes its db file before answering (see there).
start_remote() {
  start remote env NODE_PATH="$root/.tools/node/node_modules" node "$root/infra/local/remote.js" \
    --host 127.0.0.1 --port "$REMOTE_PORT" "$STATE_DIR/remote-db.json"
}
start_functions() {
  (cd "$root" && start functions cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --env-file "$STATE_DIR/functions.env")
}
start_gateway() {
  (cd "$root" && GATEWAY_ADDR="127.0.0.1:$API_PORT" LAMBDA_INVOKE_URL="http://127.0.0.1:$LAMBDA_PORT" TEMPLATE="$root/template.yaml" start gateway "$local_stack" gateway)
}
# The event source mapping and the schedule, which moto does not run.
start_pump() {
  (set -a; source "$STATE_DIR/functions.env"; set +a
   LAMBDA_INVOKE_URL="http://127.0.0.1:$LAMBDA_PORT" PUMP_CHECKPOINT_FILE="$STATE_DIR/pump-checkpoint.json" \
     start pump "$local_stack" pump)
}
start_scheduler() {
  (LAMBDA_INVOKE_URL="http://127.0.0.1:$LAMBDA_PORT" SYNC_INTERVAL="${SYNC_INTERVAL:-30}" start scheduler "$local_stack" scheduler)
}
