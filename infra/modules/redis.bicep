// Azure Managed Redis with Entra ID authentication only (access keys disabled), reached through
// a private endpoint. EnterpriseCluster: one endpoint for a client that is not cluster-aware
// (redis-py's Redis); the app's scripts touch one key each.

param name string

param location string

param tags object = {}

@description('Azure Managed Redis SKU, e.g. Balanced_B0 (about 0.5 GB).')
param skuName string = 'Balanced_B0'

param endpointSubnetId string

param privateDnsZoneId string

param workspaceId string

resource cluster 'Microsoft.Cache/redisEnterprise@2025-04-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: 'Enabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-04-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: 'EnterpriseCluster'
    // Every key the app writes has a TTL except the breaker's small hash; under memory pressure
    // the oldest idempotency marks go first, and PostgreSQL still refuses duplicates.
    evictionPolicy: 'VolatileLRU'
    accessKeysAuthentication: 'Disabled'
  }
}

module endpoint 'private-endpoint.bicep' = {
  name: 'pe-${name}-redis'
  params: {
    name: 'pe-${name}-redis'
    location: location
    tags: tags
    serviceId: cluster.id
    groupId: 'redisEnterprise'
    subnetId: endpointSubnetId
    privateDnsZoneId: privateDnsZoneId
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: database
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

output id string = cluster.id
output name string = cluster.name
output host string = cluster.properties.hostName
output url string = 'rediss://${cluster.properties.hostName}:10000/0'
