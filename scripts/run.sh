#!/usr/bin/env bash
# Set up (first time) and serve Framewise on the embedded defaults: http://localhost:8501
set -euo pipefail
source "$(dirname "$0")/venv.sh" requirements.txt
# Streamlit's own upload limit follows FRAMEWISE_MAX_UPLOAD_MB (read from .env too).
limit=$(.venv/bin/python -c 'from services.config import load_settings; print(load_settings().max_upload_mb)')
export STREAMLIT_SERVER_MAX_UPLOAD_SIZE="$limit"
exec .venv/bin/python -m streamlit run app.py "$@"
