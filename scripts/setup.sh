#!/usr/bin/env bash
# Create .venv and install driver-core with the extras named in $1 (default: test,dev),
# plus Azurite (npm) into .backends when the tests are wanted. Safe to run again: it
# only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test,dev}"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras}]"
  touch "$stamp"
fi
if [[ ",$extras," == *",test,"* ]] && [ ! -x .backends/node_modules/.bin/azurite-blob ]; then
  command -v npm >/dev/null || { echo "npm is needed to install Azurite (apt-get install -y npm)" >&2; exit 1; }
  npm install --prefix .backends --no-audit --no-fund --loglevel=error azurite@3.35 >/dev/null
fi
