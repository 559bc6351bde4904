// Azure SQL with Entra-only authentication: no SQL logins or passwords exist at all.
param serverName string
param databaseName string
param location string = resourceGroup().location
param tags object = {}
@description('Object id of the Entra ID administrator (the deploying user, from azd).')
param adminPrincipalId string
@description('Sign-in name of the administrator, e.g. ana@contoso.com.')
param adminPrincipalName string
@allowed([
  'User'
  'Group'
  'Application'
])
param adminPrincipalType string = 'User'
// Serverless General Purpose: pauses when idle, so a quiet internal tool costs little.
param skuName string = 'GP_S_Gen5_1'
param autoPauseDelayMinutes int = 60
@description('One public address allowed in besides Azure services, e.g. the deployer running the postprovision hook; empty for none.')
param clientIpAddress string = ''

resource server 'Microsoft.Sql/servers@2022-05-01-preview' = {
  name: serverName
  location: location
  tags: tags
  properties: {
    version: '12.0'
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    administrators: {
      administratorType: 'ActiveDirectory'
      azureADOnlyAuthentication: true
      login: adminPrincipalName
      sid: adminPrincipalId
      tenantId: tenant().tenantId
      principalType: adminPrincipalType
    }
  }
}

// 0.0.0.0 is Azure's convention for "services inside Azure", App Service among them.
resource allowAzure 'Microsoft.Sql/servers/firewallRules@2022-05-01-preview' = {
  parent: server
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource allowClient 'Microsoft.Sql/servers/firewallRules@2022-05-01-preview' = if (!empty(clientIpAddress)) {
  parent: server
  name: 'AllowDeployer'
  properties: {
    startIpAddress: clientIpAddress
    endIpAddress: clientIpAddress
  }
}

resource database 'Microsoft.Sql/servers/databases@2022-05-01-preview' = {
  parent: server
  name: databaseName
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: 'GeneralPurpose'
  }
  properties: {
    autoPauseDelay: autoPauseDelayMinutes
    minCapacity: json('0.5')
    zoneRedundant: false
  }
}

output serverName string = server.name
output serverHost string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
