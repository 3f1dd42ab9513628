// The payout app and everything it uses, in one resource group (deployed by main.bicep).
// Plain resource declarations, no registry modules, so that checks which read Bicep
// (checkov, azure-functions-doctor) see every property. The app's settings are the
// `appSettings` of the function app below: tests/unit/test_infra.py holds them against
// what payout_core/settings.py and function_app.py read, both ways.

param location string
param tags object
param resourceToken string
param principalId string
param principalName string
param principalType string
param authClientId string
param financeEmail string
param summarySchedule string
param holdEventAbove string
param holdSpCycleAbove string
@secure()
param reviewSecret string

// Containers of the MIS storage account: the app's defaults (payout_core/settings.py).
var misContainer = 'mis-inbox'
var outputContainer = 'mis-outputs'
var quarantineContainer = 'mis-quarantine'
var remittanceContainer = 'remittance-inbox'
var walletConfirmationContainer = 'wallet-confirmations'
var deadLetterContainer = 'eventgrid-deadletter'
var deploymentContainer = 'app-package'
var databaseName = 'payout'
// 2 GiB: about 610 s at the 10M-row benchmark's pace (649 MiB in 194 s); host.json's
// functionTimeout is 60 minutes (tests/unit/test_infra.py keeps the two in agreement).
var misMaxFileBytes = 2147483648
var flexConfig = loadJsonContent('function-app-config.json').functionAppConfig

var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

// --- the app's identity ------------------------------------------------------------------

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-payout-${resourceToken}'
  location: location
  tags: tags
}

// --- monitoring --------------------------------------------------------------------------

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-payout-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-payout-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    // Only Entra-authenticated telemetry (the app's identity, Monitoring Metrics Publisher).
    DisableLocalAuth: true
  }
}

// --- storage: the host's own account (and its deployment package), and the MIS account ---

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Flex Consumption without VNet integration reaches its host storage over the public endpoint; access is identity-only (shared keys off)
  // checkov:skip=CKV_AZURE_59: public network access as in CKV_AZURE_35; no blob is public (allowBlobPublicAccess: false)
  // checkov:skip=CKV_AZURE_43: the name is 'sthost' and 13 lowercase letters and digits (uniqueString), 19 characters; the check cannot evaluate the interpolation
  // checkov:skip=CKV_AZURE_206: host state and the deployment package are rebuilt by a redeploy; LRS is enough
  name: 'sthost${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource hostBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: hostStorage
  name: 'default'
}

resource deploymentPackageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: hostBlobService
  name: deploymentContainer
  properties: { publicAccess: 'None' }
}

resource misStorage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: Event Grid and Flex Consumption without VNet integration reach it over the public endpoint; access is identity-only (shared keys off), so a network deny would add no control here
  // checkov:skip=CKV_AZURE_59: public network access as in CKV_AZURE_35; no blob is public (allowBlobPublicAccess: false)
  // checkov:skip=CKV_AZURE_43: the name is 'stmis' and 13 lowercase letters and digits (uniqueString), 18 characters; the check cannot evaluate the interpolation
  name: 'stmis${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  // Geo-redundant: the banks' files and the outputs for people are the record of a payout.
  sku: { name: 'Standard_GRS' }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource misBlobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: misStorage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 14 }
    containerDeleteRetentionPolicy: { enabled: true, days: 14 }
  }
}

resource misContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for name in [
    misContainer
    outputContainer
    quarantineContainer
    remittanceContainer
    walletConfirmationContainer
  ]: {
    parent: misBlobService
    name: name
    properties: { publicAccess: 'None' }
  }
]

// Where Event Grid keeps the events it could not deliver (each subscription dead-letters).
resource deadLetterStorageContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: misBlobService
  name: deadLetterContainer
  properties: { publicAccess: 'None' }
}

// --- Event Grid: the storage account's events (the subscriptions: event-subscriptions.bicep)

resource eventGridTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: 'evgt-mis-${resourceToken}'
  location: location
  tags: tags
  // Dead-letters are written with this identity: the account takes no shared key.
  identity: { type: 'SystemAssigned' }
  properties: {
    source: misStorage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// --- PostgreSQL: Entra authentication only ------------------------------------------------

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: 'psql-payout-${resourceToken}'
  location: location
  tags: tags
  sku: { name: 'Standard_B1ms', tier: 'Burstable' }
  properties: {
    version: '16'
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: tenant().tenantId
    }
    storage: { storageSizeGB: 32, autoGrow: 'Enabled' }
    // The ledger is the record of money: backups kept 35 days, in the paired region too.
    backup: { backupRetentionDays: 35, geoRedundantBackup: 'Enabled' }
    highAvailability: { mode: 'Disabled' }
    network: { publicNetworkAccess: 'Enabled' }
  }
}

resource postgresDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: postgres
  name: databaseName
  properties: { charset: 'UTF8', collation: 'en_US.utf8' }
}

// The deploying person: Entra administrator, so the predeploy hook migrates with their
// token and creates the app's own (non-administrator) role for the identity above.
resource postgresAdministrator 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: postgres
  name: principalId
  properties: {
    principalName: principalName
    principalType: principalType
    tenantId: tenant().tenantId
  }
  dependsOn: [postgresDatabase]
}

