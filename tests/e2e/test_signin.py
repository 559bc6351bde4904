"""Sign-in in a real browser: st.login against a local OpenID Connect provider."""

from __future__ import annotations

import re
import shutil
import threading
import warnings
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.e2e import ui
from tests.fixtures.app_server import ROOT
from tests.fixtures.videos import make_video

pytestmark = [pytest.mark.e2e,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # authlib, in the mock

ALLOWED, REFUSED = "ana@example.com", "eve@elsewhere.example"
SECRET_NAME = "confidential-clip.mp4"


@pytest.fixture(scope="module")
def oidc_provider():
    """oidc-provider-mock on a free loopback port, with two one-click users; its base URL."""
    with warnings.catch_warnings():  # authlib's own deprecations, raised as the mock imports it
        import authlib.deprecate  # noqa: F401  (its import puts an "always" filter first)

        warnings.simplefilter("ignore")
        from oidc_provider_mock import User, app

    users = [User(sub="ana", claims={"email": ALLOWED, "name": "Ana"}),
             User(sub="eve", claims={"email": REFUSED, "name": "Eve"})]
    server = make_server("127.0.0.1", 0, app(user_claims=users, require_nonce=True),
                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _auth_secrets(oidc_provider: str):
    """The secrets.toml of a server at `url` whose [auth] section points at the provider."""

    def secrets(url: str) -> str:
        return (
            "[auth]\n"
            f'redirect_uri = "{url}/oauth2callback"\n'
            'cookie_secret = "e2e-cookie-secret-0123456789-abcdefghijklmnop"\n'
            'client_id = "framewise-e2e"\n'
            'client_secret = "framewise-e2e-secret"\n'
            f'server_metadata_url = "{oidc_provider}/.well-known/openid-configuration"\n'
        )

    return secrets


@pytest.fixture(scope="module")
def auth_server(start_server, oidc_provider, tmp_path_factory):
    """A server with an [auth] section pointing at the provider; only ALLOWED may use it."""
    server = start_server({"FRAMEWISE_ALLOWED_USERS": ALLOWED},
                          secrets=_auth_secrets(oidc_provider))
    video = make_video(tmp_path_factory.mktemp("videos") / SECRET_NAME, seconds=2)
    server.analysis_id = server.cli("analyze", str(video), "--fps", "1")["analysis_id"]
    return server


def _signed_out_page(page) -> None:
    """The sign-in page: a button, and nothing of the app (no navigation, uploader or data)."""
    expect(page.get_by_role("button", name="Sign in with Microsoft")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_test_id("fwUploadDropzone")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    assert SECRET_NAME not in page.content()


def _sign_in_as(page, sub: str) -> None:
    """Sign in through the provider's authorisation page, choosing a predefined user."""
    page.get_by_role("button", name="Sign in with Microsoft").click()
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.get_by_role("button", name=sub, exact=True).click()
    page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:\d+/"))
    ui.wait_for_run(page)


def test_signed_out_visitors_see_the_sign_in_page_and_no_data(auth_server, page, steps):
    """Test that a signed-out browser gets the sign-in page on every URL, share links included."""
    for path in ("", "/analyses", f"/results?analysis={auth_server.analysis_id}&t=1"):
        ui.goto(page, auth_server.url + path)
        _signed_out_page(page)
    steps.shot(page, "sign-in-page")


def test_an_allowed_user_signs_in_and_lands_on_the_shared_link(auth_server, page, steps):
    """Test that a user on FRAMEWISE_ALLOWED_USERS signs in and reaches the link they opened."""
    link = f"{auth_server.url}/results?analysis={auth_server.analysis_id}&t=1"
    ui.goto(page, link)
    _signed_out_page(page)
    steps.shot(page, "signed-out")
    _sign_in_as(page, "ana")
    expect(page.get_by_role("heading", name=SECRET_NAME)).to_be_visible()
    assert ui.query(page) == {"analysis": auth_server.analysis_id, "t": "1"}
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    expect(page.get_by_test_id("stSidebar")).to_contain_text(f"Signed in as {ALLOWED}")
    steps.shot(page, "signed-in-results")
    ui.nav(page, "Analyses")
    expect(page.get_by_test_id("stDataFrame").first.locator("table[role='grid']")) \
        .to_contain_text(SECRET_NAME)
    steps.shot(page, "signed-in-analyses")


def test_a_user_not_on_the_list_is_refused(auth_server, page, steps):
    """Test that a signed-in user outside FRAMEWISE_ALLOWED_USERS is refused and sees no data."""
    ui.goto(page, f"{auth_server.url}/analyses")
    _sign_in_as(page, "eve")
    refusal = page.get_by_test_id("stAlert").filter(has_text="has no access")
    expect(refusal).to_contain_text(REFUSED)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    assert SECRET_NAME not in page.content()
    for path in ("/analyses", f"/results?analysis={auth_server.analysis_id}"):
        ui.goto(page, auth_server.url + path)
        expect(refusal).to_be_visible()
        assert SECRET_NAME not in page.content()
    steps.shot(page, "refused")


PROBE = "zz_probe"  # a page file added without any guard of its own


def _app_copy(folder: Path) -> Path:
    """The app's files (not the tests, tools or data) in `folder`, plus an unguarded probe page
    that, if it ever runs, writes a marker on the page and a file beside the app."""
    shutil.copytree(ROOT, folder, ignore=shutil.ignore_patterns(
        ".*", "tests", "bench", "docs", "infra", "data", "scripts", "__pycache__"))
    shutil.copytree(ROOT / ".streamlit", folder / ".streamlit")
    (folder / "pages" / f"{PROBE}.py").write_text(
        "from pathlib import Path\n"
        "import streamlit as st\n"
        "Path(__file__).with_name('probe-ran').touch()\n"
        "st.write('PROBE-MARKER')\n", encoding="utf-8")
    return folder


def test_no_page_file_runs_for_a_signed_out_visitor_opening_it_first(
        start_server, oidc_provider, new_context, tmp_path, steps):
    """Test that, with sign-in on, every file in pages/ (an unguarded one added too), opened as
    the first request after a server start, shows the sign-in page and runs nothing of its own."""
    app = _app_copy(tmp_path / "app")
    page_files = sorted(p.stem for p in (app / "pages").glob("*.py"))
    assert PROBE in page_files and "results" in page_files  # found in the folder, not listed
    server = start_server({"FRAMEWISE_ALLOWED_USERS": ALLOWED},
                          secrets=_auth_secrets(oidc_provider), root=app)
    for name in [PROBE, *(n for n in page_files if n != PROBE)]:
        if name != PROBE:  # the probe got the server's first request; each page gets its own
            server.stop()
            server.start()
        page = new_context().new_page()
        ui.goto(page, f"{server.url}/{name}")
        _signed_out_page(page)
        assert "PROBE-MARKER" not in page.content(), name
        if name == PROBE:
            steps.shot(page, "probe-first")
    assert not (app / "pages" / "probe-ran").exists()
