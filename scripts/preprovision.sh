#!/usr/bin/env bash
# azd preprovision hook: the SQL administrator's sign-in name, when the environment lacks it
# (azd knows the deploying user's object id, AZURE_PRINCIPAL_ID, but not the name).
set -euo pipefail
if [ -z "$(azd env get-value AZURE_PRINCIPAL_NAME 2>/dev/null || true)" ]; then
  name=$(az ad signed-in-user show --query userPrincipalName -o tsv)
  azd env set AZURE_PRINCIPAL_NAME "$name"
fi
