"""The commands of `cli.py`, one module per group; each is imported only when its command runs."""
