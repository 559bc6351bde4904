// Linux App Service plan. B1 is the smallest tier with Always On and web sockets, which the
// embedded worker and Streamlit need (Free and Shared have neither).
param name string
param location string = resourceGroup().location
param tags object = {}
param skuName string = 'B1'
@minValue(1)
param capacity int = 1

resource plan 'Microsoft.Web/serverfarms@2022-09-01' = {
  name: name
  location: location
  tags: tags
  kind: 'linux'
  sku: {
    name: skuName
    capacity: capacity
  }
  properties: {
    reserved: true // Linux
  }
}

output id string = plan.id
output name string = plan.name
