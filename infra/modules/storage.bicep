// A storage account reached only through private endpoints and only with Entra ID (no shared
// keys), with its containers. Used twice: the Functions host's own account (timer leases, the
// deployment package) and the documents account (candidate-documents).

@description('Globally unique, 3-24 lower-case letters and digits.')
param name string

param location string

param tags object = {}

@description('Blob containers to create; none is ever public.')
param containers array

@description('Days a deleted blob or container can be restored (soft delete).')
@minValue(1)
@maxValue(365)
param softDeleteDays int

@description('Storage services that get a private endpoint (blob, queue, table).')
param endpointServices array = [
  'blob'
]

param endpointSubnetId string

@description('Private DNS zone ids by service (network.bicep output).')
param privateDnsZoneIds object

@description('Log Analytics workspace that receives the blob service logs.')
param workspaceId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // Zone-redundant: a zone outage neither loses documents nor stops the host's leases.
    name: 'Standard_ZRS'
  }
  // checkov:skip=CKV_AZURE_206: ZRS is the stated choice; GRS/RA-GRS replication to a paired region is a cost decision for the adopting team (docs/deploy.md).
  // Encrypted at rest with Microsoft-managed keys.
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: blobService
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'StorageRead'
        enabled: true
      }
      {
        category: 'StorageWrite'
        enabled: true
      }
      {
        category: 'StorageDelete'
        enabled: true
      }
    ]
  }
}

module endpoints 'private-endpoint.bicep' = [for service in endpointServices: {
  name: 'pe-${name}-${service}'
  params: {
    name: 'pe-${name}-${service}'
    location: location
    tags: tags
    serviceId: account.id
    groupId: service
    subnetId: endpointSubnetId
    privateDnsZoneId: privateDnsZoneIds[service]
  }
}]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
