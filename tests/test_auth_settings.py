"""Sign-in from App Settings (FRAMEWISE_AUTH_*), without a secrets file on the server's disk.

Unit tests of the settings -> [auth] section, a real `st.App(secrets=...)` taking that section in
a fresh interpreter, and the app's gate under AppTest fed the section as st.App feeds it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from server.serve import app_secrets
from services.auth_settings import AUTH_SETTINGS, AuthConfig, auth_section, parse_auth_section
from services.config import Settings, SettingsError, load_settings
from tests.fixtures.signin import TENANT, signin_app

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "FRAMEWISE_AUTH_CLIENT_ID": "framewise-client",
    "FRAMEWISE_AUTH_TENANT_ID": TENANT,
    "FRAMEWISE_AUTH_CLIENT_SECRET": "client-secret-from-key-vault",
    "FRAMEWISE_AUTH_COOKIE_SECRET": "cookie-secret-0123456789-abcdefghijklmnop",
    "FRAMEWISE_PUBLIC_URL": "https://app-framewise-abc.azurewebsites.net",
}
EXPECTED = {
    "redirect_uri": "https://app-framewise-abc.azurewebsites.net/oauth2callback",
    "cookie_secret": ENV["FRAMEWISE_AUTH_COOKIE_SECRET"],
    "client_id": "framewise-client",
    "client_secret": "client-secret-from-key-vault",
    "server_metadata_url": f"https://login.microsoftonline.com/{TENANT}/v2.0/"
                           ".well-known/openid-configuration",
}


def _settings(env: dict[str, str]) -> Settings:
    return load_settings(env, dotenv=None)


def test_no_auth_settings_means_no_sign_in_from_settings():
    """Test that without any FRAMEWISE_AUTH_* the settings add no [auth] section."""
    assert auth_section(_settings({"FRAMEWISE_PUBLIC_URL": "https://x.example"})) is None
    assert auth_section(_settings({name: "  " for name in AUTH_SETTINGS})) is None
    assert app_secrets(_settings({})) == {}


def test_settings_give_the_section_st_login_needs():
    """Test the Entra ID section from the settings, redirect derived from the public URL."""
    assert auth_section(_settings(ENV)) == EXPECTED
    assert app_secrets(_settings(ENV)) == {"auth": EXPECTED}
    # The same checks as a secrets.toml [auth] section: st.login() with no provider name.
    assert parse_auth_section(EXPECTED) == AuthConfig(provider=None)


def test_settings_are_read_like_every_other_setting(tmp_path, monkeypatch):
    """Test that app_secrets() reads FRAMEWISE_AUTH_* from .env and the real environment, the
    real environment winning, and refuses a bad value of any setting the same way."""
    monkeypatch.chdir(tmp_path)
    for name in (*AUTH_SETTINGS, "FRAMEWISE_PUBLIC_URL", "FRAMEWISE_ENV_FILE"):
        monkeypatch.delenv(name, raising=False)  # FRAMEWISE_ENV_FILE: read ./.env, as the app does
    dotenv = {**ENV, "FRAMEWISE_AUTH_CLIENT_ID": "client-in-dotenv"}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in dotenv.items()))
    assert app_secrets()["auth"]["client_id"] == "client-in-dotenv"
    monkeypatch.setenv("FRAMEWISE_AUTH_CLIENT_ID", ENV["FRAMEWISE_AUTH_CLIENT_ID"])
    assert app_secrets() == {"auth": EXPECTED}
    monkeypatch.setenv("FRAMEWISE_PUBLIC_URL", "app-framewise-abc.azurewebsites.net")
    with pytest.raises(SettingsError) as info:
        app_secrets()
    assert info.value.name == "FRAMEWISE_PUBLIC_URL"


def test_explicit_redirect_and_provider_win():
    """Test FRAMEWISE_AUTH_REDIRECT_URI and FRAMEWISE_AUTH_SERVER_METADATA_URL (another OIDC)."""
    env = {**ENV, "FRAMEWISE_AUTH_REDIRECT_URI": "https://framewise.contoso.com/oauth2callback",
           "FRAMEWISE_AUTH_SERVER_METADATA_URL": "http://127.0.0.1:9/.well-known/openid-"
                                                 "configuration"}
    del env["FRAMEWISE_AUTH_TENANT_ID"]
    section = auth_section(_settings(env))
    assert section["redirect_uri"] == "https://framewise.contoso.com/oauth2callback"
    assert section["server_metadata_url"].startswith("http://127.0.0.1:9/")


def test_tenant_as_a_domain_is_accepted():
    """Test that a tenant domain works as well as its GUID."""
    section = auth_section(_settings({**ENV, "FRAMEWISE_AUTH_TENANT_ID":
                                      "contoso.onmicrosoft.com"}))
    assert "/contoso.onmicrosoft.com/v2.0/" in section["server_metadata_url"]


@pytest.mark.parametrize("missing", ["FRAMEWISE_AUTH_CLIENT_ID", "FRAMEWISE_AUTH_TENANT_ID",
                                     "FRAMEWISE_AUTH_CLIENT_SECRET",
                                     "FRAMEWISE_AUTH_COOKIE_SECRET"])
def test_an_incomplete_set_names_the_missing_setting(missing):
    """Test that any one setting missing stops start-up with one line naming it."""
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(SettingsError) as info:
        app_secrets(_settings(env))
    assert info.value.name == missing
    assert str(info.value).startswith(f"setting {missing} must be set")
    assert "\n" not in str(info.value)
    for secret in (ENV["FRAMEWISE_AUTH_CLIENT_SECRET"], ENV["FRAMEWISE_AUTH_COOKIE_SECRET"]):
        assert secret not in str(info.value)


@pytest.mark.parametrize(("change", "name", "reason"), [
    ({"FRAMEWISE_AUTH_CLIENT_SECRET": "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/"
                                      "secrets/framewise-client)"},
     "FRAMEWISE_AUTH_CLIENT_SECRET", "Key Vault reference App Service could not resolve"),
    ({"FRAMEWISE_AUTH_TENANT_ID": "common"}, "FRAMEWISE_AUTH_TENANT_ID", "multi-tenant"),
    ({"FRAMEWISE_AUTH_TENANT_ID": "not a tenant"}, "FRAMEWISE_AUTH_TENANT_ID", "GUID"),
    ({"FRAMEWISE_AUTH_COOKIE_SECRET": "short"}, "FRAMEWISE_AUTH_COOKIE_SECRET", "32"),
    ({"FRAMEWISE_PUBLIC_URL": ""}, "FRAMEWISE_AUTH_REDIRECT_URI", "FRAMEWISE_PUBLIC_URL"),
    ({"FRAMEWISE_AUTH_REDIRECT_URI": "https://x.example/callback"},
     "FRAMEWISE_AUTH_REDIRECT_URI", "/oauth2callback"),
])
def test_unusable_values_are_refused(change, name, reason):
    """Test that an unresolved Key Vault reference, a tenant alias, a short cookie secret or a
    wrong redirect are refused with the setting's name."""
    with pytest.raises(SettingsError, match=reason) as info:
        auth_section(_settings({**ENV, **change}))
    assert info.value.name == name


