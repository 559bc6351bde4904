"""infra/ offline, the Azure OpenAI part: account, model deployment, role and app settings.

The per-frame question analyser's resources (infra/core/ai/openai.bicep, wired in main.bicep),
read from pycep-parser's parse as in test_infra.py (checkov's scan there covers these files too).
None of this proves `azd up` works.
"""

from __future__ import annotations

import json

from tests.fixtures import bicep

ROOT = bicep.ROOT
OPENAI = bicep.INFRA / "core/ai/openai.bicep"
OPENAI_USER = "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd"
OPENAI_SETTINGS = ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT", "AZURE_OPENAI_MODEL",
                   "AZURE_OPENAI_TPM", "AZURE_OPENAI_RPM")


def _openai_module() -> dict:
    """main.bicep's openAi module: deployed only when the openAiDeploy parameter says so."""
    module = bicep.main()["modules"]["openAi"]
    assert module["detail"]["path"] == "core/ai/openai.bicep"
    assert module["config"]["condition"] == "openAiDeploy"
    return module["config"]["config"]


def _evaluate(node, names: dict):
    """The value of the few expressions the settings use: names, numbers, string(), a * b."""
    if isinstance(node, str):
        return names.get(node, node)
    if not isinstance(node, dict):
        return node
    if "function" in node and node["function"]["type"] == "string":
        (arg,) = node["function"]["parameters"].values()
        return str(_evaluate(arg, names))
    operator = node["operator"]
    assert operator["type"] == "multiply", operator["type"]
    operands = operator["operands"]
    return _evaluate(operands["operand_1"], names) * _evaluate(operands["operand_2"], names)


def test_openai_account_has_a_subdomain_and_no_keys():
    """Test the Azure OpenAI account: kind OpenAI, S0, own subdomain, local auth off, as Vision."""
    account = bicep.resource_in(OPENAI, "Microsoft.CognitiveServices/accounts")
    config, props = account["config"], account["config"]["properties"]
    assert (config["kind"], config["sku"]["name"]) == ("OpenAI", "S0")
    assert props["customSubDomainName"] == config["name"] == "name"
    assert props["disableLocalAuth"] is True
    vision = bicep.resource_in(bicep.INFRA / "core/ai/vision.bicep",
                               "Microsoft.CognitiveServices/accounts")
    assert props["publicNetworkAccess"] == vision["config"]["properties"]["publicNetworkAccess"]
    assert config["identity"] == {"type": "SystemAssigned"}
    assert bicep.main()["parameters"]["openAiDeploy"]["default"] is True


def test_openai_deployment_is_global_standard_gpt_41_mini_at_the_capacity_parameter():
    """Test the model deployment: GlobalStandard, gpt-4.1-mini 2025-04-14, capacity parameter."""
    deployment = bicep.resource_in(OPENAI, "Microsoft.CognitiveServices/accounts/deployments")
    config = deployment["config"]
    assert config["parent"] == "account"
    assert config["sku"] == {"name": "GlobalStandard", "capacity": "capacity"}
    assert config["properties"]["model"] == {"format": "OpenAI", "name": "modelName",
                                             "version": "modelVersion"}
    params = _openai_module()["params"]
    main = bicep.main()
    model = bicep.variable(bicep.INFRA / "main.bicep", params["modelName"])
    version = bicep.variable(bicep.INFRA / "main.bicep", params["modelVersion"])
    assert (model, version) == ("gpt-4.1-mini", "2025-04-14")
    assert params["capacity"] == "openAiCapacity"
    capacity = main["parameters"]["openAiCapacity"]
    assert capacity["type"] == "int" and 1 <= capacity["default"] <= 1000  # thousands of TPM
    assert {"type": "min_value", "argument": 1} in capacity["decorators"]
    assert params["deploymentName"] == "openAiDeploymentName"
    assert main["parameters"]["openAiDeploymentName"]["default"] == model
    for resource in (deployment, bicep.resource_in(OPENAI, "Microsoft.CognitiveServices/accounts")):
        assert resource["api_version"] == "2024-10-01"  # in bicep-types-az for both types


