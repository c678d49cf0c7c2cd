#!/usr/bin/env bash
# Makes sure redis-server is installed (Debian's package when missing and running as root). Set
# REDIS_SERVER to use a redis-server elsewhere.
set -euo pipefail
if [ -n "${REDIS_SERVER:-}" ]; then
  exit 0
fi
exec "$(dirname "$0")/ensure-packages.sh" redis-server=redis-server
