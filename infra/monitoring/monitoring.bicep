// Monitoring of the integration in Azure: an action group, the alert rules of docs/operations.md
// ("Alerts in Azure Monitor") and the health workbook (workbook.json beside this file).
//
// The app already raises its own alerts (ALERT_WEBHOOK_URL, one per incident); these rules are
// the second line, evaluated by Azure Monitor from what the app exports to Application Insights
// (customMetrics: the health gauges refreshed every minute and the in-process counters; traces:
// the app's `ALERT ...` log lines) and from Service Bus' own metrics, so they fire even when
// the app itself cannot run. Thresholds default to the app's ALERT_* settings' defaults.

param name string

param location string

param tags object = {}

@description('Application Insights resource id (the rules query its customMetrics and traces).')
param appInsightsId string

@description('Service Bus namespace name (dead letters are its DeadletteredMessages metric).')
param serviceBusName string

@description('Function App identity: read queue counts for /api/health/metrics (ServiceBusAdministrationClient).')
param functionAppPrincipalId string

@description('Grant the Function App "Azure Service Bus Data Owner" on the namespace so the metrics endpoint can read each queue\'s message and dead-letter counts (a management read; no narrower data role allows it). Without it the dashboard shows the queues as unavailable; the dead-letter alert below works either way.')
param grantQueueCounts bool = true

@description('E-mail addresses the action group notifies; empty for none.')
param alertEmails array = []

@description('Lowest share of deliveries answered 2xx (accepted or duplicate) over 5 minutes.')
param deliverySuccessRateMin string = '0.95'

@description('Lowest share of events processed or ignored over 5 minutes (ALERT_SUCCESS_RATE_MIN).')
param processingSuccessRateMin string = '0.95'

@description('Fewest deliveries (events) in 5 minutes before a rate is judged (ALERT_MIN_EVENTS).')
param minEvents int = 20

@description('Highest p99 seconds from receipt to applied over 5 minutes (ALERT_P99_LATENCY_SECONDS).')
param p99LatencySecondsMax int = 60

@description('Most 401 answers in 5 minutes before it is a spike (ALERT_SIGNATURE_FAILURES).')
param signatureFailuresMax int = 20

var serviceBusDataOwner = '090c5cfd-751d-490a-894a-3ce6f1109419'

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${name}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: take('portal${uniqueString(name)}', 12)
    enabled: true
    emailReceivers: [for (email, i) in alertEmails: {
      name: 'email-${i}'
      emailAddress: email
      useCommonAlertSchema: true
    }]
  }
}

// The app's own gauges (shared/health/samples.py): windowed figures, every minute.
var gauge = 'customMetrics | extend window = tostring(customDimensions.window)'