// Flex Consumption without VNet integration has no fixed outbound addresses: the rule
// admits Azure's own addresses, and Entra-only authentication decides who gets in.
resource postgresAllowAzure 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = {
  parent: postgres
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: { startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
  dependsOn: [postgresAdministrator]
}

// --- email: Azure Communication Services with an Azure-managed domain --------------------

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: 'ecs-payout-${resourceToken}'
  location: 'global'
  tags: tags
  properties: { dataLocation: 'Europe' }
}

resource emailDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: {
    domainManagement: 'AzureManaged'
    userEngagementTracking: 'Disabled'
  }
}

resource communicationService 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: 'acs-payout-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    dataLocation: 'Europe'
    linkedDomains: [emailDomain.id]
  }
}

// Sending email with an Entra identity needs these actions on the ACS resource only
// (Learn: "send email with Microsoft Entra ID"); Contributor would be far more.
resource emailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'payout-email-sender')
  properties: {
    roleName: 'ShiftPay payout email sender (${resourceToken})'
    description: 'Send email through one Azure Communication Services resource.'
    type: 'CustomRole'
    assignableScopes: [resourceGroup().id]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
      }
    ]
  }
}

// --- Key Vault: the review page's signing key -------------------------------------------

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Key Vault references of a Flex Consumption app without VNet integration come over the public endpoint; RBAC (one secret, one reader) is the control
  // checkov:skip=CKV_AZURE_189: public network access as in CKV_AZURE_109
  // checkov:skip=CKV_AZURE_110: purge protection would keep `azd down --purge` from freeing the vault; it holds one secret that a provision generates again
  // checkov:skip=CKV_AZURE_42: recoverable: soft delete is on; purge protection off as in CKV_AZURE_110
  name: 'kv-payout-${resourceToken}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
    networkAcls: { defaultAction: 'Allow', bypass: 'AzureServices' }
  }
}

resource reviewSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  // checkov:skip=CKV_AZURE_41: the secret is drawn again at each provision (two GUIDs, main.bicep); an expiry date would stop the review page when nobody provisions
  parent: keyVault
  name: 'payout-review-secret'
  properties: {
    value: reviewSecret
    contentType: 'text/plain'
  }
}

// --- the Flex Consumption function app -------------------------------------------------

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: not zone redundant: the app scales to zero, and a file cut short by a zone outage is retried whole (one transaction per file)
  name: 'plan-payout-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
  properties: { reserved: true }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: incoming client certificates would refuse Event Grid's deliveries and finance's browsers; App Service Authentication guards the review page
  // checkov:skip=CKV_AZURE_222: public network access: Event Grid delivers blob events to the app's webhook, and finance opens the review page from their browsers (App Service Authentication in front)
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales from zero on events; an always-ready instance would cost at rest, and a file on a lost instance is retried whole
  // checkov:skip=CKV_AZURE_213: a health check path is an App Service plan feature; Flex Consumption replaces unhealthy instances itself
  name: 'func-payout-${resourceToken}'
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: flexConfig.scaleAndConcurrency
      runtime: flexConfig.runtime
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [
        // The host's own storage: identity-based (AzureWebJobsStorage__*).
        {
          name: 'AzureWebJobsStorage__accountName'
          value: '${hostStorage.name}'
        }
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: '${identity.properties.clientId}'
        }
        // The triggers' connection `MisStorage` (blob triggers and the poison queue).
        {
          name: 'MisStorage__blobServiceUri'
          value: '${misStorage.properties.primaryEndpoints.blob}'
        }
        {
          name: 'MisStorage__queueServiceUri'
          value: '${misStorage.properties.primaryEndpoints.queue}'
        }
        {
          name: 'MisStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'MisStorage__clientId'
          value: '${identity.properties.clientId}'
        }
        {
          name: 'MIS_CONTAINER'
          value: '${misContainer}'
        }
        {
          name: 'REMITTANCE_CONTAINER'
          value: '${remittanceContainer}'
        }
        {
          name: 'WALLET_CONFIRMATION_CONTAINER'
          value: '${walletConfirmationContainer}'
        }
        {
          name: 'PAYOUT_OUTPUT_CONTAINER'
          value: '${outputContainer}'
        }
        {
          name: 'PAYOUT_QUARANTINE_CONTAINER'
          value: '${quarantineContainer}'
        }
        {
          name: 'PAYOUT_BLOB_TRIGGER_SOURCE'
          value: 'EventGrid'
        }
        {
          name: 'PAYOUT_MIS_MAX_FILE_BYTES'
          value: '${misMaxFileBytes}'
        }
        // The ledger: the app's identity signs in as its own Entra role (predeploy hook).
        {
          name: 'PAYOUT_DATABASE_URL'
          value: 'postgresql://${identity.name}@${postgres.properties.fullyQualifiedDomainName}:5432/${databaseName}?sslmode=require'
        }
        {
          name: 'PAYOUT_DATABASE_AUTH'
          value: 'entra'
        }
        {
          name: 'PAYOUT_DATABASE_CLIENT_ID'
          value: '${identity.properties.clientId}'
        }
        // Burstable servers have no built-in PgBouncer.
        {
          name: 'PAYOUT_DB_PGBOUNCER'
          value: 'false'
        }
        // The iteration email.
        {
          name: 'SUMMARY_SCHEDULE'
          value: '${summarySchedule}'
        }
        {
          name: 'PAYOUT_EMAIL_SENDER'
          value: 'acs'
        }
        {
          name: 'ACS_ENDPOINT'
          value: 'https://${communicationService.properties.hostName}'
        }
        {
          name: 'PAYOUT_EMAIL_FROM'
          value: 'DoNotReply@${emailDomain.properties.mailFromSenderDomain}'
        }
        {
          name: 'PAYOUT_EMAIL_TO'
          value: '${financeEmail}'
        }
        // DefaultAzureCredential (the ACS email client) picks the user-assigned identity by it.
        {
          name: 'AZURE_CLIENT_ID'
          value: '${identity.properties.clientId}'
        }
        // Holds and the review page.
        {
          name: 'PAYOUT_HOLD_EVENT_ABOVE'
          value: '${holdEventAbove}'
        }
        {
          name: 'PAYOUT_HOLD_SP_CYCLE_ABOVE'
          value: '${holdSpCycleAbove}'
        }
        {
          name: 'PAYOUT_REVIEW_URL'
          value: 'https://func-payout-${resourceToken}.azurewebsites.net/api/review'
        }
        {
          name: 'PAYOUT_REVIEW_SECRET'
          value: '@Microsoft.KeyVault(SecretUri=${reviewSecretValue.properties.secretUri})'
        }
        // Telemetry: OpenTelemetry (host.json telemetryMode) to Application Insights, Entra-authenticated.
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: '${applicationInsights.properties.ConnectionString}'
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identity.properties.clientId};Authorization=AAD'
        }
        {
          name: 'PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY'
          value: 'true'
        }
      ]
    }
  }
  dependsOn: [
    hostBlobOwner
    misBlobOwner
    misQueueContributor
    reviewSecretReader
    metricsPublisher
  ]
}

