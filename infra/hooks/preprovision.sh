#!/bin/sh
# Before `azd provision`: what main.parameters.json needs that azd does not provide.
#  - AZURE_PRINCIPAL_NAME: the deploying person's sign-in name (the PostgreSQL Entra
#    administrator's role name; azd provides only their object id);
#  - AUTH_CLIENT_ID: the Entra app registration App Service Authentication signs finance
#    in with (single tenant, id tokens only, no secret); `assignment required` is set, so
#    only people assigned to it may sign in (README);
#  - FINANCE_EMAIL: asked for once.
. ./infra/hooks/env.sh

if [ -z "${AZURE_PRINCIPAL_NAME:-}" ]; then
  if [ "${AZURE_PRINCIPAL_TYPE:-User}" = "User" ]; then
    name=$(az ad signed-in-user show --query userPrincipalName -o tsv)
  else
    name=$(az ad sp show --id "$AZURE_PRINCIPAL_ID" --query displayName -o tsv)
  fi
  azd env set AZURE_PRINCIPAL_NAME "$name"
fi

if [ -z "${AUTH_CLIENT_ID:-}" ]; then
  app_id=$(az ad app create --display-name "shiftpay-payout-review-${AZURE_ENV_NAME}" \
    --sign-in-audience AzureADMyOrg --enable-id-token-issuance true --query appId -o tsv)
  az ad sp create --id "$app_id" >/dev/null
  az ad sp update --id "$app_id" --set appRoleAssignmentRequired=true
  azd env set AUTH_CLIENT_ID "$app_id"
fi

if [ -z "${FINANCE_EMAIL:-}" ]; then
  printf 'E-mail address(es) of finance (iteration email and alerts, comma-separated): '
  read -r address
  azd env set FINANCE_EMAIL "$address"
fi
