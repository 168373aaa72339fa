#!/usr/bin/env bash
# Set up driver-core and run the storage walk-through: the local provider and a local
# S3 server (moto), no cloud account needed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh bench
exec .venv/bin/python scripts/walkthrough.py "$@"
