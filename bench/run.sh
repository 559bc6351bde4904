#!/usr/bin/env bash
# Run every benchmark once and write docs/BENCHMARKS.md (about 12 minutes on 2 cores; the first
# run also generates the videos into bench/out/). Extra arguments go to bench.run (--only 1,4).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.run "$@"
