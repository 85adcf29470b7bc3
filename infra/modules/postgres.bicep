// Azure Database for PostgreSQL flexible server with Entra ID authentication only (no password
// exists). The Entra administrator is the principal that runs migrations (the deploy
// pipeline's); the app's identity gets its own non-admin role, created by that administrator
// with infra/postgres/app-role.sql (a data-plane step Bicep cannot do).
//
// The app reaches the server through its private endpoint. Public access is on but no
// firewall rule exists: the deploy pipeline adds one for its runner's address while it
// migrates and removes it afterwards (deploy.yml).

param name string

param location string

param tags object = {}

@description('Database the app uses.')
param databaseName string = 'portal'

@description('SKU, e.g. Standard_B1ms (Burstable) or Standard_D2ds_v5 (GeneralPurpose).')
param skuName string = 'Standard_B1ms'

@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'Burstable'

param storageSizeGB int = 32

@description('Object id of the Entra principal that administers the server and runs migrations.')
param adminObjectId string

@description('Its name as PostgreSQL will know it (the app registration or group name).')
param adminName string

@allowed([
  'ServicePrincipal'
  'Group'
  'User'
])
param adminType string = 'ServicePrincipal'

param endpointSubnetId string

param privateDnsZoneId string

param workspaceId string

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: '16'
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: 14
      // Zone-redundant backup storage where the region has zones; geo-redundant backup (a
      // restore after losing the region) costs as much again: turn it on here if wanted.
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: subscription().tenantId
    }
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

resource admin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: adminObjectId
  properties: {
    principalName: adminName
    principalType: adminType
    tenantId: subscription().tenantId
  }
  dependsOn: [
    database
  ]
}

// Connections must use TLS; the server's default, stated so a change is visible here.
resource requireTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    admin
  ]
}

module endpoint 'private-endpoint.bicep' = {
  name: 'pe-${name}-postgres'
  params: {
    name: 'pe-${name}-postgres'
    location: location
    tags: tags
    serviceId: server.id
    groupId: 'postgresqlServer'
    subnetId: endpointSubnetId
    privateDnsZoneId: privateDnsZoneId
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: server
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'PostgreSQLLogs'
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

output id string = server.id
output name string = server.name
output host string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
