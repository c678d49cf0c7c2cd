#!/usr/bin/env bash
# `make run`: Redis, the four services and the web console on this machine (SQLite under ./data),
# the demo agents and feed, the queues and escalations; then keeps running until Ctrl-C and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${EARSHOT_DATA:-data}
REDIS_PORT=${EARSHOT_REDIS_PORT:-6390}
BIN=target/debug
mkdir -p "$DATA/redis" "$DATA/logs"

scripts/ensure-redis.sh
echo "building…"
cargo build --quiet --bins

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped. Data is kept in $DATA/ (make clean-data removes it)."
}
trap stop INT TERM EXIT

wait_for_port() {
  local name=$1 port=$2
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "${pids[-1]}" 2>/dev/null; then
      echo "$name exited; see $DATA/logs/$name.log" >&2; tail -5 "$DATA/logs/$name.log" >&2; exit 1
    fi
    sleep 0.2
  done
  echo "$name did not start on port $port; see $DATA/logs/$name.log" >&2
  exit 1
}

REDIS_SERVER=$(command -v redis-server || echo /usr/bin/redis-server)
"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA/redis" --appendonly yes --save "" \
  >"$DATA/logs/redis.log" 2>&1 &
pids+=($!)
wait_for_port redis "$REDIS_PORT"

export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
# The services share a credential for their calls to each other (created on first start).
export EARSHOT_SERVICE_KEY_FILE="$DATA/service.key"
start() {
  local name=$1 port=$2
  EARSHOT_LISTEN="127.0.0.1:$port" DATABASE_URL="sqlite://$DATA/$name.db?mode=rwc" \
    "$BIN/earshot-$name" >"$DATA/logs/$name.log" 2>&1 &
  pids+=($!)
  wait_for_port "$name" "$port"
  echo "earshot-$name listening on 127.0.0.1:$port"
}
start escalation 50054
start routing 50053
start classify 50052
start ingest 50051
CONSOLE_PORT=${EARSHOT_CONSOLE_PORT:-8080}
EARSHOT_CONSOLE_LISTEN="127.0.0.1:$CONSOLE_PORT" "$BIN/earshot-console" >"$DATA/logs/console.log" 2>&1 &
pids+=($!)
wait_for_port console "$CONSOLE_PORT"
echo "earshot-console on http://127.0.0.1:$CONSOLE_PORT"

"$BIN/earshotctl" demo
cat <<MSG

Earshot is running (logs in $DATA/logs/). Open the console at http://127.0.0.1:$CONSOLE_PORT and
sign in with the agent, supervisor or admin key above. On this host earshotctl uses the services' credential
($DATA/service.key); elsewhere pass one of the keys above as --key. Try:
  $BIN/earshotctl queue                       # queues in agent order
  $BIN/earshotctl agent next ana              # offer ana her best case
  $BIN/earshotctl escalations watch           # live supervisor stream
  $BIN/earshotctl keys list                   # API keys (keys create --role … / keys revoke ID)
  grpcurl -plaintext localhost:50051 list     # reflection (no key needed; calls need -H 'authorization: Bearer …')
  curl -s localhost:9451/metrics              # Prometheus metrics (ingest; classify 9452, routing 9453, escalation 9454)
Press Ctrl-C to stop.
MSG
wait "${pids[0]}"
