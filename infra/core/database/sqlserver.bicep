// Azure SQL with Entra-only authentication: no SQL logins or passwords exist at all.
param serverName string
param databaseName string
param location string = resourceGroup().location
param tags object = {}
@description('Object id of the Entra ID administrator: a group (recommended for a team) or the deploying user.')
param adminObjectId string
@description('Display name of the admin group, or the sign-in name of the admin user.')
param adminLogin string
@allowed([
  'User'
  'Group'
])
param adminPrincipalType string = 'User'
// Serverless General Purpose: pauses when idle (no session, no CPU for the whole delay).
param skuName string = 'GP_S_Gen5_1'
@description('Minutes without sessions before a serverless database pauses (General Purpose: 15 at least).')
@minValue(15)
param autoPauseDelayMinutes int = 60

var admin = {
  administratorType: 'ActiveDirectory'
  login: adminLogin
  sid: adminObjectId
  tenantId: tenant().tenantId
  principalType: adminPrincipalType
}

resource server 'Microsoft.Sql/servers@2023-08-01' = {
  name: serverName
  location: location
  tags: tags
  properties: {
    version: '12.0'
    minimalTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
    // Read only when the server is created (it must have an admin then); the child resources
    // below apply the admin on every deployment, so a change of admin takes effect.
    administrators: union(admin, {
      azureADOnlyAuthentication: true
    })
  }
}

resource entraAdmin 'Microsoft.Sql/servers/administrators@2023-08-01' = {
  parent: server
  name: 'ActiveDirectory'
  properties: {
    administratorType: admin.administratorType
    login: admin.login
    sid: admin.sid
    tenantId: admin.tenantId
  }
}

resource entraOnly 'Microsoft.Sql/servers/azureADOnlyAuthentications@2023-08-01' = {
  parent: server
  name: 'Default'
  properties: {
    azureADOnlyAuthentication: true
  }
  dependsOn: [
    entraAdmin // Entra-only needs an Entra admin in place
  ]
}

// 0.0.0.0 is Azure's convention for "services inside Azure", App Service among them. The
// deployer's own address gets a rule only while the postprovision grant runs (cli.py db
// grant-identity --open-firewall), never here.
resource allowAzure 'Microsoft.Sql/servers/firewallRules@2023-08-01' = {
  parent: server
  name: 'AllowAllWindowsAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
}

resource database 'Microsoft.Sql/servers/databases@2023-08-01' = {
  parent: server
  name: databaseName
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: startsWith(skuName, 'GP_') ? 'GeneralPurpose' : null
  }
  properties: {
    // Serverless only: a provisioned SKU (S0, Basic, GP_Gen5_2) takes neither setting.
    autoPauseDelay: startsWith(skuName, 'GP_S_') ? autoPauseDelayMinutes : null
    minCapacity: startsWith(skuName, 'GP_S_') ? json('0.5') : null
    zoneRedundant: false
  }
}

output serverName string = server.name
output serverHost string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
