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
// Secure: the settings may hold secrets (sign-in), which must stay out of deployment history.
@secure()
@description('App settings (name: value) besides the build flag, the public URL and the container limits added here.')
param appSettings object = {}

// The build flag, the site's own address for share links and the sign-in redirect, and the
// container's time limits (https://learn.microsoft.com/azure/app-service/reference-app-settings).
var allSettings = union(appSettings, {
  SCM_DO_BUILD_DURING_DEPLOYMENT: 'true' // Oryx runs pip install -r requirements.txt
  FRAMEWISE_PUBLIC_URL: 'https://${name}.azurewebsites.net'
  // The first start after a deploy runs `db upgrade`, which may wait for a paused database
  // to resume (about a minute) and retries for about 2 minutes: more than the 230 s default.
  WEBSITES_CONTAINER_START_TIME_LIMIT: '600'
  // SIGTERM to SIGKILL: the worker hands its analyses back within 10 s and Streamlit closes;
  // the default 5 s cuts that short. 120 is the maximum.
  WEBSITES_CONTAINER_STOP_TIME_LIMIT: '60'
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
    // No AppServiceAppLogs: it collects nothing for Python on Linux, whose output (stdout and
    // stderr) is in AppServiceConsoleLogs.
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
        // Container start failures and restarts (a broken startup command shows here).
        category: 'AppServicePlatformLogs'
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
