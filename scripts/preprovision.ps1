# azd preprovision hook on Windows (PowerShell 7, `pwsh`): the same as preprovision.sh.
# Who becomes the SQL server's Entra administrator: the group of FRAMEWISE_SQL_ADMIN_GROUP_ID and
# _NAME when set, else the deploying user, whose sign-in name this stores as AZURE_PRINCIPAL_NAME.
$ErrorActionPreference = 'Stop'
function Get-AzdValue([string]$Name) {
    $fromEnv = [Environment]::GetEnvironmentVariable($Name)
    if ($fromEnv) { return $fromEnv }
    $value = azd env get-value $Name 2>$null
    if ($LASTEXITCODE -ne 0) { return '' }
    return "$value".Trim()
}
if (Get-AzdValue 'FRAMEWISE_SQL_ADMIN_GROUP_ID') {
    if (-not (Get-AzdValue 'FRAMEWISE_SQL_ADMIN_GROUP_NAME')) {
        [Console]::Error.WriteLine("error: FRAMEWISE_SQL_ADMIN_GROUP_ID is set but not FRAMEWISE_SQL_ADMIN_GROUP_NAME (the group's display name): azd env set FRAMEWISE_SQL_ADMIN_GROUP_NAME '<name>'")
        exit 1
    }
    exit 0
}
if (-not (Get-AzdValue 'AZURE_PRINCIPAL_NAME')) {
    $name = az ad signed-in-user show --query userPrincipalName -o tsv 2>$null
    if ($LASTEXITCODE -ne 0 -or -not $name) {
        [Console]::Error.WriteLine('error: the Azure CLI is not signed in as a user (a service principal, or no `az login`): without FRAMEWISE_SQL_ADMIN_GROUP_ID and FRAMEWISE_SQL_ADMIN_GROUP_NAME (a group the deploying identity belongs to) the SQL administrator is the signed-in user; see docs/DEPLOY.md')
        exit 1
    }
    $name = "$name".Trim()
    azd env set AZURE_PRINCIPAL_NAME $name
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}
exit 0
