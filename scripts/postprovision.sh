#!/usr/bin/env bash
# azd postprovision hook: create the web app's database user with the roles it needs. Bicep
# cannot (an Entra admin must run CREATE USER in the database); the deploying user is that admin
# (or a member of the admin group) and signs in through the Azure CLI, which must be the same
# account as azd's (checked). The grant leaves an existing user with the right SID alone, lets
# this machine through the SQL firewall only while it runs, and waits out a paused database.
# Also usable by hand, see docs/DEPLOY.md. Needs Microsoft's ODBC Driver 18 on this machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
names='WEB_APP_NAME|WEB_APP_PRINCIPAL_ID|DATABASE_URL|AZURE_RESOURCE_GROUP|AZURE_PRINCIPAL_ID|FRAMEWISE_SQL_ADMIN_GROUP_ID'
if [ -z "${WEB_APP_NAME:-}" ]; then
  # Outside azd (run by hand): read the values azd stored for the current environment.
  eval "$(azd env get-values | grep -E "^($names)=")"
fi
for name in WEB_APP_NAME WEB_APP_PRINCIPAL_ID DATABASE_URL AZURE_RESOURCE_GROUP; do
  if [ -z "${!name:-}" ]; then
    echo "error: $name is not set: run \`azd provision\` first" >&2
    exit 1
  fi
done
# The identity's client id is its SID in the database (az reads it from Entra ID).
client_id=$(az ad sp show --id "$WEB_APP_PRINCIPAL_ID" --query appId -o tsv)
args=(db grant-identity "$WEB_APP_NAME" --object-id "$WEB_APP_PRINCIPAL_ID"
      --client-id "$client_id" --open-firewall "$AZURE_RESOURCE_GROUP")
if [ -z "${FRAMEWISE_SQL_ADMIN_GROUP_ID:-}" ] && [ -n "${AZURE_PRINCIPAL_ID:-}" ]; then
  args+=(--admin-id "$AZURE_PRINCIPAL_ID")  # the deployer is the admin: az must be it too
fi
source scripts/venv.sh requirements.txt  # pyodbc and azure-identity for the CLI
DATABASE_URL="$DATABASE_URL" .venv/bin/python cli.py "${args[@]}"
