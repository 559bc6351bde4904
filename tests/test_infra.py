"""infra/ offline: every .bicep parses, checkov passes, and the settings App Service needs are set.

The Bicep CLI and Azure are out of reach here: pycep-parser parses the files, checkov scans
them, and the assertions read the parsed resources. None of this proves `azd up` works.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tests.fixtures import bicep
from tests.fixtures.tools import missing

ROOT = bicep.ROOT
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
COGNITIVE_SERVICES_USER = "a97b65f3-24c7-4388-baec-2e87135dc908"


def _site() -> dict:
    return bicep.only_resource("Microsoft.Web/sites")[1]["config"]


def _site_config() -> dict:
    return _site()["properties"]["siteConfig"]


def _web_app_settings() -> dict:
    """The app settings main.bicep passes to the web app module (its first union argument)."""
    union = bicep.main()["modules"]["web"]["config"]["params"]["appSettings"]["function"]
    assert union["type"] == "union"
    return union["parameters"]["arg_1"]


@pytest.fixture(scope="module")
def checkov() -> bicep.CheckovReport:
    if not bicep.CHECKOV.exists():
        missing("checkov (its venv under .tools/checkov)")
    return bicep.checkov_report()


def test_every_bicep_file_parses():
    """Test that pycep-parser parses each .bicep under infra/ (a parse error fails here)."""
    files = bicep.bicep_files()
    assert {f.relative_to(bicep.INFRA).as_posix() for f in files} >= {
        "main.bicep", "core/host/appservice.bicep", "core/host/appserviceplan.bicep",
        "core/storage/storage-account.bicep", "core/ai/vision.bicep", "core/ai/openai.bicep",
        "core/database/sqlserver.bicep", "core/monitor/loganalytics.bicep",
        "core/security/role.bicep", "core/security/keyvault.bicep",
    }
    for path in files:
        tree = bicep.parse(path)
        assert tree.get("resources") or tree.get("modules"), path


def test_a_broken_file_fails_to_parse(tmp_path: Path):
    """Test that the parser used above does raise on a truncated file (so the test can fail)."""
    broken = tmp_path / "broken.bicep"
    text = (bicep.INFRA / "core" / "host" / "appservice.bicep").read_text()
    broken.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(Exception):  # noqa: B017 - lark raises several kinds
        bicep.parse(broken)


def test_checkov_passes_with_no_parse_errors(checkov):
    """Test that checkov (framework bicep, infra/.checkov.yaml skips) finds no failed check."""
    assert checkov.parsing_errors == 0
    assert checkov.failed == []
    assert checkov.passed >= 20 and checkov.resource_count >= 15


def test_checkov_reports_parse_errors(tmp_path: Path):
    """Test that a file checkov cannot parse is counted, although checkov itself exits 0."""
    if not bicep.CHECKOV.exists():
        missing("checkov (its venv under .tools/checkov)")
    (tmp_path / "broken.bicep").write_text("resource web 'Microsoft.Web/sites@2022-09-01' = {\n"
                                           "  name: 'x'\n  properties: {\n", encoding="utf-8")
    assert bicep.checkov_report(tmp_path).parsing_errors == 1


def test_checkov_skips_are_few_and_commented():
    """Test that every skipped rule in infra/.checkov.yaml carries a comment saying why."""
    lines = (bicep.INFRA / ".checkov.yaml").read_text().splitlines()
    skips = [line for line in lines if re.match(r"\s*- CKV_", line)]
    assert 0 < len(skips) <= 24
    assert all("#" in line for line in skips)
    config = yaml.safe_load("\n".join(lines))
    assert config["framework"] == ["bicep"] and config["skip-download"] is True
    for must_hold in ("CKV_AZURE_3", "CKV_AZURE_44", "CKV_AZURE_16", "CKV_AZURE_14"):
        assert must_hold not in config["skip-check"]  # https, TLS, identity, HTTPS-only stay on


def test_web_app_runs_streamlit_as_app_service_needs():
    """Test the web app: Python 3.11, web sockets, Always On, health path, affinity, identity."""
    site, config = _site(), _site_config()
    assert site["kind"] == "app,linux"
    assert config["linuxFxVersion"] == "PYTHON|${pythonVersion}"
    path = bicep.only_resource("Microsoft.Web/sites")[0]
    assert bicep.param_default(path, "pythonVersion") == "3.11"
    assert config["webSocketsEnabled"] is True
    assert config["alwaysOn"] is True
    assert config["healthCheckPath"] == "/_stcore/health"
    assert site["properties"]["clientAffinityEnabled"] is True
    assert site["identity"] == {"type": "SystemAssigned"}
    plan = bicep.only_resource("Microsoft.Web/serverfarms")
    assert plan[1]["config"]["kind"] == "linux"
    assert plan[1]["config"]["properties"]["reserved"] is True
    assert bicep.main()["parameters"]["appServiceSkuName"]["default"] == "B1"


def test_web_app_is_https_only_with_tls_12_and_no_ftp():
    """Test HTTPS only, TLS 1.2, FTP off and no basic publishing credentials."""
    assert _site()["properties"]["httpsOnly"] is True
    assert _site_config()["minTlsVersion"] == "1.2"
    assert _site_config()["ftpsState"] == "Disabled"
    policies = bicep.resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {r[2]["config"]["name"]: r[2]["config"]["properties"]["allow"] for r in policies} == {
        "ftp": False, "scm": False}


def test_startup_command_migrates_then_serves_streamlit_on_port():
    """Test that the startup command is the committed script, which upgrades then serves $PORT."""
    command = bicep.startup_command()
    assert shlex.split(command) == ["bash", "scripts/appservice-start.sh"]
    script = (ROOT / "scripts" / "appservice-start.sh").read_text()
    lines = [line.strip() for line in script.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert "set -euo pipefail" in lines  # a failed upgrade stops the start, visibly
    upgrade = lines.index("python cli.py db upgrade")
    serve = next(i for i, line in enumerate(lines) if "streamlit run app.py" in line)
    assert upgrade < serve
    served = " ".join(lines[serve:]).replace("\\ ", " ")
    for flag in ('--server.port "$port"', "--server.address 0.0.0.0",
                 "--server.headless true"):
        assert flag in served
    assert 'port="${PORT:-8000}"' in lines


def test_app_settings_are_the_ones_framewise_reads():
    """Test that the web app gets Framewise's settings by their real names, with no secret."""
    settings = _web_app_settings()
    config_py = (ROOT / "services" / "config.py").read_text()
    for name in settings:
        assert f'"{name}"' in config_py or name.startswith("FRAMEWISE_AUTH_"), name
    assert settings["DATABASE_URL"].startswith("mssql+pyodbc://@${sql.outputs.serverHost}/")
    assert settings["DATABASE_URL"].endswith("?driver=ODBC+Driver+18+for+SQL+Server")
    assert settings["AZURE_STORAGE_ACCOUNT_URL"].startswith("https://")
    assert settings["AZURE_VISION_ENDPOINT"].startswith("https://")
    assert settings["FRAMEWISE_DATA_DIR"].startswith("/home/")
    assert "AZURE_VISION_KEY" not in settings
    assert "AZURE_STORAGE_CONNECTION_STRING" not in settings
    module_vars = bicep.parse(bicep.INFRA / "core/host/appservice.bicep")["variables"]
    added = module_vars["allSettings"]["value"]["function"]["parameters"]["arg_2"]
    assert added["SCM_DO_BUILD_DURING_DEPLOYMENT"] == "true"
    assert added["FRAMEWISE_PUBLIC_URL"] == "https://${name}.azurewebsites.net"


