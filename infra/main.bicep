// Framewise on Azure: App Service (Linux, Python 3.11) + Blob Storage + AI Vision + Azure OpenAI +
// Azure SQL + Log Analytics, managed identity end to end. `azd up` provisions this, then runs
// scripts/postprovision.sh (the database user Bicep cannot create) and deploys the code.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and tags every resource.')
param environmentName string

@minLength(1)
@description('Region for every resource. Caption and dense captions exist only in some Vision regions.')
param location string

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID): the SQL administrator.')
param principalId string

@description('Sign-in name of the deploying user, e.g. ana@contoso.com: the SQL administrator login.')
param principalName string

@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('App Service plan tier: B1 or above (Always On and web sockets are not on Free).')
param appServiceSkuName string = 'B1'

@description('Azure SQL database SKU; GP_S_Gen5_1 is serverless General Purpose (pauses when idle).')
param sqlDatabaseSkuName string = 'GP_S_Gen5_1'

@description('Azure AI Vision tier.')
param visionSkuName string = 'S1'

@description('Transactions per second the Vision resource allows (S1: 10 documented).')
param visionMaxTps string = '10'

@description('Deploy Azure OpenAI (account, model deployment, role, app settings) for the question analyser.')
param openAiDeploy bool = true

@description('Region of the Azure OpenAI account; empty: the same as everything else. GlobalStandard gpt-4.1-mini must be offered there.')
param openAiLocation string = ''

@minLength(2)
@description('Name of the model deployment, which the app sends as `model`; by default the model name.')
param openAiDeploymentName string = 'gpt-4.1-mini'

@minValue(1)
@description('Capacity of the model deployment in thousands of tokens per minute (quota per subscription and region).')
param openAiCapacity int = 100

@description('Public IP address of the machine that runs the postprovision hook; empty for none.')
param clientIpAddress string = ''

@description('Entra ID sign-in: application (client) id of the app registration; empty turns sign-in off.')
param authClientId string = ''

@description('Entra ID sign-in: directory (tenant) id; empty means the tenant of the deployment.')
param authTenantId string = ''

@secure()
@description('Entra ID sign-in: client secret, or better a Key Vault reference @Microsoft.KeyVault(SecretUri=...).')
param authClientSecret string = ''

@secure()
@description('Entra ID sign-in: random string of 32+ characters that signs the identity cookie.')
param authCookieSecret string = ''

@description('Who may use the app once signed in: addresses and @domain entries, comma-separated.')
param allowedUsers string = ''

var abbrs = {
  plan: 'plan-'
  web: 'app-'
  storage: 'st'
  vision: 'cv-'
  openAi: 'oai-'
  sql: 'sql-'
  logs: 'log-'
}
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var webAppName = '${abbrs.web}framewise-${resourceToken}'
var databaseName = 'framewise'
var containerName = 'framewise'
// The model is fixed here, not a parameter: the app's image-token rule and the RPM ratio below
// belong to the gpt-4.1 family (1 request per minute per 1,000 tokens per minute).
var openAiModel = 'gpt-4.1-mini'
var openAiModelVersion = '2025-04-14'
var openAiName = '${abbrs.openAi}${resourceToken}'
var openAiEndpoint = 'https://${openAiName}.openai.azure.com' // the account's subdomain, no trailing slash
var openAiSettings = openAiDeploy ? {
  AZURE_OPENAI_ENDPOINT: openAiEndpoint
  AZURE_OPENAI_DEPLOYMENT: openAiDeploymentName
  AZURE_OPENAI_MODEL: openAiModel
  AZURE_OPENAI_TPM: string(openAiCapacity * 1000)
  AZURE_OPENAI_RPM: string(openAiCapacity) // gpt-4.1 family: 1 RPM per 1,000 TPM
} : {}
var signIn = empty(authClientId) ? {} : {
  FRAMEWISE_AUTH_CLIENT_ID: authClientId
  FRAMEWISE_AUTH_TENANT_ID: empty(authTenantId) ? tenant().tenantId : authTenantId
  FRAMEWISE_AUTH_CLIENT_SECRET: authClientSecret
  FRAMEWISE_AUTH_COOKIE_SECRET: authCookieSecret
}

resource rg 'Microsoft.Resources/resourceGroups@2022-09-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module logs 'core/monitor/loganalytics.bicep' = {
  name: 'logs'
  scope: rg
  params: {
    name: '${abbrs.logs}${resourceToken}'
    location: location
    tags: tags
  }
}

