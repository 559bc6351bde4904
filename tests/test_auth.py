"""Sign-in: the allow-list rule, the [auth] checks, the gate decision, and the gate in the app.

App tests run app.py headless with AppTest: `at.secrets["auth"]` holds an Entra ID [auth]
section and `at.user` plays st.user (the claims st.login would give), so every page is checked
signed out, signed in and allowed, signed in and refused, and without sign-in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlmodel import select
from streamlit.testing.v1 import AppTest
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

import components.auth as auth
from components.auth import (
    AuthConfig,
    AuthConfigError,
    ReturnLinks,
    browser_key,
    decide,
    parse_auth_section,
    user_email,
)
from services.access import is_allowed, normalise_email
from services.config import load_settings
from services.context import Services
from services.db import session_scope
from services.library import list_analyses
from services.models import Video
from tests.fixtures.library import run_analysis
from tests.fixtures.uploads import upload_through_page

ROOT = Path(__file__).resolve().parents[1]
TENANT = "11111111-2222-3333-4444-555555555555"
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789-abcdefghij",
    "client_id": "framewise-test-client",
    "client_secret": "test-client-secret",
    "server_metadata_url": f"https://login.microsoftonline.com/{TENANT}/v2.0/"
                           ".well-known/openid-configuration",
}
SECRET_NAME = "quarterly-secret-plans.mp4"


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


def test_unreadable_secrets_file_is_an_error(tmp_path, monkeypatch):
    """Test that a secrets file that exists but does not load stops the app, not sign-in."""

    class Unloadable:
        def load_if_toml_exists(self) -> bool:
            return False

    broken = tmp_path / "secrets.toml"
    broken.write_text("[auth\n")
    monkeypatch.setattr(st, "secrets", Unloadable())
    monkeypatch.setattr(auth, "_secrets_files", lambda: [str(broken)])
    with pytest.raises(AuthConfigError, match="cannot be read"):
        auth.auth_config()
    monkeypatch.setattr(auth, "_secrets_files", lambda: [str(tmp_path / "absent.toml")])
    assert auth.auth_config() is None  # no secrets file at all: no sign-in, no error


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
    assert decide({}, config=None, allowed=()) == auth.Access("local", "local")
    assert decide({"email": "ana@example.com"}, config=config, allowed=()).state == "signed_out"
    assert decide({"is_logged_in": False}, config=config, allowed=()).state == "signed_out"
    assert decide({**ana, "is_logged_in": "true"}, config=config, allowed=()).state == \
        "signed_out"
    assert decide(ana, config=config, allowed=()) == auth.Access("allowed", "ana@example.com")
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
    key = browser_key({auth.XSRF_COOKIE: first})
    assert key and key == browser_key({auth.XSRF_COOKIE: again})
    other = generate_xsrf_token_string(b"fedcba9876543210", 1_700_000_000)
    assert browser_key({auth.XSRF_COOKIE: other}) != key
    assert token.hex() not in key  # the key does not reveal the token
    for bad in ({}, {auth.XSRF_COOKIE: ""}, {auth.XSRF_COOKIE: "2|zz|00|1"},
                {auth.XSRF_COOKIE: "1|00000000|00|1"}, {auth.XSRF_COOKIE: "abc"}):
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


# --- the gate in the app -----------------------------------------------------------------------


@pytest.fixture
def services(app_services) -> Services:
    return app_services


@pytest.fixture
def logins(monkeypatch) -> list[tuple]:
    """st.login replaced by a recorder (the real one redirects the browser to Entra ID)."""
    calls: list[tuple] = []
    monkeypatch.setattr(st, "login", lambda *args: calls.append(args))
    return calls


def allow(monkeypatch, value: str) -> None:
    monkeypatch.setenv("FRAMEWISE_ALLOWED_USERS", value)
    st.cache_resource.clear()


def app(user: dict | None = None, auth_section: dict | None = AUTH) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    if auth_section is not None:
        at.secrets["auth"] = auth_section
    at.user = user if user is not None else {"is_logged_in": False}
    return at


def open_page(at: AppTest, page: str, **query: str) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    if page != "upload":
        at.switch_page(f"pages/{page}.py")
        at.query_params.update(query)
        at.run()
    assert not at.exception, at.exception
    return at


def _nodes(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def everything(at: AppTest) -> str:
    """The text of every element and block of the page, as protobuf text (bytes escaped)."""
    return "\n".join(str(n.proto) for n in _nodes(at._tree) if getattr(n, "proto", None))


def analysed(services: Services, video_path: Path) -> str:
    """A finished local analysis of a video named SECRET_NAME by a signed-in user; its id."""
    return run_analysis(services, video_path, analyzer="local", fps=2.0, name=SECRET_NAME,
                        user="ana@example.com")


def assert_no_data(at: AppTest, analysis_id: str) -> None:
    """Nothing of the stored analyses shows: no tables, charts, metrics, names or ids."""
    for kind in ("dataframe", "vega_lite_chart", "metric", "bidi_component", "image",
                 "download_button", "selectbox", "page_link", "code"):
        assert not at.get(kind), kind
    text = everything(at)
    assert SECRET_NAME not in text and "quarterly" not in text
    assert analysis_id not in text
    assert "ana@example.com" not in text


PAGES = [("upload", False), ("analyses", False), ("results", True)]


@pytest.mark.parametrize(("page", "deep_link"), PAGES)
def test_signed_out_sees_only_the_sign_in_page(services, video_factory, page, deep_link):
    """Test that signed out, every page (a share link too) shows the sign-in page and no data."""
    analysis_id = analysed(services, video_factory(seconds=3))
    query = {"analysis": analysis_id, "t": "1"} if deep_link else {}
    at = open_page(app(), page, **query)
    assert [t.value for t in at.title] == ["Framewise"]
    assert [b.proto.label for b in at.button] == ["Sign in with Microsoft"]
    assert "Microsoft work account" in at.markdown[0].value
    assert not at.sidebar.caption and not at.sidebar.button
    assert_no_data(at, analysis_id)


def test_signed_out_without_login_flag_is_signed_out(services, video_factory):
    """Test that claims without is_logged_in=True (AppTest's default user) do not get in."""
    analysis_id = analysed(services, video_factory(seconds=3))
    at = open_page(app(user={"email": "ana@example.com"}), "results", analysis=analysis_id)
    assert at.button[0].proto.label == "Sign in with Microsoft"
    assert_no_data(at, analysis_id)


def test_sign_in_button_calls_st_login(services, logins):
    """Test that the button starts st.login with the configured provider."""
    at = open_page(app(), "upload")
    at.button(key="sign_in").click().run()
    assert not at.exception, at.exception
    assert logins == [()]
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    named = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    at = open_page(app(auth_section={**shared, "microsoft": named}), "upload")
    at.button(key="sign_in").click().run()
    assert logins == [(), ("microsoft",)]


def test_share_link_is_resumed_after_sign_in(services, video_factory, logins, monkeypatch):
    """Test that a share link opened signed out is where the browser lands after signing in.

    st.login always returns to the app's root URL in a new session; the link is remembered per
    browser (the XSRF cookie, here a fixed key) and resumed once.
    """
    monkeypatch.setattr(auth, "_this_browser", lambda: "browser-1")
    analysis_id = analysed(services, video_factory(seconds=3))
    at = open_page(app(), "results", analysis=analysis_id, t="1")
    at.button(key="sign_in").click().run()
    assert logins == [()]
    ana = {"is_logged_in": True, "email": "ana@example.com"}
    back = app(user=ana).run()  # the new session after the round trip, on "/"
    assert not back.exception, back.exception
    assert back.query_params == {"analysis": analysis_id, "t": "1"}
    assert [t.value for t in back.title] == [SECRET_NAME.replace(".", "\\.").replace("-", "\\-")]
    assert back.select_slider[0].value == 1.0
    again = app(user=ana).run()  # resumed once only: a later visit to "/" stays there
    assert again.title[0].value == "Upload a video"


def test_allowed_user_uploads_and_queues_as_themselves(services, video_factory, monkeypatch):
    """Test that an allowed user sees the pages and is recorded as uploader and creator."""
    allow(monkeypatch, "@example.com")
    user = {"is_logged_in": True, "email": "Ana@Example.com", "name": "Ana"}
    at = open_page(app(user=user), "upload")
    assert at.title[0].value == "Upload a video"
    assert [c.value for c in at.sidebar.caption] == ["Signed in as ana\\@example\\.com"]
    assert [b.proto.label for b in at.sidebar.button] == ["Sign out"]
    assert upload_through_page(at, "mine.mp4", video_factory(seconds=3).read_bytes())[0] == 200
    assert not at.exception, at.exception
    at.button[0].click().run()
    assert not at.exception, at.exception
    [(analysis, video)] = list_analyses(services.engine)
    assert video.uploaded_by == "ana@example.com"
    assert analysis.created_by == "ana@example.com"

    at.switch_page("pages/analyses.py").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["created_by"]) == ["ana@example.com"]
    at.switch_page("pages/results.py")
    at.query_params.update({"analysis": analysis.id})
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value == "mine\\.mp4"
    assert "created by ana\\@example\\.com" in at.caption[0].value


