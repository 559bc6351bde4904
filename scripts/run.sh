#!/usr/bin/env bash
# Set up (first time) and serve Framewise on the embedded defaults: http://localhost:8501
set -euo pipefail
source "$(dirname "$0")/venv.sh" requirements.txt
# Uploads stream to the app's own route, which enforces FRAMEWISE_MAX_UPLOAD_MB (from .env too).
exec .venv/bin/python -m streamlit run app.py "$@"
