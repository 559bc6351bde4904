"""Sign-in settings (FRAMEWISE_AUTH_*, read by services.config), as st.login's [auth] section.

On App Service there is no secrets file: the Entra ID app registration's values come as app
settings (the client secret ideally as a Key Vault reference) and `app_secrets()` in
server/serve.py hands the section this module builds to `st.App(secrets={"auth": ...})`. A
`.streamlit/secrets.toml` [auth] section keeps working locally; when both exist the environment
wins (st.App replaces the whole section).
Either section is checked the way st.login will need it by `parse_auth_section`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from services.config import Settings, SettingsError

CLIENT_ID = "FRAMEWISE_AUTH_CLIENT_ID"
TENANT_ID = "FRAMEWISE_AUTH_TENANT_ID"
CLIENT_SECRET = "FRAMEWISE_AUTH_CLIENT_SECRET"
COOKIE_SECRET = "FRAMEWISE_AUTH_COOKIE_SECRET"
REDIRECT_URI = "FRAMEWISE_AUTH_REDIRECT_URI"
METADATA_URL = "FRAMEWISE_AUTH_SERVER_METADATA_URL"
# Each setting and the Settings field that holds it.
_FIELDS = {CLIENT_ID: "auth_client_id", TENANT_ID: "auth_tenant_id",
           CLIENT_SECRET: "auth_client_secret", COOKIE_SECRET: "auth_cookie_secret",
           REDIRECT_URI: "auth_redirect_uri", METADATA_URL: "auth_server_metadata_url"}
AUTH_SETTINGS = tuple(_FIELDS)
MICROSOFT = "microsoft"  # an optional named provider section, [auth.microsoft]
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def _value(settings: Settings, name: str) -> str:
    value = getattr(settings, _FIELDS[name]) or ""
    if value.startswith("@Microsoft.KeyVault("):
        # App Service leaves the reference itself in place when it cannot resolve it.
        raise SettingsError(name, "is a Key Vault reference App Service could not resolve; give "
                                  "the web app's identity read access to the secret")
    return value


def _tenant_metadata_url(settings: Settings) -> str:
    tenant = _value(settings, TENANT_ID)
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


def _redirect_uri(settings: Settings) -> str:
    explicit = _value(settings, REDIRECT_URI)
    if explicit:
        return explicit
    if "public_url" not in settings.model_fields_set:
        # Its default (localhost) is no address Entra ID can send a deployed app's users back to.
        raise SettingsError(REDIRECT_URI, "must be set, or FRAMEWISE_PUBLIC_URL, when sign-in is "
                                          "configured")
    return f"{settings.public_url}/oauth2callback"


def auth_section(settings: Settings) -> dict[str, str] | None:
    """The [auth] mapping st.login reads, or None when no FRAMEWISE_AUTH_* setting is set.

    Any one of them set means sign-in is wanted: a missing one raises SettingsError naming it,
    so sign-in never turns itself off because of a typo.
    """
    if not any(getattr(settings, field) for field in _FIELDS.values()):
        return None
    for name in (CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET):
        if not _value(settings, name):
            raise SettingsError(name, "must be set when sign-in is configured (any "
                                      "FRAMEWISE_AUTH_* setting turns sign-in on)")
    if len(_value(settings, COOKIE_SECRET)) < 32:
        raise SettingsError(COOKIE_SECRET, "must be a random string of at least 32 characters")
    metadata = _value(settings, METADATA_URL) or _tenant_metadata_url(settings)
    redirect = _redirect_uri(settings)
    if not redirect.startswith(("http://", "https://")) or not redirect.endswith("/oauth2callback"):
        raise SettingsError(REDIRECT_URI, "must be the app's absolute URL ending in "
                                          "/oauth2callback")
    return {
        "redirect_uri": redirect,
        "cookie_secret": _value(settings, COOKIE_SECRET),
        "client_id": _value(settings, CLIENT_ID),
        "client_secret": _value(settings, CLIENT_SECRET),
        "server_metadata_url": metadata,
    }


# --- an [auth] section (secrets.toml, or the one above) as st.login will need it -------------


class AuthConfigError(ValueError):
    """The [auth] section of secrets.toml cannot be used; the message names keys, never values."""


@dataclass(frozen=True)
class AuthConfig:
    provider: str | None  # None: the provider settings sit in [auth] itself


def _placeholder(value: object) -> bool:
    """A `<...>` placeholder of secrets.toml.example left in (no real value holds < and >)."""
    return isinstance(value, str) and "<" in value and ">" in value


def parse_auth_section(section: Mapping) -> AuthConfig:
    """Check an [auth] mapping the way st.login will need it; raises AuthConfigError."""
    named = section.get(MICROSOFT)
    provider = MICROSOFT if isinstance(named, Mapping) else None
    provider_section: Mapping = named if isinstance(named, Mapping) else section
    missing = [k for k in ("redirect_uri", "cookie_secret") if not section.get(k)]
    missing += [k for k in PROVIDER_KEYS if not provider_section.get(k)]
    if missing:
        where = f"[auth.{provider}]" if provider else "[auth]"
        raise AuthConfigError(f"sign-in settings in {where} are missing: {', '.join(missing)}")
    placeholders = [k for k in ("redirect_uri", "cookie_secret") if _placeholder(section[k])]
    placeholders += [k for k in PROVIDER_KEYS if _placeholder(provider_section[k])]
    if placeholders:
        raise AuthConfigError("sign-in settings still hold the example's placeholder for: "
                              + ", ".join(placeholders))
    redirect = str(section["redirect_uri"]).strip()
    absolute = redirect.startswith(("http://", "https://"))
    if not absolute or not redirect.endswith("/oauth2callback"):
        raise AuthConfigError("redirect_uri in [auth] must be the app's absolute URL ending in "
                              "/oauth2callback, e.g. https://<app>.azurewebsites.net/"
                              "oauth2callback")
    if len(str(section["cookie_secret"])) < 32:
        raise AuthConfigError("cookie_secret in [auth] must be a random string of at least 32 "
                              "characters")
    return AuthConfig(provider=provider)
