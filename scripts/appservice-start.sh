#!/usr/bin/env bash
# App Service startup command (infra/core/host/appservice.bicep, appCommandLine): bring the
# database to the latest schema, then serve Streamlit on $PORT. If this fails App Service shows
# its default page; the reason is in the log stream (docs/DEPLOY.md, Troubleshooting).
# `python` is the interpreter of the venv the build made (Oryx activates it before this runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port="${PORT:-8000}"
python cli.py db upgrade
# Streamlit's own upload limit follows FRAMEWISE_MAX_UPLOAD_MB, as in scripts/run.sh.
limit=$(python -c 'from services.config import load_settings; print(load_settings().max_upload_mb)')
export STREAMLIT_SERVER_MAX_UPLOAD_SIZE="$limit"
exec python -m streamlit run app.py --server.port "$port" --server.address 0.0.0.0 \
  --server.headless true --browser.gatherUsageStats false
