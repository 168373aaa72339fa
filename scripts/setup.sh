#!/usr/bin/env bash
# Create .venv and install driver-core with the extras named in $1 (default: test,dev).
# With the test extra it also installs the servers the tests start: PowerDNS, dig and
# named-checkzone and the libvirt headers (Debian packages, when missing), and Azurite
# (npm, into .backends). Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test,dev}"
python=${PYTHON:-python3}

if [[ ",$extras," == *",test,"* ]]; then
  missing=()
  command -v pdns_server >/dev/null || missing+=(pdns-server)
  [ -f /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql ] || missing+=(pdns-backend-sqlite3)
  command -v dig >/dev/null || missing+=(dnsutils)
  command -v named-checkzone >/dev/null || missing+=(bind9-utils)
  pkg-config --exists libvirt 2>/dev/null || missing+=(libvirt-dev pkg-config)
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]} (apt-get)"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" sqlite3 >/dev/null
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
  touch "$stamp"
fi

if [[ ",$extras," == *",test,"* ]] && [ ! -x .backends/node_modules/.bin/azurite-blob ]; then
  command -v npm >/dev/null || { echo "npm is needed to install Azurite (apt-get install -y npm)" >&2; exit 1; }
  npm install --prefix .backends --no-audit --no-fund --loglevel=error azurite@3.35 >/dev/null
fi
