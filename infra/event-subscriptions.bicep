// The Event Grid subscriptions of the three blob triggers (Flex Consumption fires a blob
// trigger only from Event Grid). Deployed by the postdeploy hook (infra/hooks/postdeploy.sh),
// not by main.bicep: the webhook needs the `blobs_extension` key, which exists only once
// a host runs the deployed code, and Event Grid validates the endpoint when it subscribes.
// Each: BlobCreated only, one container, dead-lettered into the MIS account.

param functionAppName string
param eventGridTopicName string
param misStorageAccountName string
param deadLetterContainer string = 'eventgrid-deadletter'

// function name (function_app.py) -> the container it watches (app setting of the same name)
var subscriptions = [
  { function: 'mis_uploaded', containerSetting: 'MIS_CONTAINER' }
  { function: 'remittance_uploaded', containerSetting: 'REMITTANCE_CONTAINER' }
  { function: 'wallet_confirmation_uploaded', containerSetting: 'WALLET_CONFIRMATION_CONTAINER' }
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' existing = {
  parent: functionApp
  name: 'appsettings'
}

resource misStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: misStorageAccountName
}

resource eventGridTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: eventGridTopicName
}

var blobsExtensionKey = listKeys('${functionApp.id}/host/default', '2024-04-01').systemKeys.blobs_extension
var containers = list(appSettings.id, '2024-04-01').properties

resource blobCreated 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [
  for subscription in subscriptions: {
    parent: eventGridTopic
    name: replace(subscription.function, '_', '-')
    properties: {
      destination: {
        endpointType: 'WebHook'
        properties: {
          endpointUrl: 'https://${functionApp.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${subscription.function}&code=${blobsExtensionKey}'
        }
      }
      filter: {
        includedEventTypes: ['Microsoft.Storage.BlobCreated']
        subjectBeginsWith: '/blobServices/default/containers/${containers[subscription.containerSetting]}/blobs/'
      }
      eventDeliverySchema: 'EventGridSchema'
      retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
      deadLetterWithResourceIdentity: {
        identity: { type: 'SystemAssigned' }
        deadLetterDestination: {
          endpointType: 'StorageBlob'
          properties: {
            resourceId: misStorage.id
            blobContainerName: deadLetterContainer
          }
        }
      }
    }
  }
]
