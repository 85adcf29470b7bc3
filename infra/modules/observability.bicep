// Log Analytics and workspace-based Application Insights: where the app's telemetry, the
// resources' diagnostic logs, and later the monitoring module's queries and alerts live.

param name string

param location string

param tags object = {}

@description('Days Log Analytics keeps data (30 are included in the ingestion price).')
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${name}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${name}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    IngestionMode: 'LogAnalytics'
    // The app exports with the connection string (shared/telemetry.py passes no credential);
    // disabling local auth would need Entra ingestion in the app first.
    DisableLocalAuth: false
  }
}

output workspaceId string = workspace.id
output appInsightsId string = appInsights.id
output appInsightsName string = appInsights.name
output connectionString string = appInsights.properties.ConnectionString
