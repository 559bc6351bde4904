# azd postprovision hook on Windows (PowerShell 7, `pwsh`): the same as postprovision.sh.
# Creates the web app's database user as the Azure CLI's signed-in user (the SQL administrator or
# a member of the admin group). Needs Python 3.11 (`py -3.11` or `python`) and Microsoft's ODBC
# Driver 18 for SQL Server on this machine.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
function Stop-Hook([string]$Message) {
    [Console]::Error.WriteLine("error: $Message")
    exit 1
}
$names = 'WEB_APP_NAME', 'WEB_APP_PRINCIPAL_ID', 'DATABASE_URL', 'AZURE_RESOURCE_GROUP',
         'AZURE_PRINCIPAL_ID', 'FRAMEWISE_SQL_ADMIN_GROUP_ID'
if (-not $env:WEB_APP_NAME) {
    # Outside azd (run by hand): read the values azd stored for the current environment.
    foreach ($line in (azd env get-values)) {
        if ($line -match '^([A-Z_]+)="?(.*?)"?$' -and $names -contains $Matches[1]) {
            Set-Item -Path "env:$($Matches[1])" -Value $Matches[2]
        }
    }
}
foreach ($name in 'WEB_APP_NAME', 'WEB_APP_PRINCIPAL_ID', 'DATABASE_URL', 'AZURE_RESOURCE_GROUP') {
    if (-not [Environment]::GetEnvironmentVariable($name)) {
        Stop-Hook "$name is not set: run ``azd provision`` first"
    }
}
# The identity's client id is its SID in the database (az reads it from Entra ID).
$clientId = az ad sp show --id $env:WEB_APP_PRINCIPAL_ID --query appId -o tsv
if ($LASTEXITCODE -ne 0 -or -not $clientId) { Stop-Hook 'az ad sp show found no client id for the web app''s identity' }
$cliArgs = @('db', 'grant-identity', $env:WEB_APP_NAME, '--object-id', $env:WEB_APP_PRINCIPAL_ID,
             '--client-id', "$clientId".Trim(), '--open-firewall', $env:AZURE_RESOURCE_GROUP)
if (-not $env:FRAMEWISE_SQL_ADMIN_GROUP_ID -and $env:AZURE_PRINCIPAL_ID) {
    $cliArgs += @('--admin-id', $env:AZURE_PRINCIPAL_ID)  # the deployer is the admin: az must be it too
}
$venvPython = Join-Path '.venv' 'Scripts\python.exe'
if (-not (Test-Path $venvPython)) {
    if (Get-Command py -ErrorAction SilentlyContinue) { py -3.11 -m venv .venv }
    elseif (Get-Command python -ErrorAction SilentlyContinue) { python -m venv .venv }
    else { Stop-Hook 'no Python found (py -3.11 or python): install Python 3.11' }
    if ($LASTEXITCODE -ne 0) { Stop-Hook 'creating .venv failed' }
}
& $venvPython -m pip install --quiet --disable-pip-version-check -r requirements.txt
if ($LASTEXITCODE -ne 0) { Stop-Hook 'pip install -r requirements.txt failed' }
& $venvPython cli.py @cliArgs
exit $LASTEXITCODE
