#!/usr/bin/env bash
# azd preprovision hook: who becomes the SQL server's Entra administrator. With
# FRAMEWISE_SQL_ADMIN_GROUP_ID and _NAME set, that group (the team's choice: anyone in it, a CI
# service principal too, can run the grant). Otherwise the deploying user, whose sign-in name
# this stores as AZURE_PRINCIPAL_NAME (azd knows the object id, AZURE_PRINCIPAL_ID, not the name).
set -euo pipefail
get() { azd env get-value "$1" 2>/dev/null || true; }
group_id="${FRAMEWISE_SQL_ADMIN_GROUP_ID:-$(get FRAMEWISE_SQL_ADMIN_GROUP_ID)}"
if [ -n "$group_id" ]; then
  if [ -z "${FRAMEWISE_SQL_ADMIN_GROUP_NAME:-$(get FRAMEWISE_SQL_ADMIN_GROUP_NAME)}" ]; then
    echo "error: FRAMEWISE_SQL_ADMIN_GROUP_ID is set but not FRAMEWISE_SQL_ADMIN_GROUP_NAME (the group's display name): azd env set FRAMEWISE_SQL_ADMIN_GROUP_NAME '<name>'" >&2
    exit 1
  fi
  exit 0
fi
if [ -z "${AZURE_PRINCIPAL_NAME:-$(get AZURE_PRINCIPAL_NAME)}" ]; then
  if ! name=$(az ad signed-in-user show --query userPrincipalName -o tsv 2>/dev/null) \
      || [ -z "$name" ]; then
    echo "error: the Azure CLI is not signed in as a user (a service principal, or no \`az login\`): without FRAMEWISE_SQL_ADMIN_GROUP_ID and FRAMEWISE_SQL_ADMIN_GROUP_NAME (a group the deploying identity belongs to) the SQL administrator is the signed-in user; see docs/DEPLOY.md" >&2
    exit 1
  fi
  azd env set AZURE_PRINCIPAL_NAME "$name"
fi
