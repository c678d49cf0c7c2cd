#!/usr/bin/env bash
# Makes sure redis-server is installed: installs Debian's package when missing and running as
# root, otherwise says what to install.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server is missing; installing Debian's redis-server package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
  exit 0
fi
cat >&2 <<'MSG'
redis-server is required but not installed.
  Debian/Ubuntu: sudo apt-get install redis-server
  macOS:         brew install redis
Or point REDIS_SERVER at a redis-server binary.
MSG
exit 1
