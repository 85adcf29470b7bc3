// Service Bus: the four queues of DESIGN.md on a Standard namespace (Basic has no duplicate
// detection). Entra ID only: shared access keys are disabled, so no connection string exists.

param name string

param location string

param tags object = {}

param workspaceId string

// The queue names are fixed by DESIGN.md (shared/messaging/port.py QUEUES); a test checks them.
var queueNames = [
  'portal-events'
  'ats-outbound'
  'document-transfers'
  'document-verification'
]

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  // Private endpoints, customer-managed keys and closing the public endpoint need the Premium
  // tier (about 60 times Standard's price at this load); on Standard the namespace is public
  // and accepts Entra ID tokens only, over TLS 1.2.
  properties: {
    minimumTlsVersion: '1.2'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [for queueName in queueNames: {
  parent: namespace
  name: queueName
  properties: {
    // The processor takes batches of up to 100 (host.json); a batch takes well under a minute
    // and the host renews locks while it runs (maxAutoLockRenewalDuration 5 min), so a
    // minute is enough and a crashed instance's batch is delivered again within a minute.
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT10M'
    deadLetteringOnMessageExpiration: true
    defaultMessageTimeToLive: 'P14D'
    maxSizeInMegabytes: 1024
    enablePartitioning: false
  }
}]

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs'
  scope: namespace
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
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

output id string = namespace.id
output name string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
