"""azd's side of the deployment: azure.yaml's hooks and version floor, line endings, and the
hook scripts run for real by bash against stand-in `az` and `azd` executables on PATH.

The PowerShell forms (scripts/*.ps1) cannot run here (no pwsh on this machine): they are
checked as text only, for calling the same commands. None of this reaches Azure.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ADMIN_ID = "0b3c5e2a-1111-4222-8333-944445555666"


def _azure_yaml() -> dict:
    return yaml.safe_load((ROOT / "azure.yaml").read_text())


def test_azd_version_floor_keeps_webappignore_honoured():
    """Test requiredVersions: azd >= 1.21.0 (older azd zips .env, secrets.toml and data/)."""
    assert _azure_yaml()["requiredVersions"] == {"azd": ">= 1.21.0"}


def test_every_hook_has_a_posix_and_a_windows_form_that_exist():
    """Test that each hook runs bash on posix and pwsh on Windows, both scripts present."""
    hooks = _azure_yaml()["hooks"]
    assert set(hooks) == {"preprovision", "postprovision"}
    for name, hook in hooks.items():
        assert set(hook) == {"posix", "windows"}, name
        posix, windows = hook["posix"], hook["windows"]
        assert posix["shell"] == "sh" and posix["run"] == f"bash scripts/{name}.sh"
        assert windows["shell"] == "pwsh" and windows["run"] == f"./scripts/{name}.ps1"
        for form in (posix, windows):
            assert form["continueOnError"] is False
        assert posix["interactive"] == windows["interactive"]
        assert (ROOT / "scripts" / f"{name}.sh").is_file()
        assert (ROOT / "scripts" / f"{name}.ps1").is_file()


def test_the_powershell_hooks_do_what_the_bash_ones_do():
    """Test (as text) that the .ps1 hooks run the same az, azd and cli.py commands."""
    pre = (ROOT / "scripts/preprovision.ps1").read_text()
    post = (ROOT / "scripts/postprovision.ps1").read_text()
    assert "az ad signed-in-user show --query userPrincipalName -o tsv" in pre
    assert "azd env set AZURE_PRINCIPAL_NAME $name" in pre
    assert "FRAMEWISE_SQL_ADMIN_GROUP_NAME" in pre
    assert "az ad sp show --id $env:WEB_APP_PRINCIPAL_ID --query appId -o tsv" in post
    for flag in ("'grant-identity'", "'--object-id'", "'--client-id'", "'--open-firewall'",
                 "'--admin-id'"):
        assert flag in post
    assert "& $venvPython cli.py @cliArgs" in post and "exit $LASTEXITCODE" in post


@pytest.mark.parametrize("path", ["scripts/appservice-start.sh", "scripts/postprovision.sh",
                                  "scripts/preprovision.sh", ".ci/run", "app.py",
                                  "infra/main.bicep", "azure.yaml"])
def test_scripts_check_out_with_lf_on_every_platform(path):
    """Test .gitattributes: git itself says these files keep LF (a CRLF start script never
    starts in App Service's Linux container)."""
    out = subprocess.run(["git", "check-attr", "eol", "--", path], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{path}: eol: lf"
    assert b"\r" not in (ROOT / path).read_bytes()


def _stub(bin_dir: Path, name: str, body: str) -> None:
    """An executable `name` in bin_dir: a Python script logging its argv to calls.jsonl."""
    log = bin_dir / "calls.jsonl"
    path = bin_dir / name
    record = f"open({str(log)!r}, 'a').write(json.dumps([{name!r}, *sys.argv[1:]]) + '\\n')\n"
    path.write_text(f"#!{sys.executable}\nimport json, sys\n{record}{body}")
    path.chmod(0o755)


def _calls(bin_dir: Path) -> list[list[str]]:
    log = bin_dir / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _run(script: str, bin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir)}
    return subprocess.run(["bash", f"scripts/{script}"], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir()
    # azd: an environment with nothing set (get-value fails), and `env set` accepted.
    _stub(folder, "azd", "sys.exit(1 if sys.argv[1:3] == ['env', 'get-value'] else 0)\n")
    return folder


def test_preprovision_stores_the_signed_in_users_name(bin_dir):
    """Test that a user's sign-in name becomes AZURE_PRINCIPAL_NAME through `azd env set`."""
    _stub(bin_dir, "az", "print('ana@contoso.com')\n")
    done = _run("preprovision.sh", bin_dir)
    assert done.returncode == 0, done.stderr
    assert ["azd", "env", "set", "AZURE_PRINCIPAL_NAME", "ana@contoso.com"] in _calls(bin_dir)


def test_preprovision_as_a_service_principal_without_a_group_stops_in_one_line(bin_dir):
    """Test that a service principal's sign-in (no signed-in user) stops naming the group
    settings, before anything is provisioned."""
    _stub(bin_dir, "az", "sys.stderr.write('ERROR: /me request is only valid with delegated "
                         "authentication flow.\\n'); sys.exit(1)\n")
    done = _run("preprovision.sh", bin_dir)
    assert done.returncode == 1
    assert done.stderr.startswith("error: the Azure CLI is not signed in as a user")
    assert "FRAMEWISE_SQL_ADMIN_GROUP_ID" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not any(call[:3] == ["azd", "env", "set"] for call in _calls(bin_dir))


def test_preprovision_with_an_admin_group_needs_its_name_and_asks_nobody(bin_dir):
    """Test the group path: the id without the name stops; both set, az is never asked."""
    _stub(bin_dir, "az", "sys.exit(3)\n")
    done = _run("preprovision.sh", bin_dir, FRAMEWISE_SQL_ADMIN_GROUP_ID=ADMIN_ID)
    assert done.returncode == 1 and "FRAMEWISE_SQL_ADMIN_GROUP_NAME" in done.stderr
    done = _run("preprovision.sh", bin_dir, FRAMEWISE_SQL_ADMIN_GROUP_ID=ADMIN_ID,
                FRAMEWISE_SQL_ADMIN_GROUP_NAME="Framewise SQL admins")
    assert done.returncode == 0, done.stderr
    assert not any(call[0] == "az" for call in _calls(bin_dir))


def _jwt(oid: str) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return f"{part({'alg': 'RS256'})}.{part({'oid': oid})}.sig"


@pytest.mark.skipif(not (ROOT / ".venv/bin/python").exists(), reason="needs the project venv")
def test_postprovision_stops_when_az_and_azd_are_different_accounts(bin_dir):
    """Test the hook end to end up to SQL: it asks az for the identity's client id, the grant
    takes az's token, sees another account than azd's and stops in one line, unconnected."""
    token = json.dumps({"accessToken": _jwt("99999999-8888-4777-8666-555555555555"),
                        "expires_on": 4102444800, "tokenType": "Bearer"})
    _stub(bin_dir, "az", "args = sys.argv[1:]\n"
                         "if args[:2] == ['ad', 'sp']: "
                         "print('4466e2f8-0fea-4c61-a470-0123456789ab')\n"
                         f"elif args[:2] == ['account', 'get-access-token']: print({token!r})\n"
                         "else: sys.exit(5)\n")
    done = _run("postprovision.sh", bin_dir, WEB_APP_NAME="app-framewise-abc",
                WEB_APP_PRINCIPAL_ID=ADMIN_ID, AZURE_RESOURCE_GROUP="rg-framewise-prod",
                AZURE_PRINCIPAL_ID="0b3c5e2a-1111-4222-8333-000000000000",
                DATABASE_URL="mssql+pyodbc://@sql-abc.database.windows.net/framewise"
                             "?driver=ODBC+Driver+18+for+SQL+Server",
                FRAMEWISE_DATA_DIR=str(bin_dir))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("error: the Azure CLI is signed in as object id "
                                          "99999999-")
    assert done.stderr.strip().endswith("in as the same account")
    calls = _calls(bin_dir)
    assert calls[0] == ["az", "ad", "sp", "show", "--id", ADMIN_ID, "--query", "appId",
                        "-o", "tsv"]
    assert not any("firewall-rule" in call for call in calls)  # never got as far as SQL
