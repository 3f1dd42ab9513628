#!/bin/sh
# Before the code goes up: the schema, as the deploying person (the server's Entra
# administrator, signed in with `az login`). The new code refuses to run on an older
# schema (payout_core/ledger/db.py, open_checked_pool), so the database moves first; the
# code still running meets a newer schema for a moment, which it accepts.
#  1. a firewall rule for this machine's public address, removed again on exit;
#  2. `payout db migrate` with the person's Entra token;
#  3. the app's identity as a non-administrator Entra role, granted the app's privileges
#     (localdev/azure_database.py).
. ./infra/hooks/env.sh

if [ ! -x .venv/bin/payout ]; then
  echo "no .venv/bin/payout: run 'make setup' first (README, 'Deploying to Azure')" >&2
  exit 1
fi

address=${DEPLOYER_IP_ADDRESS:-$(curl -fsS https://api.ipify.org)}
rule="azd-deploy-$(date +%s)"
az postgres flexible-server firewall-rule create -g "$AZURE_RESOURCE_GROUP" \
  -n "$POSTGRES_SERVER_NAME" --rule-name "$rule" \
  --start-ip-address "$address" --end-ip-address "$address" >/dev/null
trap 'az postgres flexible-server firewall-rule delete -g "$AZURE_RESOURCE_GROUP" \
  -n "$POSTGRES_SERVER_NAME" --rule-name "$rule" --yes >/dev/null' EXIT

admin=$(.venv/bin/python -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$AZURE_PRINCIPAL_NAME")
PAYOUT_DATABASE_URL="postgresql://${admin}@${POSTGRES_HOST}:5432/${POSTGRES_DATABASE}?sslmode=require" \
PAYOUT_DATABASE_AUTH=entra \
  .venv/bin/payout db migrate

.venv/bin/python -m localdev.azure_database --host "$POSTGRES_HOST" \
  --database "$POSTGRES_DATABASE" --admin "$AZURE_PRINCIPAL_NAME" \
  --app-role "$APP_IDENTITY_NAME" --app-object-id "$APP_IDENTITY_PRINCIPAL_ID"