def test_openai_role_is_openai_user_for_the_web_apps_identity():
    """Test Cognitive Services OpenAI User on the account for the web app's managed identity."""
    assert bicep.variable(OPENAI, "openAiUser") == OPENAI_USER
    assert bicep.role_assignment(OPENAI) == ("account", "openAiUser", "userPrincipalId")
    principal = _openai_module()["params"]["userPrincipalId"]
    assert bicep.accessor(principal) == "web.outputs.identityPrincipalId"


def test_web_app_gets_the_five_openai_settings():
    """Test the app settings: endpoint on the account's subdomain, deployment, model, TPM, RPM."""
    main_path = bicep.INFRA / "main.bicep"
    union = bicep.main()["modules"]["web"]["config"]["params"]["appSettings"]["function"]
    assert "openAiSettings" in union["parameters"].values()
    chosen = bicep.variable(main_path, "openAiSettings")["operator"]
    assert chosen["type"] == "conditional"
    operands = chosen["operands"]
    assert (operands["condition"], operands["false_value"]) == ("openAiDeploy", {})
    settings = operands["true_value"]
    assert tuple(settings) == OPENAI_SETTINGS
    params = bicep.main()["parameters"]
    names = {name: bicep.variable(main_path, name) for name in ("openAiEndpoint", "openAiModel")}
    names |= {"openAiCapacity": params["openAiCapacity"]["default"],
              "openAiDeploymentName": params["openAiDeploymentName"]["default"]}
    values = {name: _evaluate(value, names) for name, value in settings.items()}
    capacity = names["openAiCapacity"]
    assert values == {
        "AZURE_OPENAI_ENDPOINT": "https://${openAiName}.openai.azure.com",
        "AZURE_OPENAI_DEPLOYMENT": "gpt-4.1-mini",
        "AZURE_OPENAI_MODEL": "gpt-4.1-mini",
        "AZURE_OPENAI_TPM": str(capacity * 1000),  # capacity is in thousands of TPM
        "AZURE_OPENAI_RPM": str(capacity),  # gpt-4.1 family: 1 RPM per 1,000 TPM
    }
    # The endpoint's host is the account's subdomain: the name handed to the module.
    assert _openai_module()["params"]["name"] == "openAiName"
    outputs = bicep.main()["outputs"]
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT"):
        assert outputs[name]["value"]["operator"]["operands"]["condition"] == "openAiDeploy"


def test_openai_parameters_are_mapped_for_azd():
    """Test main.parameters.json: the OpenAI parameters by FRAMEWISE_OPENAI_*, same defaults."""
    mapped = json.loads((bicep.INFRA / "main.parameters.json").read_text())["parameters"]
    declared = bicep.main()["parameters"]
    for param, variable in (("openAiDeploy", "FRAMEWISE_OPENAI_DEPLOY"),
                            ("openAiDeploymentName", "FRAMEWISE_OPENAI_DEPLOYMENT_NAME"),
                            ("openAiCapacity", "FRAMEWISE_OPENAI_CAPACITY")):
        default = json.dumps(declared[param]["default"]).strip('"')
        assert mapped[param]["value"] == f"${{{variable}={default}}}"
    assert mapped["openAiLocation"]["value"] == "${FRAMEWISE_OPENAI_LOCATION}"


def test_openai_settings_are_the_ones_framewise_reads():
    """Test that services/config.py reads the five settings under these names."""
    config_py = (ROOT / "services" / "config.py").read_text()
    assert [name for name in OPENAI_SETTINGS if f'"{name}"' not in config_py] == []


def test_the_web_app_does_not_pin_the_analyser():
    """Test that FRAMEWISE_ANALYZER is not set on the web app: the app's default then follows
    what is deployed (Azure OpenAI when its endpoint is set), instead of pinning Image Analysis
    4.0, which is deprecated."""
    union = bicep.main()["modules"]["web"]["config"]["params"]["appSettings"]["function"]
    assert all("FRAMEWISE_ANALYZER" not in (part if isinstance(part, dict) else {})
               for part in union["parameters"].values())
    assert "FRAMEWISE_ANALYZER" not in (bicep.INFRA / "main.bicep").read_text()