def test_storage_has_no_shared_keys_and_the_app_writes_blobs():
    """Test the storage account: no shared keys, no public blobs, TLS 1.2, the role for the app."""
    props = bicep.only_resource("Microsoft.Storage/storageAccounts")[1]["config"]["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    container = bicep.only_resource("Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container[1]["config"]["properties"]["publicAccess"] == "None"
    path = bicep.only_resource("Microsoft.Storage/storageAccounts")[0]
    assert bicep.parse(path)["variables"]["blobDataContributor"]["value"] == BLOB_DATA_CONTRIBUTOR
    assert bicep.role_assignment(path) == ("account", "blobDataContributor",
                                           "contributorPrincipalId")


def test_vision_has_a_subdomain_and_no_keys():
    """Test AI Vision: kind ComputerVision, custom subdomain, local auth off, the app's role."""
    path = bicep.INFRA / "core/ai/vision.bicep"
    vision = bicep.resource_in(path, "Microsoft.CognitiveServices/accounts")
    assert vision["config"]["kind"] == "ComputerVision"
    assert vision["config"]["properties"]["customSubDomainName"] == "name"
    assert vision["config"]["properties"]["disableLocalAuth"] is True
    assert bicep.variable(path, "cognitiveServicesUser") == COGNITIVE_SERVICES_USER
    assert bicep.role_assignment(path) == ("vision", "cognitiveServicesUser", "userPrincipalId")


def test_roles_go_to_the_web_apps_identity():
    """Test that main.bicep hands the web app's principal id to the storage and vision roles."""
    modules = bicep.main()["modules"]
    identity = "web.outputs.identityPrincipalId"
    storage_principal = modules["storage"]["config"]["params"]["contributorPrincipalId"]
    assert bicep.accessor(storage_principal) == identity
    assert bicep.accessor(modules["vision"]["config"]["params"]["userPrincipalId"]) == identity


def test_sql_is_entra_only_with_the_deployer_as_admin():
    """Test Azure SQL: Entra-only, the admin from the module's parameters, Azure services
    allowed and no deployer's rule (the grant opens and removes its own)."""
    path, server = bicep.only_resource("Microsoft.Sql/servers")
    props = server["config"]["properties"]
    admin = bicep.variable(path, "admin")
    assert admin["administratorType"] == "ActiveDirectory"
    assert (admin["sid"], admin["login"]) == ("adminObjectId", "adminLogin")
    union = props["administrators"]["function"]
    assert union["type"] == "union" and union["parameters"]["arg_1"] == "admin"
    assert union["parameters"]["arg_2"] == {"azureADOnlyAuthentication": True}
    assert "administratorLogin" not in props and "administratorLoginPassword" not in props
    assert props["minimalTlsVersion"] == "1.2"
    rules = {r[2]["config"]["name"]: r[2]["config"]["properties"]
             for r in bicep.resources_of_type("Microsoft.Sql/servers/firewallRules")}
    assert rules == {"AllowAllWindowsAzureIps": {"startIpAddress": "0.0.0.0",
                                                 "endIpAddress": "0.0.0.0"}}
    assert "clientIpAddress" not in bicep.main()["parameters"]
    database = bicep.only_resource("Microsoft.Sql/servers/databases")[1]["config"]
    assert bicep.param_default(path, database["sku"]["name"]) == "GP_S_Gen5_1"  # serverless


def test_sql_admin_is_applied_on_every_deployment_by_child_resources():
    """Test the administrators/ActiveDirectory and azureADOnlyAuthentications/Default children
    (the server's own `administrators` is read only when it is created)."""
    (_, _, entra), = bicep.resources_of_type("Microsoft.Sql/servers/administrators")
    assert entra["config"]["parent"] == "server" and entra["config"]["name"] == "ActiveDirectory"
    assert bicep.accessor(entra["config"]["properties"]["sid"]) == "admin.sid"
    assert bicep.accessor(entra["config"]["properties"]["login"]) == "admin.login"
    (_, _, only), = bicep.resources_of_type("Microsoft.Sql/servers/azureADOnlyAuthentications")
    assert only["config"]["name"] == "Default"
    assert only["config"]["properties"] == {"azureADOnlyAuthentication": True}


def test_sql_admin_is_the_group_when_given_else_the_deploying_user():
    """Test main.bicep's choice of admin: FRAMEWISE_SQL_ADMIN_GROUP_ID/_NAME, or the user."""
    sql = bicep.main()["modules"]["sql"]["config"]["params"]
    choices = {key: sql[key]["operator"] for key in ("adminObjectId", "adminLogin",
                                                     "adminPrincipalType")}
    for key, (if_group, if_not) in {"adminObjectId": ("sqlAdminGroupId", "principalId"),
                                    "adminLogin": ("sqlAdminGroupName", "principalName"),
                                    "adminPrincipalType": ("Group", "User")}.items():
        operator = choices[key]
        assert operator["type"] == "conditional" and operator["operands"]["condition"] == (
            "sqlAdminIsGroup"), key
        assert (operator["operands"]["true_value"], operator["operands"]["false_value"]) == (
            if_group, if_not), key
    mapped = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["sqlAdminGroupId"]["value"] == "${FRAMEWISE_SQL_ADMIN_GROUP_ID}"
    assert mapped["sqlAdminGroupName"]["value"] == "${FRAMEWISE_SQL_ADMIN_GROUP_NAME}"


def test_sql_uses_ga_api_versions():
    """Test that every Microsoft.Sql resource uses the GA 2023-08-01 API, no preview."""
    kinds = ("Microsoft.Sql/servers", "Microsoft.Sql/servers/administrators",
             "Microsoft.Sql/servers/azureADOnlyAuthentications",
             "Microsoft.Sql/servers/firewallRules", "Microsoft.Sql/servers/databases")
    for kind in kinds:
        for _, _, resource in bicep.resources_of_type(kind):
            assert resource["api_version"] == "2023-08-01", kind
    text = (bicep.INFRA / "core/database/sqlserver.bicep").read_text()
    assert "preview" not in text


def test_web_app_logs_go_to_log_analytics():
    """Test diagnostic settings: console, HTTP and platform logs (container start failures) to
    the workspace; not AppServiceAppLogs, which collects nothing for Python on Linux."""
    (_, _, diag), = bicep.resources_of_type("Microsoft.Insights/diagnosticSettings")
    assert diag["config"]["scope"] == "web"
    assert diag["config"]["properties"]["workspaceId"] == "logAnalyticsWorkspaceId"
    categories = {log["category"] for log in diag["config"]["properties"]["logs"]
                  if log["enabled"] is True}
    assert categories == {"AppServiceConsoleLogs", "AppServiceHTTPLogs",
                          "AppServicePlatformLogs"}
    assert bicep.only_resource("Microsoft.OperationalInsights/workspaces")


def test_no_secret_literals_anywhere():
    """Test that no key, password or connection string is written into infra/ or azure.yaml."""
    for path in [*bicep.bicep_files(), bicep.INFRA / "main.parameters.json",
                 ROOT / "azure.yaml"]:
        # Comments may talk about passwords; code may not hold one.
        text = re.sub(r"(^|\s)(//|#).*$", "", path.read_text().lower(), flags=re.M)
        for word in ("password", "accountkey", "listkeys(", "connectionstring", "sharedaccess"):
            assert word not in text, (path, word)
    params = bicep.main()["parameters"]
    for name in ("authClientSecret", "authCookieSecret"):
        decorators = {d["type"] for d in params[name]["decorators"]}
        assert "secure" in decorators and params[name]["default"] == ""


def test_azd_files_map_parameters_and_run_the_hook():
    """Test azure.yaml (App Service service, postprovision hook) and main.parameters.json."""
    azure = yaml.safe_load((ROOT / "azure.yaml").read_text())
    assert azure["services"]["web"] == {"project": ".", "language": "py", "host": "appservice"}
    hook = azure["hooks"]["postprovision"]["posix"]["run"]
    assert hook == "bash scripts/postprovision.sh"
    script = (ROOT / "scripts" / "postprovision.sh").read_text()
    assert 'args=(db grant-identity "$WEB_APP_NAME"' in script
    assert '.venv/bin/python cli.py "${args[@]}"' in script
    mapped = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    declared = bicep.main()["parameters"]
    assert set(mapped) <= set(declared)
    required = {n for n, p in declared.items() if "default" not in p}
    assert required <= set(mapped)
    assert mapped["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"
    outputs = bicep.main()["outputs"]
    for name in ("WEB_APP_NAME", "WEB_APP_PRINCIPAL_ID", "DATABASE_URL"):
        assert name in outputs and f"${name}" in script.replace("{", "").replace("}", "")
    web_tags = bicep.main()["modules"]["web"]["config"]["params"]["tags"]["function"]
    assert web_tags["parameters"]["arg_2"] == {"'azd-service-name'": "web"}  # key as written


def test_zip_deploy_leaves_out_secrets_and_local_data():
    """Test that .webappignore keeps .env, secrets.toml, data, venvs and tools out of the zip."""
    ignored = {line.strip() for line in (ROOT / ".webappignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".env", ".streamlit/secrets.toml", "data/", ".venv/", ".tools/", ".git/"} <= ignored
    assert "requirements.txt" not in ignored and "scripts/" not in ignored

