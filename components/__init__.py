"""Reusable UI: cached services, chart builders, the frame viewer, tables and small helpers."""
