"""Sign-in rules: the allow-list, the [auth] checks, the gate decision, the return links.

The gate in the running app is tests/test_auth_gate.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

import components.auth as auth
from services.access import Access, decide, is_allowed, normalise_email, user_email
from services.auth_settings import AuthConfig, AuthConfigError, parse_auth_section
from services.config import load_settings
from services.return_links import XSRF_COOKIE, ReturnLinks, browser_key
from tests.fixtures.signin import AUTH

ROOT = Path(__file__).resolve().parents[1]


# --- who is allowed -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "allowed", "expected"),
    [
        ("ana@example.com", ["ana@example.com"], True),
        ("  Ana@Example.COM \n", ["ana@example.com"], True),  # case and whitespace
        ("ana@example.com", ["  ANA@EXAMPLE.com "], True),
        ("bob@example.com", ["ana@example.com"], False),
        ("ana@example.com", ["@example.com"], True),
        ("ANA@EXAMPLE.COM", ["@Example.com"], True),
        ("a@evil-example.com", ["@example.com"], False),  # a suffix is not the domain
        ("a@evilexample.com", ["@example.com"], False),
        ("a@sub.example.com", ["@example.com"], False),  # subdomains only when listed
        ("a@sub.example.com", ["@sub.example.com"], True),
        ("a@example.com.evil.io", ["@example.com"], False),
        ("example.com@evil.io", ["@example.com"], False),
        ("a@example.com", ["example.com"], False),  # without @ an entry is a whole address
        ("a@example.com", ["*"], False),  # no wildcards
        ("ana@example.com", ["bob@example.com", "@partner.org", "ana@example.com"], True),
        ("x@partner.org", ["bob@example.com", "@partner.org"], True),
        ("anyone@anywhere.org", [], True),  # an empty list lets in everyone who signs in
        ("anyone@anywhere.org", ["", "  "], True),
        ("", [], False),  # but never someone without an address
        (None, [], False),
        ("not-an-address", [], False),
        ("@example.com", ["@example.com"], False),  # no local part
        ("ana@", ["@"], False),
        ("a@b@example.com", ["@example.com"], False),
        ("ana @example.com", ["@example.com"], False),
        ("ana@exa mple.com", [], False),
        ("ana@example..com", [], False),
        ("ana@.example.com", [], False),
        ("ana@example.com\x00", ["ana@example.com"], False),
        (42, [], False),
    ],
)
def test_is_allowed(email, allowed, expected):
    """Test that addresses match whole addresses or exactly the listed domain, ignoring case."""
    assert is_allowed(email, allowed) is expected


def test_allowed_users_from_the_setting():
    """Test that FRAMEWISE_ALLOWED_USERS as Settings parses it works with is_allowed."""
    settings = load_settings({"FRAMEWISE_ALLOWED_USERS": " Ana@Example.com , @Partner.ORG ,"},
                             dotenv=None)
    assert settings.allowed_users == ("ana@example.com", "@partner.org")
    assert is_allowed("ana@example.com", settings.allowed_users)
    assert is_allowed("Zoe@partner.org", settings.allowed_users)
    assert not is_allowed("bob@example.com", settings.allowed_users)
    assert not is_allowed("zoe@my-partner.org", settings.allowed_users)


def test_normalise_email():
    """Test that an address is lower-cased and trimmed, and anything else gives None."""
    assert normalise_email(" Ana@Example.COM ") == "ana@example.com"
    assert normalise_email("ana") is None
    assert normalise_email(["ana@example.com"]) is None


# --- the [auth] section ------------------------------------------------------------------------


def test_auth_section_default_provider():
    """Test that the Entra ID settings directly in [auth] mean st.login() with no name."""
    assert parse_auth_section(AUTH) == AuthConfig(provider=None)


def test_auth_section_named_microsoft_provider():
    """Test that an [auth.microsoft] section is used as the named provider."""
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    named = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    assert parse_auth_section({**shared, "microsoft": named}) == AuthConfig(provider="microsoft")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"client_secret": None}, "missing: client_secret"),
        ({"cookie_secret": None, "server_metadata_url": ""}, "cookie_secret, server_metadata_url"),
        ({"client_id": "<application (client) id>"}, "placeholder for: client_id"),
        ({"server_metadata_url": "https://login.microsoftonline.com/<tenant-id>/v2.0/x"},
         "placeholder for: server_metadata_url"),
        ({"redirect_uri": "http://localhost:8501/"}, "ending in /oauth2callback"),
        ({"redirect_uri": "/oauth2callback"}, "absolute URL"),
        ({"cookie_secret": "short"}, "at least 32 characters"),
    ],
)
def test_auth_section_problems_are_named(change, message):
    """Test that an unusable [auth] section raises an error naming the keys, never the values."""
    section = {k: v for k, v in {**AUTH, **change}.items() if v is not None}
    with pytest.raises(AuthConfigError) as caught:
        parse_auth_section(section)
    assert message in str(caught.value)
    assert AUTH["client_secret"] not in str(caught.value)


def test_secrets_example_is_refused_until_filled_in():
    """Test that secrets.toml.example parses, shows every key, and is refused as it stands."""
    import tomllib

    example = tomllib.loads((ROOT / ".streamlit" / "secrets.toml.example").read_text())
    assert set(AUTH) <= set(example["auth"])
    assert "/oauth2callback" in example["auth"]["redirect_uri"]
    assert "login.microsoftonline.com/<tenant-id>/v2.0" in example["auth"]["server_metadata_url"]
    with pytest.raises(AuthConfigError, match="placeholder"):
        parse_auth_section(example["auth"])


def test_unreadable_secrets_file_is_an_error(settings, tmp_path, monkeypatch):
    """Test that a secrets file that exists but does not load stops the app, not sign-in."""

    class Unloadable:
        def load_if_toml_exists(self) -> bool:
            return False

    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\n")
    monkeypatch.setattr(st, "secrets", Unloadable())
    monkeypatch.setattr(auth, "_secrets_files", lambda: [str(broken)])
    with pytest.raises(AuthConfigError, match="cannot be read"):
        auth.auth_config(settings)
    monkeypatch.setattr(auth, "_secrets_files", lambda: [str(tmp_path / "absent.toml")])
    assert auth.auth_config(settings) is None  # no secrets file at all: no sign-in, no error


# --- the gate decision -------------------------------------------------------------------------


def test_user_email_prefers_email_then_entra_claims():
    """Test that the address comes from email, else preferred_username, else upn."""
    assert user_email({"email": "Ana@Example.com", "preferred_username": "x@y.z"}) == \
        "ana@example.com"
    assert user_email({"preferred_username": "Bob@Example.com", "name": "Bob"}) == \
        "bob@example.com"
    assert user_email({"email": "", "upn": "carl@example.com"}) == "carl@example.com"
    assert user_email({"preferred_username": "not an address", "sub": "abc"}) is None


def test_decide():
    """Test the gate decision for each kind of visitor."""
    config = AuthConfig(provider=None)
    ana = {"is_logged_in": True, "email": "ana@example.com"}
    assert decide({}, config=None, allowed=()) == Access("local", "local")
    assert decide({"email": "ana@example.com"}, config=config, allowed=()).state == "signed_out"
    assert decide({"is_logged_in": False}, config=config, allowed=()).state == "signed_out"
    assert decide({**ana, "is_logged_in": "true"}, config=config, allowed=()).state == \
        "signed_out"
    assert decide(ana, config=config, allowed=()) == Access("allowed", "ana@example.com")
    assert decide(ana, config=config, allowed=("@example.com",)).state == "allowed"
    refused = decide(ana, config=config, allowed=("@other.org",))
    assert (refused.state, refused.email, refused.lets_in) == ("refused", "ana@example.com", False)
    assert decide({"is_logged_in": True, "sub": "x"}, config=config, allowed=()).state == \
        "refused"
    named = decide({}, config=AuthConfig(provider="microsoft"), allowed=())
    assert named.provider == "microsoft"


# --- the link that asked for a sign-in ---------------------------------------------------------


def test_browser_key_is_stable_across_masks():
    """Test that Streamlit's XSRF cookie, re-masked on every response, gives one stable key."""
    token = b"0123456789abcdef"
    first = generate_xsrf_token_string(token, 1_700_000_000)
    again = generate_xsrf_token_string(token, 1_700_000_000)
    assert first != again  # a new mask each time
    key = browser_key({XSRF_COOKIE: first})
    assert key and key == browser_key({XSRF_COOKIE: again})
    other = generate_xsrf_token_string(b"fedcba9876543210", 1_700_000_000)
    assert browser_key({XSRF_COOKIE: other}) != key
    assert token.hex() not in key  # the key does not reveal the token
    for bad in ({}, {XSRF_COOKIE: ""}, {XSRF_COOKIE: "2|zz|00|1"},
                {XSRF_COOKIE: "1|00000000|00|1"}, {XSRF_COOKIE: "abc"}):
        assert browser_key(bad) is None


def test_return_links_are_taken_once_and_expire():
    """Test that a remembered link is handed out once, and not after its time."""
    now = [0.0]
    links = ReturnLinks(ttl_s=60, max_entries=2, clock=lambda: now[0])
    links.put("b1", "results", {"analysis": "abc", "t": "12"})
    assert links.take("b1") == ("results", {"analysis": "abc", "t": "12"})
    assert links.take("b1") is None
    links.put("b1", "analyses", {})
    now[0] = 61.0
    assert links.take("b1") is None
    links.put("b1", "results", {})
    links.put("b2", "results", {})
    links.put("b3", "results", {})
    assert links.take("b1") is None  # the oldest made room
    assert links.take("b3") == ("results", {})
