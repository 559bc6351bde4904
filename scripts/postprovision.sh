#!/usr/bin/env bash
# azd postprovision hook: create the web app's database user with the roles it needs. Bicep
# cannot (an Entra admin must run CREATE USER ... FROM EXTERNAL PROVIDER); the deploying user is
# that admin and signs in through the Azure CLI (`az login`). Also usable by hand, see
# docs/DEPLOY.md. Needs Microsoft's ODBC Driver 18 on this machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for name in WEB_APP_NAME WEB_APP_PRINCIPAL_ID DATABASE_URL; do
  if [ -z "${!name:-}" ]; then
    # Outside azd (run by hand): read the values azd stored for the current environment.
    eval "$(azd env get-values | grep -E '^(WEB_APP_NAME|WEB_APP_PRINCIPAL_ID|DATABASE_URL)=')"
    break
  fi
done
source scripts/venv.sh requirements.txt  # pyodbc and azure-identity for the CLI
DATABASE_URL="$DATABASE_URL" .venv/bin/python cli.py db grant-identity "$WEB_APP_NAME" \
  --object-id "$WEB_APP_PRINCIPAL_ID"