// App Service Authentication (Entra) in front of the review page: anyone unauthenticated is
// sent to sign in, except Event Grid's deliveries to the blobs webhook (a system key guards
// those). Without a client secret Easy Auth signs in with OpenID Connect's id token alone.
resource functionAppAuth 'Microsoft.Web/sites/config@2024-04-01' = {
  // checkov:skip=CKV_AZURE_13: authentication is on (platform.enabled: true); the check reads the v1 `authsettings` schema, this is `authsettingsV2`
  // checkov:skip=CKV_AZURE_63: reads the site's `web` configuration; this resource is `authsettingsV2` (the app logs to Application Insights)
  // checkov:skip=CKV_AZURE_65: reads the site's `web` configuration; this resource is `authsettingsV2`
  // checkov:skip=CKV_AZURE_66: reads the site's `web` configuration; this resource is `authsettingsV2`
  // checkov:skip=CKV_AZURE_80: reads the site's `web` configuration (.NET version); this resource is `authsettingsV2` of a Python app
  // checkov:skip=CKV_AZURE_88: reads the site's `web` configuration (Azure Files); this resource is `authsettingsV2`, and Flex Consumption mounts no Azure Files share
  // checkov:skip=CKV_AZURE_222: reads the site's public network access; see the function app's own skip of CKV_AZURE_222
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: ['/runtime/webhooks/blobs']
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: { allowedAudiences: ['api://${authClientId}', authClientId] }
      }
    }
    login: { tokenStore: { enabled: true } }
    httpSettings: { requireHttps: true }
  }
}

// --- least-privilege role assignments for the app's identity -----------------------------

resource hostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, identity.id, roles.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource misBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(misStorage.id, identity.id, roles.storageBlobDataOwner)
  scope: misStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource misQueueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(misStorage.id, identity.id, roles.storageQueueDataContributor)
  scope: misStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource reviewSecretReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(reviewSecretValue.id, identity.id, roles.keyVaultSecretsUser)
  scope: reviewSecretValue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource emailSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communicationService.id, identity.id, emailSenderRole.id)
  scope: communicationService
  properties: {
    roleDefinitionId: emailSenderRole.id
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Event Grid writes undeliverable events into the dead-letter container, and nowhere else.
resource deadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(misStorage.id, deadLetterContainer, roles.storageBlobDataContributor)
  scope: deadLetterStorageContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: eventGridTopic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output functionAppName string = functionApp.name
output functionAppUri string = 'https://${functionApp.properties.defaultHostName}'
output postgresHost string = postgres.properties.fullyQualifiedDomainName
output postgresServerName string = postgres.name
output postgresDatabase string = databaseName
output identityName string = identity.name
output identityPrincipalId string = identity.properties.principalId
output misStorageAccountId string = misStorage.id
output misStorageAccountName string = misStorage.name
output eventGridTopicId string = eventGridTopic.id
output eventGridTopicName string = eventGridTopic.name
output applicationInsightsId string = applicationInsights.id
output applicationInsightsConnectionString string = applicationInsights.properties.ConnectionString
