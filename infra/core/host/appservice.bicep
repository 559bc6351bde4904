// The Framewise web app: Python 3.11 on Linux, Streamlit started by the committed startup script.
param name string
param location string = resourceGroup().location
param tags object = {}
param appServicePlanId string
param logAnalyticsWorkspaceId string
param pythonVersion string = '3.11'
// App Service runs Gunicorn unless a startup command is set; ours migrates, then serves Streamlit
// on $PORT (scripts/appservice-start.sh).
param appCommandLine string = 'bash scripts/appservice-start.sh'
@description('App settings (name: value) besides the build flag and the public URL added here.')
param appSettings object = {}

// The build flag, and the site's own address for share links and the sign-in redirect.
var allSettings = union(appSettings, {
  SCM_DO_BUILD_DURING_DEPLOYMENT: 'true' // Oryx runs pip install -r requirements.txt
  FRAMEWISE_PUBLIC_URL: 'https://${name}.azurewebsites.net'
})

resource web 'Microsoft.Web/sites@2022-09-01' = {
  name: name
  location: location
  tags: tags
  kind: 'app,linux'
  identity: {
    type: 'SystemAssigned' // Blob, Vision and SQL all accept this identity: no keys anywhere
  }
  properties: {
    serverFarmId: appServicePlanId
    httpsOnly: true
    // Uploads, media and the web socket of one session must reach the same instance.
    clientAffinityEnabled: true
    siteConfig: {
      linuxFxVersion: 'PYTHON|${pythonVersion}'
      appCommandLine: appCommandLine
      alwaysOn: true // the embedded worker runs with nobody visiting
      webSocketsEnabled: true // Streamlit talks over a web socket
      healthCheckPath: '/_stcore/health'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      use32BitWorkerProcess: false
      httpLoggingEnabled: true
      detailedErrorLoggingEnabled: true
      requestTracingEnabled: true
      appSettings: [for setting in items(allSettings): {
        name: setting.key
        value: setting.value
      }]
    }
  }
}

// No publishing passwords: azd and az deploy with an Entra ID token.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2022-09-01' = {
  parent: web
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2022-09-01' = {
  parent: web
  name: 'scm'
  properties: {
    allow: false
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'framewise-logs'
  scope: web
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'AppServiceConsoleLogs'
        enabled: true
      }
      {
        category: 'AppServiceHTTPLogs'
        enabled: true
      }
      {
        category: 'AppServiceAppLogs'
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

output name string = web.name
output uri string = 'https://${web.properties.defaultHostName}'
output identityPrincipalId string = web.identity.principalId
