// The whole integration in one resource group (created first by the command in docs/deploy.md):
//
//   az deployment group create -g <group> -f infra/main.bicep -p infra/main.parameters.json
//
// Network: a VNet; the Function App integrates with it for outbound traffic, and storage, Key
// Vault, PostgreSQL and Redis are reached through private endpoints (their public data planes
// are closed, PostgreSQL's but for a temporary firewall rule while the pipeline migrates).
// Service Bus Standard has no private endpoints, so it stays public with Entra ID only. The
// Function App itself is public: the portal delivers webhooks over the internet.

targetScope = 'resourceGroup'

@description('Short base name of every resource (lower-case letters and digits).')
@minLength(2)
@maxLength(10)
param name string = 'portal'

param location string = resourceGroup().location

param tags object = {
  workload: 'portal-integration'
}

@description('The portal\'s REST API base URL (PORTAL_BASE_URL).')
param portalBaseUrl string

@description('NCRONTAB of the sync_queue replay timer (SYNC_REPLAY_SCHEDULE): every second by default.')
param syncReplaySchedule string = '* * * * * *'

@secure()
@description('Teams or Slack incoming webhook for alerts (ALERT_WEBHOOK_URL); empty for none.')
param alertWebhookUrl string = ''

@description('E-mail addresses Azure Monitor\'s alert rules notify (infra/monitoring); empty for none.')
param alertEmails array = []

@description('Let the app read each queue\'s message counts for /api/health/metrics ("Azure Service Bus Data Owner" on the namespace; see infra/monitoring/monitoring.bicep).')
param grantQueueCounts bool = true

@description('Instances the Function App may scale out to (see functionapp.bicep for the PostgreSQL bound).')
param maximumInstanceCount int = 20

@description('Always-ready instances, e.g. [{name: \'http\', instanceCount: 1}] keeps the webhook warm.')
param alwaysReady array = [
  {
    name: 'http'
    instanceCount: 1
  }
]

@description('Object id of the Entra principal that administers PostgreSQL and runs migrations (the pipeline\'s).')
param postgresAdminObjectId string

@description('Its display name (app registration or group).')
param postgresAdminName string

@allowed([
  'ServicePrincipal'
  'Group'
  'User'
])
param postgresAdminType string = 'ServicePrincipal'

param postgresSkuName string = 'Standard_B2s'

param postgresSkuTier string = 'Burstable'

param redisSkuName string = 'Balanced_B0'

@description('Public CIDR ranges allowed to the Key Vault data plane, for operators who set secrets.')
param operatorIpRanges array = []

@secure()
@description('portal-api-key to store in Key Vault; empty leaves the vault\'s value as it is.')
param portalApiKey string = ''

@secure()
@description('portal-webhook-secrets (space-separated whsec_...) to store; empty leaves it as it is.')
param portalWebhookSecrets string = ''

@description('Days a deleted candidate document can be restored.')
param documentsSoftDeleteDays int = 30

var suffix = uniqueString(resourceGroup().id)
var functionAppName = 'func-${name}-${suffix}'
var databaseName = 'portal'
var deploymentContainer = 'app-package'
// The container name is fixed by DESIGN.md (DOCUMENTS_CONTAINER's default); a test checks it.
var documentsContainer = 'candidate-documents'

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    name: name
    location: location
    tags: tags
  }
}

module observability 'modules/observability.bicep' = {
  name: 'observability'
  params: {
    name: '${name}-${suffix}'
    location: location
    tags: tags
  }
}

module hostStorage 'modules/storage.bicep' = {
  name: 'host-storage'
  params: {
    name: 'sthost${suffix}'
    location: location
    tags: tags
    containers: [
      deploymentContainer
    ]
    softDeleteDays: 7
    // The host uses blobs (leases, keys, the package); queue and table only for bindings this
    // app does not use, but the host probes them at start.
    endpointServices: [
      'blob'
      'queue'
      'table'
    ]
    endpointSubnetId: network.outputs.endpointSubnetId
    privateDnsZoneIds: network.outputs.privateDnsZoneIds
    workspaceId: observability.outputs.workspaceId
  }
}

