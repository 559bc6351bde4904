// Azure AI Vision (Image Analysis 4.0): Entra ID only, which needs a custom subdomain.
param name string
param location string = resourceGroup().location
param tags object = {}
param skuName string = 'S1'
@description('Principal (the web app identity) given Cognitive Services User on this resource.')
param userPrincipalId string

// Cognitive Services User: call the data plane with an Entra ID token.
var cognitiveServicesUser = 'a97b65f3-24c7-4388-baec-2e87135dc908'

resource vision 'Microsoft.CognitiveServices/accounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'ComputerVision'
  sku: {
    name: skuName
  }
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    customSubDomainName: name // token auth works only on the resource's own subdomain
    disableLocalAuth: true // no keys: the app's identity holds Cognitive Services User
    publicNetworkAccess: 'Enabled'
  }
}

resource user 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vision.id, userPrincipalId, cognitiveServicesUser)
  scope: vision
  properties: {
    principalId: userPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesUser)
  }
}

output name string = vision.name
output endpoint string = vision.properties.endpoint
