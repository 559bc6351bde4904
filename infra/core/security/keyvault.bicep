// Key Vault for the sign-in secrets: the web app reads them through Key Vault references with
// its managed identity (Key Vault Secrets User), so they are not kept as plain app settings.
param name string
param location string = resourceGroup().location
param tags object = {}
@secure()
@description('Entra ID sign-in client secret; empty: not stored.')
param authClientSecret string
@secure()
@description('Secret that signs the identity cookie; empty: not stored.')
param authCookieSecret string
@description('Principal (the web app identity) given Key Vault Secrets User on this vault.')
param secretsUserPrincipalId string

// Key Vault Secrets User: read secret values, nothing else.
var secretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true // roles, not access policies
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    // Purge protection would keep the name for the retention period even after `azd down
    // --purge`, so the same environment could not be deployed again for a week.
    enablePurgeProtection: null
    publicNetworkAccess: 'Enabled' // App Service without VNet integration resolves references publicly
  }
}

// Names as main.bicep's Key Vault references spell them.
resource clientSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(authClientSecret)) {
  parent: vault
  name: 'auth-client-secret'
  properties: {
    value: authClientSecret
    contentType: 'text/plain'
  }
}

resource cookieSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(authCookieSecret)) {
  parent: vault
  name: 'auth-cookie-secret'
  properties: {
    value: authCookieSecret
    contentType: 'text/plain'
  }
}

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, secretsUserPrincipalId, secretsUser)
  scope: vault
  properties: {
    principalId: secretsUserPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUser)
  }
}

output name string = vault.name
output uri string = vault.properties.vaultUri
