"""Sign-in: the gate in the app, run headless with AppTest (tests/fixtures/signin.py).

Every page is checked signed out, signed in and allowed, signed in and refused, and without
sign-in; nothing of the stored analyses may show to anyone the gate does not let in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from sqlmodel import select
from streamlit.testing.v1 import AppTest

import components.auth as auth
from services.context import Services
from services.db import session_scope
from services.library import list_analyses
from services.models import Video
from tests.fixtures.apptest import open_page, rendered_nodes, switch_to
from tests.fixtures.library import run_analysis
from tests.fixtures.signin import AUTH, signin_app
from tests.fixtures.uploads import upload_through_page

SECRET_NAME = "quarterly-secret-plans.mp4"


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


def everything(at: AppTest) -> str:
    """The text of every element and block of the page, as protobuf text (bytes escaped)."""
    return "\n".join(str(n.proto) for n in rendered_nodes(at) if getattr(n, "proto", None))


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
    at = open_page(page, at=signin_app(), **query)
    assert [t.value for t in at.title] == ["Framewise"]
    assert [b.proto.label for b in at.button] == ["Sign in with Microsoft"]
    assert "Microsoft work account" in at.markdown[0].value
    assert not at.sidebar.caption and not at.sidebar.button
    assert_no_data(at, analysis_id)


def test_signed_out_without_login_flag_is_signed_out(services, video_factory):
    """Test that claims without is_logged_in=True (AppTest's default user) do not get in."""
    analysis_id = analysed(services, video_factory(seconds=3))
    at = open_page("results", at=signin_app(user={"email": "ana@example.com"}),
                   analysis=analysis_id)
    assert at.button[0].proto.label == "Sign in with Microsoft"
    assert_no_data(at, analysis_id)


def test_sign_in_button_calls_st_login(services, logins):
    """Test that the button starts st.login with the configured provider."""
    at = open_page("upload", at=signin_app())
    at.button(key="sign_in").click().run()
    assert not at.exception, at.exception
    assert logins == [()]
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    named = {k: AUTH[k] for k in ("client_id", "client_secret", "server_metadata_url")}
    at = open_page("upload", at=signin_app(auth_section={**shared, "microsoft": named}))
    at.button(key="sign_in").click().run()
    assert logins == [(), ("microsoft",)]


def test_share_link_is_resumed_after_sign_in(services, video_factory, logins, monkeypatch):
    """Test that a share link opened signed out is where the browser lands after signing in.

    st.login always returns to the app's root URL in a new session; the link is remembered per
    browser (the XSRF cookie, here a fixed key) and resumed once.
    """
    monkeypatch.setattr(auth, "_this_browser", lambda: "browser-1")
    analysis_id = analysed(services, video_factory(seconds=3))
    at = open_page("results", at=signin_app(), analysis=analysis_id, t="1")
    at.button(key="sign_in").click().run()
    assert logins == [()]
    ana = {"is_logged_in": True, "email": "ana@example.com"}
    back = signin_app(user=ana).run()  # the new session after the round trip, on "/"
    assert not back.exception, back.exception
    assert back.query_params == {"analysis": analysis_id, "t": "1"}
    assert [t.value for t in back.title] == [SECRET_NAME.replace(".", "\\.").replace("-", "\\-")]
    assert back.select_slider[0].value == 1.0
    again = signin_app(user=ana).run()  # resumed once only: a later visit to "/" stays there
    assert again.title[0].value == "Upload a video"


def test_allowed_user_uploads_and_queues_as_themselves(services, video_factory, monkeypatch):
    """Test that an allowed user sees the pages and is recorded as uploader and creator."""
    allow(monkeypatch, "@example.com")
    user = {"is_logged_in": True, "email": "Ana@Example.com", "name": "Ana"}
    at = open_page("upload", at=signin_app(user=user))
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

    switch_to(at, "analyses").run()
    assert not at.exception, at.exception
    assert list(at.dataframe[0].value["created_by"]) == ["ana@example.com"]
    switch_to(at, "results")
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
    at = open_page("upload", at=signin_app(user=user))
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
    at = open_page(page, at=signin_app(user=user), **query)
    assert [t.value for t in at.title] == ["Framewise"]
    [warning] = at.warning
    assert "eve\\@evil\\-example\\.com" in warning.value
    assert "FRAMEWISE_ALLOWED_USERS" in warning.value
    assert [b.proto.label for b in at.button] == ["Sign out"]
    assert_no_data(at, analysis_id)


def test_refused_user_can_sign_out(services, monkeypatch):
    """Test that the refusal's sign-out button signs the user out (st.logout)."""
    allow(monkeypatch, "@example.com")
    at = open_page("upload", at=signin_app(user={"is_logged_in": True, "email": "eve@other.org"}))
    at.button(key="sign_out_refused").click().run()
    assert not at.exception, at.exception
    assert at.user == {"is_logged_in": False}
    at.run()
    assert at.button[0].proto.label == "Sign in with Microsoft"


def test_sidebar_sign_out(services, monkeypatch):
    """Test that the sidebar's sign-out button signs out and shows no page content."""
    user = {"is_logged_in": True, "email": "ana@example.com"}
    at = open_page("analyses", at=signin_app(user=user))
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception, at.exception
    assert at.user == {"is_logged_in": False}
    assert not at.dataframe and not at.info  # the page did not run after signing out
    at.run()
    assert at.button[0].proto.label == "Sign in with Microsoft"


def test_without_auth_the_app_runs_as_local_user(services, video_factory):
    """Test that without [auth] (no secrets, or secrets without it) there is one local user."""
    no_secrets = signin_app(auth_section=None)
    other_secrets = signin_app(auth_section=None)
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
    ana = {"is_logged_in": True, "email": "ana@example.com"}
    at = open_page("upload", at=signin_app(user=ana, auth_section=broken))
    [error] = at.error
    assert "missing\\: client\\_secret" in error.value
    assert AUTH["cookie_secret"] not in everything(at)
    assert_no_data(at, analysis_id)