def test_entra_preferred_username_is_the_user(services, video_factory, monkeypatch):
    """Test that without an email claim Entra ID's preferred_username is the user."""
    allow(monkeypatch, "bob@example.com")
    user = {"is_logged_in": True, "preferred_username": "Bob@example.com", "oid": "x"}
    key = "videos/stored.mp4"
    with video_factory().open("rb") as stream:
        services.store.write_stream(key, stream)
    at = open_page(app(user=user), "upload")
    at.selectbox[0].set_value(key).run()
    at.button[0].click().run()  # "Use this video" registers it as this user's
    assert not at.exception, at.exception
    with session_scope(services.engine) as session:
        [video] = session.exec(select(Video)).all()
        assert video.uploaded_by == "bob@example.com"


@pytest.mark.parametrize(("page", "deep_link"), PAGES)
def test_user_outside_the_list_is_refused(services, video_factory, monkeypatch, page, deep_link):
    """Test that a signed-in user not on FRAMEWISE_ALLOWED_USERS gets a refusal and no data."""
    allow(monkeypatch, "@example.com, bob@partner.org")
    analysis_id = analysed(services, video_factory(seconds=3))
    user = {"is_logged_in": True, "email": "eve@evil-example.com"}
    query = {"analysis": analysis_id} if deep_link else {}
    at = open_page(app(user=user), page, **query)
    assert [t.value for t in at.title] == ["Framewise"]
    [warning] = at.warning
    assert "eve\\@evil\\-example\\.com" in warning.value
    assert "FRAMEWISE_ALLOWED_USERS" in warning.value
    assert [b.proto.label for b in at.button] == ["Sign out"]
    assert_no_data(at, analysis_id)


