"""Framewise benchmarks: `.venv/bin/python -m bench.run` writes docs/BENCHMARKS.md."""
