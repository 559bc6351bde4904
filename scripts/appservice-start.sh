#!/usr/bin/env bash
# App Service startup command (infra/core/host/appservice.bicep, appCommandLine): bring the
# database to the latest schema, then serve Streamlit on $PORT. If this fails App Service shows
# its default page; the reason is in the log stream (docs/DEPLOY.md, Troubleshooting).
# `python` is the interpreter of the venv the build made (Oryx activates it before this runs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
port="${PORT:-8000}"
python cli.py db upgrade
# Uploads stream to the app's own route, which enforces FRAMEWISE_MAX_UPLOAD_MB.
exec python -m streamlit run app.py --server.port "$port" --server.address 0.0.0.0 \
  --server.headless true --browser.gatherUsageStats false
