#!/usr/bin/env bash
# Runs the command given with a PostgreSQL server of its own: a fresh cluster (initdb) in a
# temporary folder, listening on a free loopback port only, named by EARSHOT_TEST_POSTGRES
# (postgres://postgres@127.0.0.1:<port>). The server and its folder are removed afterwards, also
# when the command fails. As root (as CI runs) the server runs as the `postgres` user, and Debian's
# postgresql package is installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
bin=$(find_bin)
if [ -z "$bin" ]; then
  scripts/ensure-packages.sh pg_ctlcluster=postgresql
  bin=$(find_bin)
fi
[ -x "$bin/initdb" ] || { echo "with-postgres: no initdb under /usr/lib/postgresql" >&2; exit 1; }

as_server() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

dir=$(mktemp -d)
[ "$(id -u)" = "0" ] && chown postgres: "$dir"
stop() {
  as_server "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_server "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=500" start >/dev/null
echo "with-postgres: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
EARSHOT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port" "$@"
