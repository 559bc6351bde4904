#!/usr/bin/env bash
# Install everything the tests need (first time) and run the whole suite; extra args go to pytest.
# With no arguments (the whole suite, as CI runs it) ruff and mypy must pass first.
set -euo pipefail
source "$(dirname "$0")/venv.sh" requirements-dev.txt
source scripts/test-tools.sh
if [ "$#" -eq 0 ]; then
  .venv/bin/ruff check .
  .venv/bin/python -m mypy
fi
exec .venv/bin/python -m pytest "$@"