var rules = [
  {
    name: 'delivery-success-low'
    severity: 2
    description: 'Fewer than ${deliverySuccessRateMin} of the webhook deliveries were answered 2xx over 5 minutes (signatures, validation or queueing refused them).'
    query: '${gauge} | where name == "portal_deliveries" and window == "5m" | extend outcome = tostring(customDimensions.outcome) | summarize v = avg(value) by bin(timestamp, 5m), outcome | summarize received = sumif(v, outcome == "received"), answered = sumif(v, outcome in ("accepted", "duplicates")) by timestamp | where received >= ${minEvents} | extend rate = answered / received'
    measure: 'rate'
    aggregation: 'Minimum'
    operator: 'LessThan'
    threshold: json(deliverySuccessRateMin)
  }
  {
    name: 'processing-success-low'
    severity: 2
    description: 'Fewer than ${processingSuccessRateMin} of the events were processed or ignored over 5 minutes (the rest failed).'
    query: '${gauge} | where name == "portal_events" and window == "5m" | extend outcome = tostring(customDimensions.outcome) | summarize v = avg(value) by bin(timestamp, 5m), outcome | summarize recorded = sum(v), ok = sumif(v, outcome in ("processed", "ignored")) by timestamp | where recorded >= ${minEvents} | extend rate = ok / recorded'
    measure: 'rate'
    aggregation: 'Minimum'
    operator: 'LessThan'
    threshold: json(processingSuccessRateMin)
  }
  {
    name: 'latency-p99-high'
    severity: 3
    description: 'The p99 from a delivery\'s receipt to its event being applied exceeded ${p99LatencySecondsMax} s over 5 minutes.'
    query: '${gauge} | where name == "portal_event_latency_seconds" and window == "5m" and tostring(customDimensions.quantile) == "0.99" | summarize p99 = max(value) by bin(timestamp, 5m)'
    measure: 'p99'
    aggregation: 'Maximum'
    operator: 'GreaterThan'
    threshold: p99LatencySecondsMax
  }
  {
    name: 'circuit-open'
    severity: 2
    description: 'The portal circuit breaker is open: the portal keeps failing; outbound calls wait.'
    query: 'customMetrics | where name == "portal_circuit_open" | summarize open = max(value) by bin(timestamp, 5m)'
    measure: 'open'
    aggregation: 'Maximum'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'signature-failures-spike'
    severity: 2
    description: 'More than ${signatureFailuresMax} deliveries refused 401 in 5 minutes: a secret rotation went wrong, or someone is probing the webhook.'
    query: 'customMetrics | where name == "deliveries_rejected" and tostring(customDimensions.status) == "401" | summarize failures = sum(valueSum) by bin(timestamp, 5m)'
    measure: 'failures'
    aggregation: 'Total'
    operator: 'GreaterThan'
    threshold: signatureFailuresMax
  }
  {
    name: 'sync-rows-failed'
    severity: 2
    description: 'An ATS command failed for good (its sync_queue row is failed): python -m ops sync list --status failed.'
    query: 'traces | where message startswith "ALERT sync_failed"'
    measure: ''
    aggregation: 'Count'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'document-rejected'
    severity: 3
    description: 'A candidate document was rejected by verification and quarantined: python -m ops documents list --status rejected.'
    query: 'traces | where message startswith "ALERT document_rejected"'
    measure: ''
    aggregation: 'Count'
    operator: 'GreaterThan'
    threshold: 0
  }
]

resource queryRules 'Microsoft.Insights/scheduledQueryRules@2023-03-15-preview' = [for rule in rules: {
  name: '${name}-${rule.name}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'portal integration: ${rule.name}'
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: rule.aggregation
          metricMeasureColumn: empty(rule.measure) ? null : rule.measure
          operator: rule.operator
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}]

// Dead letters come from Service Bus itself: a handler that kept raising (a bug).
resource deadLetters 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${name}-dead-letters'
  location: 'global'
  tags: tags
  properties: {
    description: 'A queue has dead-lettered messages: python -m ops dead-letters list QUEUE, fix the bug, then resubmit.'
    severity: 2
    enabled: true
    scopes: [
      serviceBus.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'dead-letters'
          metricNamespace: 'Microsoft.ServiceBus/namespaces'
          metricName: 'DeadletteredMessages'
          dimensions: [
            {
              name: 'EntityName'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          timeAggregation: 'Maximum'
        }
      ]
    }
    actions: [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}

// The health workbook: deliveries, outcomes, latency, queues, breaker, sync_queue, documents,
// alerts and dependencies over a chosen time range.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, name, 'portal-health-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Portal integration health'
    category: 'workbook'
    sourceId: appInsightsId
    serializedData: loadTextContent('workbook.json')
  }
}

resource queueCountsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (grantQueueCounts) {
  name: guid(serviceBus.id, functionAppPrincipalId, serviceBusDataOwner)
  scope: serviceBus
  properties: {
    principalId: functionAppPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataOwner)
  }
}

output actionGroupId string = actionGroup.id
output workbookId string = workbook.id