def test_refused_user_can_sign_out(services, monkeypatch):
    """Test that the refusal's sign-out button signs the user out (st.logout)."""
    allow(monkeypatch, "@example.com")
    at = open_page(app(user={"is_logged_in": True, "email": "eve@other.org"}), "upload")
    at.button(key="sign_out_refused").click().run()
    assert not at.exception, at.exception
    assert at.user == {"is_logged_in": False}
    at.run()
    assert at.button[0].proto.label == "Sign in with Microsoft"


def test_sidebar_sign_out(services, monkeypatch):
    """Test that the sidebar's sign-out button signs out and shows no page content."""
    user = {"is_logged_in": True, "email": "ana@example.com"}
    at = open_page(app(user=user), "analyses")
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception, at.exception
    assert at.user == {"is_logged_in": False}
    assert not at.dataframe and not at.info  # the page did not run after signing out
    at.run()
    assert at.button[0].proto.label == "Sign in with Microsoft"


def test_without_auth_the_app_runs_as_local_user(services, video_factory):
    """Test that without [auth] (no secrets, or secrets without it) there is one local user."""
    no_secrets = app(auth_section=None)
    other_secrets = app(auth_section=None)
    other_secrets.secrets["other"] = "value"
    for at in (no_secrets, other_secrets):
        at.run()
        assert not at.exception, at.exception
        assert at.title[0].value == "Upload a video"
        assert [c.value for c in at.sidebar.caption] == [
            "Signed in as local user (no sign-in configured)"]
        assert not at.sidebar.button
    assert upload_through_page(at, "a.mp4", video_factory().read_bytes())[0] == 200
    at.button[0].click().run()
    [(analysis, video)] = list_analyses(services.engine)
    assert (video.uploaded_by, analysis.created_by) == ("local", "local")


def test_broken_auth_section_refuses_everyone(services, video_factory):
    """Test that an incomplete [auth] stops the app with one line, rather than run open."""
    analysis_id = analysed(services, video_factory(seconds=3))
    broken = {k: v for k, v in AUTH.items() if k != "client_secret"}
    at = open_page(app(user={"is_logged_in": True, "email": "ana@example.com"},
                       auth_section=broken), "upload")
    [error] = at.error
    assert "missing\\: client\\_secret" in error.value
    assert AUTH["cookie_secret"] not in everything(at)
    assert_no_data(at, analysis_id)
