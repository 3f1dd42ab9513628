#!/bin/sh
# After `azd provision`: the app registration's redirect URI, now that the app's host name
# exists (App Service Authentication's callback).
. ./infra/hooks/env.sh

az ad app update --id "$AUTH_CLIENT_ID" \
  --web-redirect-uris "${SERVICE_API_URI}/.auth/login/aad/callback"
