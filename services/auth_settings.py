"""Sign-in settings from the environment (App Service app settings), as st.login's [auth] section.

On App Service there is no secrets file: the Entra ID app registration's values come as app
settings (the client secret ideally as a Key Vault reference) and app.py hands the section this
module builds to `st.App(secrets={"auth": ...})`. A `.streamlit/secrets.toml` [auth] section keeps
working locally; when both exist the environment wins (st.App replaces the whole section).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping

from services.config import SettingsError

CLIENT_ID = "FRAMEWISE_AUTH_CLIENT_ID"
TENANT_ID = "FRAMEWISE_AUTH_TENANT_ID"
CLIENT_SECRET = "FRAMEWISE_AUTH_CLIENT_SECRET"
COOKIE_SECRET = "FRAMEWISE_AUTH_COOKIE_SECRET"
REDIRECT_URI = "FRAMEWISE_AUTH_REDIRECT_URI"
# Another OpenID Connect provider than Entra ID (the tests' mock provider, for one).
METADATA_URL = "FRAMEWISE_AUTH_SERVER_METADATA_URL"
AUTH_SETTINGS = (CLIENT_ID, TENANT_ID, CLIENT_SECRET, COOKIE_SECRET, REDIRECT_URI, METADATA_URL)
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def _value(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value.startswith("@Microsoft.KeyVault("):
        # App Service leaves the reference itself in place when it cannot resolve it.
        raise SettingsError(name, "is a Key Vault reference App Service could not resolve; give "
                                  "the web app's identity read access to the secret")
    return value


def _tenant_metadata_url(env: Mapping[str, str]) -> str:
    tenant = _value(env, TENANT_ID)
    if not tenant:
        raise SettingsError(TENANT_ID, "must be set when sign-in is configured (the directory id "
                                       "of the app registration)")
    if tenant.lower() in ("common", "organizations", "consumers"):
        raise SettingsError(TENANT_ID, "must be your tenant's id, not a multi-tenant alias")
    try:
        tenant = str(uuid.UUID(tenant))
    except ValueError:
        if not _DOMAIN.fullmatch(tenant):
            raise SettingsError(TENANT_ID, "must be a directory id (GUID) or a domain such as "
                                           "contoso.onmicrosoft.com") from None
    return f"https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration"


def _redirect_uri(env: Mapping[str, str], public_url: str | None) -> str:
    explicit = _value(env, REDIRECT_URI)
    if explicit:
        return explicit
    base = (public_url or _value(env, "FRAMEWISE_PUBLIC_URL")).rstrip("/")
    if not base:
        raise SettingsError(REDIRECT_URI, "must be set, or FRAMEWISE_PUBLIC_URL, when sign-in is "
                                          "configured")
    return f"{base}/oauth2callback"


def auth_section(env: Mapping[str, str], public_url: str | None = None) -> dict[str, str] | None:
    """The [auth] mapping st.login reads, or None when no FRAMEWISE_AUTH_* setting is set.

    Any one of them set means sign-in is wanted: a missing one raises SettingsError naming it,
    so sign-in never turns itself off because of a typo.
    """
    if not any(env.get(name, "").strip() for name in AUTH_SETTINGS):
        return None
    for name in (CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET):
        if not _value(env, name):
            raise SettingsError(name, "must be set when sign-in is configured (any "
                                      "FRAMEWISE_AUTH_* setting turns sign-in on)")
    if len(_value(env, COOKIE_SECRET)) < 32:
        raise SettingsError(COOKIE_SECRET, "must be a random string of at least 32 characters")
    metadata = _value(env, METADATA_URL) or _tenant_metadata_url(env)
    redirect = _redirect_uri(env, public_url)
    if not redirect.startswith(("http://", "https://")) or not redirect.endswith("/oauth2callback"):
        raise SettingsError(REDIRECT_URI, "must be the app's absolute URL ending in "
                                          "/oauth2callback")
    return {
        "redirect_uri": redirect,
        "cookie_secret": _value(env, COOKIE_SECRET),
        "client_id": _value(env, CLIENT_ID),
        "client_secret": _value(env, CLIENT_SECRET),
        "server_metadata_url": metadata,
    }
