"""infra/ offline, issue 19's settings: secrets in Key Vault behind a secure parameter, the
Vision region, the idle database settings and the container's time limits.

Read from pycep-parser's parse as in test_infra.py (whose checkov scan covers these files).
None of this proves `azd up` works.
"""

from __future__ import annotations

import json

from tests.fixtures import bicep

MAIN = bicep.INFRA / "main.bicep"
APPSERVICE = bicep.INFRA / "core/host/appservice.bicep"
VAULT = bicep.INFRA / "core/security/keyvault.bicep"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
CAPTION_REGIONS = {"eastus", "westus", "francecentral", "northeurope", "westeurope",
                   "koreacentral", "southeastasia", "eastasia"}


def _decorators(param: dict) -> set[str]:
    return {d["type"] for d in param.get("decorators", [])}


def _settings() -> dict:
    union = bicep.main()["modules"]["web"]["config"]["params"]["appSettings"]["function"]
    return union["parameters"]["arg_1"]


def test_the_app_settings_parameter_is_secure():
    """Test @secure() on appservice.bicep's appSettings (sign-in settings pass through it)."""
    assert "secure" in _decorators(bicep.parse(APPSERVICE)["parameters"]["appSettings"])
    for name in ("authClientSecret", "authCookieSecret"):
        assert "secure" in _decorators(bicep.parse(VAULT)["parameters"][name])


def test_sign_in_secrets_are_key_vault_references():
    """Test that the settings hold @Microsoft.KeyVault references to the vault's secrets, not
    the secrets, and that the vault stores exactly those two names."""
    sign_in = bicep.variable(MAIN, "signIn")["operator"]["operands"]["false_value"]
    for setting, secret in (("FRAMEWISE_AUTH_CLIENT_SECRET", "auth-client-secret"),
                            ("FRAMEWISE_AUTH_COOKIE_SECRET", "auth-cookie-secret")):
        assert sign_in[setting] == (
            "@Microsoft.KeyVault(SecretUri=${vaultUri}/secrets/" + secret + ")")
    assert bicep.variable(MAIN, "vaultUri") == (
        "https://${vaultName}${environment().suffixes.keyvaultDns}")
    secrets = bicep.resources_of_type("Microsoft.KeyVault/vaults/secrets")
    names = {r[2]["config"]["config"]["name"] for r in secrets}  # conditional: one level deeper
    assert names == {"auth-client-secret", "auth-cookie-secret"}
    module = bicep.main()["modules"]["vault"]
    assert module["detail"]["path"] == "core/security/keyvault.bicep"
    params = module["config"]["config"]["params"]
    assert (params["authClientSecret"], params["authCookieSecret"]) == (
        "authClientSecret", "authCookieSecret")


def test_the_vault_uses_roles_and_the_app_reads_secrets_only():
    """Test RBAC authorisation, soft delete, and Key Vault Secrets User for the app identity."""
    vault = bicep.resource_in(VAULT, "Microsoft.KeyVault/vaults")["config"]["properties"]
    assert vault["enableRbacAuthorization"] is True and vault["enableSoftDelete"] is True
    assert "accessPolicies" not in vault
    assert bicep.variable(VAULT, "secretsUser") == SECRETS_USER
    assert bicep.role_assignment(VAULT) == ("vault", "secretsUser", "secretsUserPrincipalId")
    params = bicep.main()["modules"]["vault"]["config"]["config"]["params"]
    assert bicep.accessor(params["secretsUserPrincipalId"]) == "web.outputs.identityPrincipalId"


def test_vision_has_its_own_region_limited_to_caption_regions():
    """Test visionLocation: @allowed the eight caption regions, and the Vision module uses it."""
    param = bicep.main()["parameters"]["visionLocation"]
    allowed = next(d["argument"] for d in param["decorators"] if d["type"] == "allowed")
    assert set(allowed) == CAPTION_REGIONS and len(allowed) == 8
    assert param["default"] in CAPTION_REGIONS
    assert bicep.main()["modules"]["vision"]["config"]["params"]["location"] == "visionLocation"
    mapped = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["visionLocation"]["value"] == "${FRAMEWISE_VISION_LOCATION=westeurope}"


def test_idle_database_settings_are_set_visibly():
    """Test FRAMEWISE_DB_IDLE_SECONDS 300 and FRAMEWISE_DB_IDLE_RECHECK_SECONDS 21600, through
    azd environment values like every other setting."""
    settings, params = _settings(), bicep.main()["parameters"]
    assert settings["FRAMEWISE_DB_IDLE_SECONDS"] == "dbIdleSeconds"
    assert settings["FRAMEWISE_DB_IDLE_RECHECK_SECONDS"] == "dbIdleRecheckSeconds"
    assert params["dbIdleSeconds"]["default"] == "300"
    assert params["dbIdleRecheckSeconds"]["default"] == "21600"
    mapped = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["dbIdleSeconds"]["value"] == "${FRAMEWISE_DB_IDLE_SECONDS=300}"
    assert mapped["dbIdleRecheckSeconds"]["value"] == "${FRAMEWISE_DB_IDLE_RECHECK_SECONDS=21600}"


def test_every_parameter_with_a_setting_comes_from_the_azd_environment():
    """Test that each main.bicep parameter a person may change is mapped from an azd value
    (settings set on the web app by hand are wiped by the next provision)."""
    mapped = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    assert set(mapped) == set(bicep.main()["parameters"])
    for name, entry in mapped.items():
        assert entry["value"].startswith("${") and entry["value"].endswith("}"), name


def test_container_start_and_stop_limits_are_set():
    """Test WEBSITES_CONTAINER_START_TIME_LIMIT (over the 230 s default, within 1800) and
    WEBSITES_CONTAINER_STOP_TIME_LIMIT (over the worker's 10 s hand-back, within 120)."""
    added = bicep.variable(APPSERVICE, "allSettings")["function"]["parameters"]["arg_2"]
    start = int(added["WEBSITES_CONTAINER_START_TIME_LIMIT"])
    stop = int(added["WEBSITES_CONTAINER_STOP_TIME_LIMIT"])
    assert 230 < start <= 1800 and 10 < stop <= 120
    worker = (bicep.ROOT / "services/analysis/worker.py").read_text()
    assert "STOP_TIMEOUT_S = 10.0" in worker  # the hand-back bound the stop limit must exceed


def test_vision_rate_comment_matches_the_faq():
    """Test that the Vision rate says S1 allows 20 TPS (the FAQ), not 10."""
    text = MAIN.read_text()
    assert "S1 allows 20" in text and "S1: 10 documented" not in text


def test_requirements_need_a_streamlit_with_st_app():
    """Test that requirements.txt, which App Service's build installs, allows no Streamlit
    before 1.57 (app.py needs st.App)."""
    from packaging.requirements import Requirement

    lines = (bicep.ROOT / "requirements.txt").read_text().splitlines()
    (streamlit,) = [Requirement(line) for line in lines if line.startswith("streamlit")]
    assert not streamlit.specifier.contains("1.56.9") and streamlit.specifier.contains("1.57.0")
    assert "st.App(" in (bicep.ROOT / "app.py").read_text()
