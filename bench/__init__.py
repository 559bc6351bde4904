"""Framewise benchmarks: `.venv/bin/python -m bench.run [--only 7,12]` writes docs/BENCHMARKS.md."""
