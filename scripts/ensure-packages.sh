#!/usr/bin/env bash
# Makes sure the programs the tests need are installed: each argument is "program=debian-package".
# Missing ones are installed from Debian's packages in one apt-get run when running as root (as CI
# does); otherwise the script says what to install and fails.
set -euo pipefail

missing=()
for pair in "$@"; do
  program="${pair%%=*}"
  package="${pair#*=}"
  if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/bin/$program" ]; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
  exit 0
fi
echo "missing: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
exit 1
