// Azure OpenAI for the per-frame question analyser: one account, Entra ID only (a custom
// subdomain, no keys), and one model deployment billed per token (GlobalStandard).
// API 2024-10-01: the first GA version after the GlobalStandard deployment type; bicep-types-az
// knows both resource types at it (the sku name is a free string there, as at 2023-05-01).
param name string
param location string = resourceGroup().location
param tags object = {}
@description('Deployment name: what the app sends as `model` (AZURE_OPENAI_DEPLOYMENT).')
param deploymentName string
@description('Model and version deployed. Another model needs its own token and RPM rules in the app.')
param modelName string = 'gpt-4.1-mini'
param modelVersion string = '2025-04-14'
@minValue(1)
@description('Deployment capacity in thousands of tokens per minute, taken from the regional quota of the subscription.')
param capacity int
@description('Principal (the web app identity) given Cognitive Services OpenAI User on this account.')
param userPrincipalId string

// Cognitive Services OpenAI User: chat completions with an Entra ID token, no management rights.
var openAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: name
  location: location
  tags: tags
  kind: 'OpenAI' // endpoint https://<name>.openai.azure.com; only OpenAI models are deployed
  sku: {
    name: 'S0'
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name // token auth works only on the account's own subdomain
    disableLocalAuth: true // no keys: the app's identity holds Cognitive Services OpenAI User
    publicNetworkAccess: 'Enabled' // App Service without VNet integration reaches it publicly
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: 'GlobalStandard' // pay per token, served from any region of the geography's pool
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
    // Stay on the pinned version (its image-token rule) until Azure retires it.
    versionUpgradeOption: 'OnceCurrentVersionExpired'
  }
}

resource user 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, userPrincipalId, openAiUser)
  scope: account
  properties: {
    principalId: userPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUser)
  }
}

output name string = account.name
output endpoint string = account.properties.endpoint
output deploymentName string = deployment.name
