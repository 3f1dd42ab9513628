// ShiftPay payouts on Azure: what `azd up` provisions (README "Deploying to Azure").
// Subscription scope: one resource group per azd environment, everything else in
// app.bicep (the app and what it uses) and alerts.bicep (the alerts). The Event Grid
// subscriptions are in event-subscriptions.bicep, deployed by the postdeploy hook: they
// need the webhook key of a host that runs the deployed code.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names and tags every resource.')
param environmentName string

@minLength(1)
@description('Region of every resource (Flex Consumption and PostgreSQL Flexible Server must both be offered there).')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of the person (or pipeline) running azd: PostgreSQL Entra administrator, so the predeploy hook can migrate the schema with their token.')
param principalId string

@description('Name azd signs in with (a user principal name, or a service principal\'s display name): the PostgreSQL role of the Entra administrator.')
param principalName string

@allowed(['User', 'Group', 'ServicePrincipal'])
param principalType string = 'User'

@description('Client id of the Entra app registration App Service Authentication signs finance in with (made by the preprovision hook).')
param authClientId string

@description('Recipients of the iteration email (comma-separated).')
param financeEmail string

@description('Where the alerts go (one address); blank: the first of financeEmail.')
param alertEmail string = ''

@description('NCRONTAB schedule (UTC, with seconds) of the iteration email; each run closes a payout cycle.')
param summarySchedule string = '0 0 6 * * *'

@description('Hours without a successful run of the summary job before the cycle alert fires.')
param cycleOverdueHours int = 26

@description('Days a held payout event may wait for a decision before its alert fires.')
param holdMaxAgeDays int = 3

@description('An event whose payout is above this waits for approval (blank: no limit).')
param holdEventAbove string = ''

@description('Every event of an SP whose cycle total would be above this waits (blank: no limit).')
param holdSpCycleAbove string = ''

// Two GUIDs (2 x 122 random bits) drawn at deployment: the review page's signing key,
// written to Key Vault, never in a parameter file. newGuid() is allowed only here.
@secure()
param reviewSecretFirstHalf string = newGuid() // checkov:skip=CKV_AZURE_131: newGuid() is drawn at each deployment, not a hard-coded value
@secure()
param reviewSecretSecondHalf string = newGuid() // checkov:skip=CKV_AZURE_131: newGuid() is drawn at each deployment, not a hard-coded value

var tags = { 'azd-env-name': environmentName, app: 'shiftpay-payout' }

resource resourceGroup 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app.bicep' = {
  name: 'app'
  scope: resourceGroup
  params: {
    location: location
    tags: tags
    resourceToken: toLower(uniqueString(subscription().id, environmentName, location))
    principalId: principalId
    principalName: principalName
    principalType: principalType
    authClientId: authClientId
    financeEmail: financeEmail
    summarySchedule: summarySchedule
    holdEventAbove: holdEventAbove
    holdSpCycleAbove: holdSpCycleAbove
    reviewSecret: '${reviewSecretFirstHalf}${reviewSecretSecondHalf}'
  }
}

module alerts 'alerts.bicep' = {
  name: 'alerts'
  scope: resourceGroup
  params: {
    tags: tags
    resourceToken: toLower(uniqueString(subscription().id, environmentName, location))
    alertEmail: empty(alertEmail) ? first(split(financeEmail, ',')) : alertEmail
    applicationInsightsId: app.outputs.applicationInsightsId
    misStorageAccountId: app.outputs.misStorageAccountId
    eventGridTopicId: app.outputs.eventGridTopicId
    location: location
    cycleOverdueHours: cycleOverdueHours
    holdMaxAgeDays: holdMaxAgeDays
  }
}

// Read by azd (and the hooks, through `azd env get-values`).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output SERVICE_API_URI string = app.outputs.functionAppUri
output POSTGRES_HOST string = app.outputs.postgresHost
output POSTGRES_SERVER_NAME string = app.outputs.postgresServerName
output POSTGRES_DATABASE string = app.outputs.postgresDatabase
output APP_IDENTITY_NAME string = app.outputs.identityName
output APP_IDENTITY_PRINCIPAL_ID string = app.outputs.identityPrincipalId
output MIS_STORAGE_ACCOUNT_NAME string = app.outputs.misStorageAccountName
output EVENT_GRID_TOPIC_NAME string = app.outputs.eventGridTopicName
output APPLICATIONINSIGHTS_CONNECTION_STRING string = app.outputs.applicationInsightsConnectionString
