#!/usr/bin/env bash
# Install everything the tests need, lint, type-check, then run the whole test suite.
# Extra arguments go to pytest (for example: bash scripts/test.sh -k aws -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,dev
echo "== ruff"; .venv/bin/ruff check .
echo "== mypy"; .venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
