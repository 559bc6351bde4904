#!/usr/bin/env bash
# Run benchmark sections and write docs/BENCHMARKS.md (from bench/results.json). Every section:
# about 20 minutes on the 2-core machine (the sections' last runs added up; more under load; the
# first run also generates the videos into bench/out/). `--only 7,12` runs those sections and
# keeps every other section's last figures. Extra arguments go to bench.run.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.run "$@"
