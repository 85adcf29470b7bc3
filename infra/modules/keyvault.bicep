// Key Vault in RBAC mode with the portal's two secrets (shared/secrets.py SECRET_NAMES). The
// app reads them through its private endpoint with Key Vault Secrets User (app-access.bicep).
// A secret is written only when a value is passed, so a later deployment without values never
// overwrites a secret rotated in the vault meanwhile.

param name string

param location string

param tags object = {}

param endpointSubnetId string

param privateDnsZoneId string

param workspaceId string

@description('Public addresses (CIDR) allowed to reach the vault, for operators setting secrets; empty: none.')
param operatorIpRanges array = []

@secure()
@description('Initial value of portal-api-key; empty leaves the secret as it is.')
param portalApiKey string = ''

@secure()
@description('Initial value of portal-webhook-secrets (space-separated whsec_...); empty leaves it as it is.')
param portalWebhookSecrets string = ''

// The names are fixed by DESIGN.md; a test checks them against shared/secrets.py.
var secretNames = [
  'portal-api-key'
  'portal-webhook-secrets'
]
var secretValues = [
  portalApiKey
  portalWebhookSecrets
]

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      // Only the listed operator addresses and the private endpoint reach the data plane.
      defaultAction: 'Deny'
      bypass: 'None'
      ipRules: [for cidr in operatorIpRanges: {
        value: cidr
      }]
    }
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for (secretName, i) in secretNames: if (!empty(secretValues[i])) {
  parent: vault
  name: secretName
  // checkov:skip=CKV_AZURE_41: These secrets are rotated by the portal's operators, not on a schedule; an expiry date would stop the app when it passed (docs/deploy.md, rotation).
  properties: {
    value: secretValues[i]
    contentType: 'text/plain'
  }
}]

module endpoint 'private-endpoint.bicep' = {
  name: 'pe-${name}-vault'
  params: {
    name: 'pe-${name}-vault'
    location: location
    tags: tags
    serviceId: vault.id
    groupId: 'vault'
    subnetId: endpointSubnetId
    privateDnsZoneId: privateDnsZoneId
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'AuditEvent'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
