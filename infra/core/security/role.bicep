// A role for a principal on the whole resource group (it holds only Framewise), e.g. the
// deploying user's Blob access for copying large videos into storage.
param principalId string
@description('Role definition id (a GUID), e.g. Storage Blob Data Contributor.')
param roleDefinitionId string
@allowed([
  'Device'
  'ForeignGroup'
  'Group'
  'ServicePrincipal'
  'User'
])
param principalType string = 'ServicePrincipal'

resource assignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, resourceGroup().id, principalId, roleDefinitionId)
  properties: {
    principalId: principalId
    principalType: principalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
  }
}
