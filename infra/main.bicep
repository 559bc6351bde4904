// Framewise on Azure: App Service (Linux, Python 3.11) + Blob Storage + AI Vision + Azure OpenAI +
// Azure SQL + Key Vault (sign-in secrets) + Log Analytics, managed identity end to end. `azd up` provisions this, then runs
// scripts/postprovision.sh (the database user Bicep cannot create) and deploys the code.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; names the resource group and tags every resource.')
param environmentName string

@minLength(1)
@description('Region for every resource but AI Vision (visionLocation) and, if set, Azure OpenAI.')
param location string

// Image Analysis 4.0 captions and dense captions exist in these regions only; elsewhere every
// analysis asking for them fails with 400. https://learn.microsoft.com/azure/ai-services/computer-vision/concept-describe-images-40
@allowed([
  'eastus'
  'westus'
  'francecentral'
  'northeurope'
  'westeurope'
  'koreacentral'
  'southeastasia'
  'eastasia'
])
@description('Region of the AI Vision resource: one that offers captions.')
param visionLocation string = 'westeurope'

@description('Object id of the identity azd signed in as (azd sets AZURE_PRINCIPAL_ID).')
param principalId string

@description('Sign-in name of the deploying user, e.g. ana@contoso.com: the SQL administrator login when no admin group is given.')
param principalName string = ''

// azd sets AZURE_PRINCIPAL_TYPE itself from its sign-in (User or ServicePrincipal); it decides
// only whether the deployer gets the Blob role below.
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Object id of an Entra group to be the SQL administrator (recommended for a team, required when a service principal deploys); empty: the deploying user.')
param sqlAdminGroupId string = ''

@description('Display name of that group.')
param sqlAdminGroupName string = ''

@description('App Service plan tier: B1 or above (Always On and web sockets are not on Free).')
param appServiceSkuName string = 'B1'

@description('Azure SQL database SKU; GP_S_Gen5_1 is serverless General Purpose (pauses when idle).')
param sqlDatabaseSkuName string = 'GP_S_Gen5_1'

@description('Azure AI Vision tier.')
param visionSkuName string = 'S1'

// The Image Analysis FAQ gives S1 20 transactions per second; 10 leaves half for other callers
// of the same resource and for the 429 back-off. Set AZURE_VISION_MAX_TPS to use more.
@description('Transactions per second the app sends to the Vision resource (S1 allows 20).')
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

@description('Entra ID sign-in: application (client) id of the app registration; empty turns sign-in off.')
param authClientId string = ''

@description('Entra ID sign-in: directory (tenant) id; empty means the tenant of the deployment.')
param authTenantId string = ''

@secure()
@description('Entra ID sign-in: client secret; stored in the Key Vault, the app reads it through a Key Vault reference.')
param authClientSecret string = ''

@secure()
@description('Entra ID sign-in: random string of 32+ characters that signs the identity cookie.')
param authCookieSecret string = ''

@description('Who may use the app once signed in: addresses and @domain entries, comma-separated.')
param allowedUsers string = ''

@description('Seconds with nothing queued or running and no page activity before the app closes its database connections (so the serverless database can pause).')
param dbIdleSeconds string = '300'

@description('Seconds between the idle worker\'s single looks for analyses queued from elsewhere (cli.py analyze --no-wait); 0: only a page visit wakes it.')
param dbIdleRecheckSeconds string = '21600'

var abbrs = {
  plan: 'plan-'
  web: 'app-'
  storage: 'st'
  vision: 'cv-'
  openAi: 'oai-'
  sql: 'sql-'
  logs: 'log-'
  vault: 'kv-'
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
// The sign-in secrets live in Key Vault; the app settings hold references to them, which App
// Service resolves with the app's identity. The URIs are built here, not read from the vault
// module, because the vault's role needs the web app's identity first.
var vaultName = '${abbrs.vault}${resourceToken}'
var vaultUri = 'https://${vaultName}${environment().suffixes.keyvaultDns}'
var signIn = empty(authClientId) ? {} : {
  FRAMEWISE_AUTH_CLIENT_ID: authClientId
  FRAMEWISE_AUTH_TENANT_ID: empty(authTenantId) ? tenant().tenantId : authTenantId
  FRAMEWISE_AUTH_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${vaultUri}/secrets/auth-client-secret)'
  FRAMEWISE_AUTH_COOKIE_SECRET: '@Microsoft.KeyVault(SecretUri=${vaultUri}/secrets/auth-cookie-secret)'
}
var sqlAdminIsGroup = !empty(sqlAdminGroupId)

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
    adminObjectId: sqlAdminIsGroup ? sqlAdminGroupId : principalId
    adminLogin: sqlAdminIsGroup ? sqlAdminGroupName : principalName
    adminPrincipalType: sqlAdminIsGroup ? 'Group' : 'User'
    skuName: sqlDatabaseSkuName
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
      // An idle app holds no database connection, so the serverless database can pause.
      FRAMEWISE_DB_IDLE_SECONDS: dbIdleSeconds
      FRAMEWISE_DB_IDLE_RECHECK_SECONDS: dbIdleRecheckSeconds
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
    location: visionLocation
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

module vault 'core/security/keyvault.bicep' = if (!empty(authClientId)) {
  name: 'vault'
  scope: rg
  params: {
    name: vaultName
    location: location
    tags: tags
    authClientSecret: authClientSecret
    authCookieSecret: authCookieSecret
    secretsUserPrincipalId: web.outputs.identityPrincipalId
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
