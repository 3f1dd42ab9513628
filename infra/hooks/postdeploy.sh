#!/bin/sh
# After the code is up: one Event Grid subscription per blob trigger
# (infra/event-subscriptions.bicep). Only now does the host have the blobs extension's key,
# and Event Grid validates the webhook when it subscribes. Deploying it again is a no-op.
. ./infra/hooks/env.sh

az deployment group create -g "$AZURE_RESOURCE_GROUP" --name event-subscriptions \
  --template-file infra/event-subscriptions.bicep \
  --parameters functionAppName="$AZURE_FUNCTION_APP_NAME" \
    eventGridTopicName="$EVENT_GRID_TOPIC_NAME" \
    misStorageAccountName="$MIS_STORAGE_ACCOUNT_NAME" >/dev/null
echo "Event Grid subscriptions for mis_uploaded, remittance_uploaded and wallet_confirmation_uploaded are in place"
