#!/bin/sh
# After `azd down`: the review page's app registration, which lives in Entra ID, not in
# the resource group.
. ./infra/hooks/env.sh

if [ -n "${AUTH_CLIENT_ID:-}" ]; then
  az ad app delete --id "$AUTH_CLIENT_ID"
  azd env set AUTH_CLIENT_ID ""
fi
