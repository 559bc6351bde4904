#!/usr/bin/env bash
# Install everything the tests need (first time) and run the whole suite; extra args go to pytest.
set -euo pipefail
source "$(dirname "$0")/venv.sh" requirements-dev.txt
source scripts/test-tools.sh
exec .venv/bin/python -m pytest "$@"
