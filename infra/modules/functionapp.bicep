// The Function App on Flex Consumption (Python 3.11), its system-assigned identity, and its
// app settings: every connection is identity-based, so no setting holds a secret.

param name string

param location string

param tags object = {}

@description('Instances the app may scale out to. Each holds at most 10 PostgreSQL connections (shared/db.py), so keep 10 x this under the server max_connections less its reserved ones.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 20

@description('Instance memory in MB (2048 or 4096).')
@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Always-ready instances per function group or function, e.g. [{name: \'http\', instanceCount: 1}]; empty for none (cold starts on the webhook path).')
param alwaysReady array = [
  {
    name: 'http'
    instanceCount: 1
  }
]

param appSubnetId string

@description('Blob endpoint of the host storage account, which holds the deployment package.')
param hostStorageBlobEndpoint string

param deploymentContainer string

param workspaceId string

@description('Every app setting, the host\'s included (main.bicep builds them from the other modules).')
@secure()
param appSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  // checkov:skip=CKV_AZURE_225: Zone redundancy of a Flex Consumption plan is a platform setting with its own regional availability; decide per region (docs/deploy.md).
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  // checkov:skip=CKV_AZURE_17: The portal does not present client certificates; its deliveries are signed (HMAC, DESIGN.md) instead.
  // checkov:skip=CKV_AZURE_222: The portal must reach the webhook over the internet; outbound traffic goes through the VNet to private endpoints.
  // checkov:skip=CKV_AZURE_212: Flex Consumption sets instances per app, not with the plan's minimum this check reads; alwaysReady keeps the http group warm (param alwaysReady).
  // checkov:skip=CKV_AZURE_213: App Service health check takes failing instances out of rotation; when the queues are down every instance is unready and the portal would get connection failures instead of the 503 it retries on. /api/health/ready is probed by monitoring instead.
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: appSubnetId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Flex Consumption takes the runtime from functionAppConfig: FUNCTIONS_WORKER_RUNTIME and
      // FUNCTIONS_EXTENSION_VERSION must not be among these.
      appSettings: [for setting in items(appSettings): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorageBlobEndpoint}${deploymentContainer}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        alwaysReady: alwaysReady
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// Basic-auth publishing (FTP, SCM) off: deployments authenticate with Entra ID (OIDC).
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output id string = site.id
output name string = site.name
output principalId string = site.identity.principalId
output hostName string = site.properties.defaultHostName
