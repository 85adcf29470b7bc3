// The network: one VNet with a subnet the Function App integrates into (outbound) and a subnet
// for private endpoints. Storage, Key Vault, PostgreSQL and Redis are reached only through their
// private endpoints from the app; Service Bus Standard has no private endpoints (Premium only),
// so it is reached on its public endpoint with Entra ID only (local auth disabled).

@description('Base name of the resources.')
param name string

param location string

param tags object = {}

@description('Address space of the VNet.')
param addressPrefix string = '10.20.0.0/16'

@description('Subnet of the Function App (delegated to Microsoft.App/environments; /27 at least).')
param appSubnetPrefix string = '10.20.0.0/24'

@description('Subnet of the private endpoints.')
param endpointSubnetPrefix string = '10.20.1.0/24'

// One zone per kind of private endpoint, in the order of the output below.
var zoneNames = [
  'privatelink.blob.${environment().suffixes.storage}'
  'privatelink.queue.${environment().suffixes.storage}'
  'privatelink.table.${environment().suffixes.storage}'
  'privatelink.vaultcore.azure.net'
  'privatelink.postgres.database.azure.com'
  'privatelink.redis.azure.net'
]

// Default rules only: inbound from the VNet, outbound to the internet (Service Bus, the portal).
resource appNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-app'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource endpointNsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${name}-endpoints'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${name}'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: appSubnetPrefix
          networkSecurityGroup: {
            id: appNsg.id
          }
          // Flex Consumption integrates with a subnet delegated to Microsoft.App/environments.
          delegations: [
            {
              name: 'flex-consumption'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: endpointSubnetPrefix
          networkSecurityGroup: {
            id: endpointNsg.id
          }
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for zoneName in zoneNames: {
  name: zoneName
  location: 'global'
  tags: tags
}]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (zoneName, i) in zoneNames: {
  parent: zones[i]
  name: 'link-${name}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: vnet.id
    }
  }
}]

output vnetId string = vnet.id
output appSubnetId string = vnet.properties.subnets[0].id
output endpointSubnetId string = vnet.properties.subnets[1].id
output privateDnsZoneIds object = {
  blob: zones[0].id
  queue: zones[1].id
  table: zones[2].id
  vault: zones[3].id
  postgres: zones[4].id
  redis: zones[5].id
}