module documentsStorage 'modules/storage.bicep' = {
  name: 'documents-storage'
  params: {
    name: 'stdocs${suffix}'
    location: location
    tags: tags
    containers: [
      documentsContainer
    ]
    softDeleteDays: documentsSoftDeleteDays
    endpointSubnetId: network.outputs.endpointSubnetId
    privateDnsZoneIds: network.outputs.privateDnsZoneIds
    workspaceId: observability.outputs.workspaceId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'service-bus'
  params: {
    name: 'sb-${name}-${suffix}'
    location: location
    tags: tags
    workspaceId: observability.outputs.workspaceId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'key-vault'
  params: {
    name: 'kv-${take(name, 6)}-${suffix}'
    location: location
    tags: tags
    endpointSubnetId: network.outputs.endpointSubnetId
    privateDnsZoneId: network.outputs.privateDnsZoneIds.vault
    workspaceId: observability.outputs.workspaceId
    operatorIpRanges: operatorIpRanges
    portalApiKey: portalApiKey
    portalWebhookSecrets: portalWebhookSecrets
  }
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    name: 'psql-${name}-${suffix}'
    location: location
    tags: tags
    databaseName: databaseName
    skuName: postgresSkuName
    skuTier: postgresSkuTier
    adminObjectId: postgresAdminObjectId
    adminName: postgresAdminName
    adminType: postgresAdminType
    endpointSubnetId: network.outputs.endpointSubnetId
    privateDnsZoneId: network.outputs.privateDnsZoneIds.postgres
    workspaceId: observability.outputs.workspaceId
  }
}

module redis 'modules/redis.bicep' = {
  name: 'redis'
  params: {
    name: 'redis-${name}-${suffix}'
    location: location
    tags: tags
    skuName: redisSkuName
    endpointSubnetId: network.outputs.endpointSubnetId
    privateDnsZoneId: network.outputs.privateDnsZoneIds.redis
    workspaceId: observability.outputs.workspaceId
  }
}

// DESIGN.md's settings. Those not listed keep their defaults; docs/operations.md lists them as
// optional (a test checks that every setting the app reads is here or there).
var appSettings = {
  AzureWebJobsStorage__accountName: hostStorage.outputs.name
  APPLICATIONINSIGHTS_CONNECTION_STRING: observability.outputs.connectionString
  // The app's PostgreSQL role is named after the app (infra/postgres/app-role.sql).
  DATABASE_URL: 'postgresql://${functionAppName}@${postgres.outputs.host}:5432/${databaseName}?sslmode=require'
  DATABASE_AUTH: 'entra'
  REDIS_URL: redis.outputs.url
  REDIS_AUTH: 'entra'
  DocumentsStorage__serviceUri: documentsStorage.outputs.blobEndpoint
  DOCUMENTS_CONTAINER: documentsContainer
  ServiceBusConnection__fullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
  PORTAL_BASE_URL: portalBaseUrl
  KEY_VAULT_URL: keyVault.outputs.uri
  SYNC_REPLAY_SCHEDULE: syncReplaySchedule
  ALERT_WEBHOOK_URL: alertWebhookUrl
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'function-app'
  params: {
    name: functionAppName
    location: location
    tags: tags
    maximumInstanceCount: maximumInstanceCount
    alwaysReady: alwaysReady
    appSubnetId: network.outputs.appSubnetId
    hostStorageBlobEndpoint: hostStorage.outputs.blobEndpoint
    deploymentContainer: deploymentContainer
    workspaceId: observability.outputs.workspaceId
    appSettings: appSettings
  }
}

module appAccess 'modules/app-access.bicep' = {
  name: 'app-access'
  params: {
    principalId: functionApp.outputs.principalId
    hostStorageName: hostStorage.outputs.name
    documentsStorageName: documentsStorage.outputs.name
    serviceBusName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    redisName: redis.outputs.name
  }
}

// Monitoring: Log Analytics and Application Insights are the `observability` module above, and
// every resource sends its diagnostic logs there. The health workbook, the alert rules on the
// app's metrics and Service Bus' dead letters, and their action group are added here, in this
// one place (infra/monitoring/, docs/operations.md "Application Insights and Azure Monitor").
module monitoring 'monitoring/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: '${name}-${suffix}'
    location: location
    tags: tags
    appInsightsId: observability.outputs.appInsightsId
    serviceBusName: serviceBus.outputs.name
    functionAppPrincipalId: functionApp.outputs.principalId
    grantQueueCounts: grantQueueCounts
    alertEmails: alertEmails
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppPrincipalId string = functionApp.outputs.principalId
output webhookUrl string = 'https://${functionApp.outputs.hostName}/api/portal/webhooks'
output importUrl string = 'https://${functionApp.outputs.hostName}/api/portal/candidates/import'
output healthUrl string = 'https://${functionApp.outputs.hostName}/api/health/ready'
output keyVaultName string = keyVault.outputs.name
output postgresServerName string = postgres.outputs.name
output postgresHost string = postgres.outputs.host
output databaseName string = databaseName
output serviceBusId string = serviceBus.outputs.id
output workspaceId string = observability.outputs.workspaceId
output appInsightsId string = observability.outputs.appInsightsId
output functionAppId string = functionApp.outputs.id