def test_st_app_accepts_the_secrets():
    """Test that Streamlit's real st.App takes app_secrets() and serves it as st.secrets."""
    code = (
        "import json, sys\n"
        "from streamlit.starlette import App\n"
        "from streamlit.runtime.secrets import secrets_singleton\n"
        "from server.serve import app_secrets\n"
        "from services.config import load_settings\n"
        "settings = load_settings(json.loads(sys.argv[1]), dotenv=None)\n"
        "app = App('app.py', secrets=app_secrets(settings))\n"
        # What the App's lifespan does at server start (it runs no server here).
        "secrets_singleton.merge_programmatic_secrets(app._programmatic_secrets)\n"
        "from streamlit.auth_util import get_secrets_auth_section\n"
        "print(json.dumps(get_secrets_auth_section().to_dict()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(ENV)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == EXPECTED


# --- the gate in the app, configured from settings ---------------------------------------------


@pytest.fixture
def env_auth(app_services, monkeypatch):
    """The app's services, with sign-in set through FRAMEWISE_AUTH_* (no secrets file)."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    return app_services


def _run(section: dict | None) -> AppTest:
    at = signin_app(auth_section=section).run()  # as st.App(secrets=app_secrets()) serves it
    assert not at.exception, at.exception
    return at


def test_settings_loaded_by_the_server_ask_for_a_sign_in(env_auth):
    """Test that with the settings' section in st.secrets a visitor gets the sign-in page."""
    at = _run(app_secrets()["auth"])
    assert [b.proto.label for b in at.button] == ["Sign in with Microsoft"]
    assert not at.error


def test_settings_the_server_did_not_load_refuse_everyone(env_auth):
    """Test that FRAMEWISE_AUTH_* without st.App's secrets stops the app instead of opening it."""
    at = _run(None)
    assert not at.button
    assert len(at.error) == 1
    shown = at.error[0].value.replace("\\", "")  # Markdown escapes of the message
    assert "FRAMEWISE_AUTH_* settings are set but the server did not load them" in shown


def test_incomplete_settings_stop_the_app_naming_the_setting(env_auth, monkeypatch):
    """Test that a missing FRAMEWISE_AUTH_COOKIE_SECRET shows one error naming it, no app."""
    monkeypatch.delenv("FRAMEWISE_AUTH_COOKIE_SECRET")
    at = _run(None)
    assert not at.button and not at.sidebar.button
    assert len(at.error) == 1
    assert "FRAMEWISE_AUTH_COOKIE_SECRET must be set" in at.error[0].value.replace("\\", "")