module plan 'core/host/appserviceplan.bicep' = {
  name: 'plan'
  scope: rg
  params: {
    name: '${abbrs.plan}${resourceToken}'
    location: location
    tags: tags
    skuName: appServiceSkuName
  }
}

module sql 'core/database/sqlserver.bicep' = {
  name: 'sql'
  scope: rg
  params: {
    serverName: '${abbrs.sql}${resourceToken}'
    databaseName: databaseName
    location: location
    tags: tags
    adminPrincipalId: principalId
    adminPrincipalName: principalName
    adminPrincipalType: principalType == 'ServicePrincipal' ? 'Application' : principalType
    skuName: sqlDatabaseSkuName
    clientIpAddress: clientIpAddress
  }
}

module web 'core/host/appservice.bicep' = {
  name: 'web'
  scope: rg
  params: {
    name: webAppName
    location: location
    tags: union(tags, {
      'azd-service-name': 'web' // azure.yaml's service deploys to the resource with this tag
    })
    appServicePlanId: plan.outputs.id
    logAnalyticsWorkspaceId: logs.outputs.id
    appSettings: union({
      // Names as services/config.py reads them; no key, password or connection string.
      DATABASE_URL: 'mssql+pyodbc://@${sql.outputs.serverHost}/${databaseName}?driver=ODBC+Driver+18+for+SQL+Server'
      AZURE_STORAGE_ACCOUNT_URL: 'https://${storageAccountName}.blob.${environment().suffixes.storage}'
      AZURE_STORAGE_CONTAINER: containerName
      AZURE_VISION_ENDPOINT: 'https://${visionName}.cognitiveservices.azure.com'
      AZURE_VISION_MAX_TPS: visionMaxTps
      // The analyser is not pinned: the app's default follows what is deployed (Azure OpenAI when
      // openAiDeploy, else Azure AI Vision); analysts choose per analysis on the Upload page.
      // /home is the site's persistent storage, shared by instances; wwwroot is replaced on deploy.
      FRAMEWISE_DATA_DIR: '/home/framewise'
      FRAMEWISE_ALLOWED_USERS: allowedUsers
    }, openAiSettings, signIn)
  }
}

var storageAccountName = '${abbrs.storage}${resourceToken}'
var visionName = '${abbrs.vision}${resourceToken}'

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: tags
    containerName: containerName
    contributorPrincipalId: web.outputs.identityPrincipalId
  }
}

module vision 'core/ai/vision.bicep' = {
  name: 'vision'
  scope: rg
  params: {
    name: visionName
    location: location
    tags: tags
    skuName: visionSkuName
    userPrincipalId: web.outputs.identityPrincipalId
  }
}

module openAi 'core/ai/openai.bicep' = if (openAiDeploy) {
  name: 'openai'
  scope: rg
  params: {
    name: openAiName
    location: empty(openAiLocation) ? location : openAiLocation
    tags: tags
    deploymentName: openAiDeploymentName
    modelName: openAiModel
    modelVersion: openAiModelVersion
    capacity: openAiCapacity
    userPrincipalId: web.outputs.identityPrincipalId
  }
}

// The deploying user may copy videos too large for a browser upload into the container.
module deployerBlobAccess 'core/security/role.bicep' = if (principalType == 'User') {
  name: 'deployer-blob-access'
  scope: rg
  params: {
    principalId: principalId
    principalType: 'User'
    roleDefinitionId: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
  }
}

// azd stores these in .azure/<env>/.env; the postprovision hook reads them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output WEB_APP_NAME string = web.outputs.name
output WEB_APP_URI string = web.outputs.uri
output WEB_APP_PRINCIPAL_ID string = web.outputs.identityPrincipalId
output SQL_SERVER_HOST string = sql.outputs.serverHost
output SQL_DATABASE_NAME string = sql.outputs.databaseName
output DATABASE_URL string = 'mssql+pyodbc://@${sql.outputs.serverHost}/${databaseName}?driver=ODBC+Driver+18+for+SQL+Server'
output AZURE_STORAGE_ACCOUNT_URL string = 'https://${storage.outputs.name}.blob.${environment().suffixes.storage}'
output AZURE_STORAGE_CONTAINER string = storage.outputs.containerName
output AZURE_VISION_ENDPOINT string = vision.outputs.endpoint
output AZURE_OPENAI_ENDPOINT string = openAiDeploy ? openAiEndpoint : ''
output AZURE_OPENAI_DEPLOYMENT string = openAiDeploy ? openAi.outputs.deploymentName : ''
output AZURE_OPENAI_MODEL string = openAiDeploy ? openAiModel : ''
