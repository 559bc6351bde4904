"""Who is using the app: sign-in with st.login (Microsoft Entra ID over OIDC), or one local user.

Sign-in is on when `.streamlit/secrets.toml` has an `[auth]` section (see
`.streamlit/secrets.toml.example`), or when FRAMEWISE_AUTH_* settings are set (App Service: app
settings, handed to the server as st.App secrets by server/serve.py); without either the app runs
as the single user "local". app.py calls `access_state` before any page runs: signed-out
visitors get the sign-in page, people outside FRAMEWISE_ALLOWED_USERS a polite refusal, and
neither sees any data. The rules themselves have no Streamlit in them: the [auth] checks in
services/auth_settings.py, the gate decision in services/access.py, the return links in
services/return_links.py.

st.login always brings the browser back to the app's root URL (Streamlit's /oauth2callback
redirects to "/"), so the page and query parameters of a share link would be lost, and so would
session_state (the return is a new session). `remember_link` keeps them on the server, keyed by
the browser (services/return_links.py), and `resume_link` sends the signed-in browser on to them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import streamlit as st

from components.text import escape_markdown
from services.access import LOCAL_USER, Access, decide, user_email
from services.auth_settings import AuthConfig, AuthConfigError, auth_section, parse_auth_section
from services.config import Settings, SettingsError
from services.return_links import ReturnLinks, browser_key

log = logging.getLogger(__name__)

_RESUMED_KEY = "_framewise_link_resumed"
_REFUSAL_LOGGED_KEY = "_framewise_refusal_logged"


def _secrets_files() -> list[str]:
    return [str(p) for p in (st.get_option("secrets.files") or [])]


def _env_auth(settings: Settings) -> dict[str, str] | None:
    try:
        return auth_section(settings)
    except SettingsError as exc:
        raise AuthConfigError(str(exc)) from None


def auth_config(settings: Settings) -> AuthConfig | None:
    """The sign-in configuration, or None when neither secrets nor settings configure sign-in.

    A missing secrets file means no sign-in; a secrets file that exists but cannot be read, or
    FRAMEWISE_AUTH_* settings that are incomplete or that the server did not load, raise
    AuthConfigError, so a typo never turns sign-in off silently.
    """
    wanted = _env_auth(settings)
    secrets = st.secrets  # looked up on each call: AppTest swaps it for its own
    if wanted is not None and not _loaded(secrets, wanted):
        # st.login reads only st.secrets: without st.App(secrets=...) the settings do nothing,
        # and the app would be open to anyone. Refuse instead.
        raise AuthConfigError("FRAMEWISE_AUTH_* settings are set but the server did not load "
                              "them (app.py must serve the st.App of server/serve.py)")
    if not secrets.load_if_toml_exists():
        if any(Path(p).is_file() for p in _secrets_files()):
            raise AuthConfigError("the secrets file (.streamlit/secrets.toml) cannot be read")
        return None
    section = secrets.get("auth")
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise AuthConfigError("auth in the secrets file must be a [auth] section")
    return parse_auth_section(section)


def _loaded(secrets, wanted: Mapping[str, str]) -> bool:
    """True when st.secrets holds exactly the [auth] section the settings describe."""
    if not secrets.load_if_toml_exists():
        return False
    section = secrets.get("auth")
    return isinstance(section, Mapping) and {k: section.get(k) for k in wanted} == dict(wanted)


def _user_info() -> dict:
    return dict(st.user.to_dict())


def access_state(settings: Settings) -> Access:
    """This session's access under the app's settings; raises AuthConfigError when [auth] is
    broken."""
    config = auth_config(settings)  # first: a broken secrets file is refused, not read as user
    return decide(_user_info(), config=config, allowed=settings.allowed_users)


def current_user(settings: Settings) -> str:
    """The signed-in user's e-mail address, or 'local' without sign-in.

    Pages run only after app.py's gate let the session in; a page reached without a signed-in
    address (which the gate prevents) raises instead of recording a wrong name.
    """
    config = auth_config(settings)
    if config is None:
        return LOCAL_USER
    info = _user_info()
    email = user_email(info) if info.get("is_logged_in") is True else None
    if email is None:
        raise PermissionError("no signed-in user")
    return email


def user_label() -> str:
    """One line for the sidebar saying who is signed in."""
    return "Signed in as local user (no sign-in configured)"


# --- the link that asked for a sign-in --------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _return_links() -> ReturnLinks:
    return ReturnLinks()


def _this_browser() -> str | None:
    return browser_key(st.context.cookies)


def remember_link(page) -> None:
    """Keep the page and query parameters this browser asked for, to resume after sign-in."""
    browser = _this_browser()
    params = st.query_params.to_dict()
    if browser and (page.url_path or params):
        _return_links().put(browser, page.url_path, params)


def resume_link(page, pages: Iterable) -> None:
    """Once per session, after a sign-in, go on to the link that asked for it (if any)."""
    if st.session_state.get(_RESUMED_KEY):
        return
    st.session_state[_RESUMED_KEY] = True
    if page.url_path or st.query_params.to_dict():
        return  # the browser already asks for something specific
    browser = _this_browser()
    link = _return_links().take(browser) if browser else None
    if link is None:
        return
    path, params = link
    target = next((p for p in pages if p.url_path == path), None)
    if target is None or (target.url_path == page.url_path and not params):
        return
    st.switch_page(target, query_params=params)


# --- what the gate shows -----------------------------------------------------------------------


def _sign_in_clicked(access: Access, page) -> None:
    remember_link(page)
    if access.provider:
        st.login(access.provider)
    else:
        st.login()


def gate_ui(access: Access, page) -> None:
    """The sign-in page or the refusal, with no data; always ends the run."""
    st.title("Framewise")
    if access.state == "signed_out":
        st.markdown("Video analyses for the team. Sign in with your Microsoft work account to "
                    "see uploads, analyses and results.")
        st.button("Sign in with Microsoft", type="primary", icon=":material/login:",
                  key="sign_in", on_click=_sign_in_clicked, args=(access, page))
        st.caption("After signing in you are taken to the page you opened, "
                   "share links included.")
    else:
        if not st.session_state.get(_REFUSAL_LOGGED_KEY):
            st.session_state[_REFUSAL_LOGGED_KEY] = True
            log.info("refused %s: not in FRAMEWISE_ALLOWED_USERS", access.email or "(no e-mail)")
        if access.email:
            st.warning(f"You are signed in as {escape_markdown(access.email, 200)}, but this "
                       "account has no access to Framewise. If you need it, ask the Framewise "
                       "administrator to add your address to FRAMEWISE_ALLOWED_USERS.",
                       icon=":material/block:")
        else:
            st.warning("Your sign-in did not include an e-mail address, so Framewise cannot "
                       "tell who you are. Ask the Framewise administrator for help.",
                       icon=":material/block:")
        if st.button("Sign out", key="sign_out_refused", icon=":material/logout:"):
            st.logout()
    st.stop()


def sidebar_user_ui(access: Access) -> None:
    """Sidebar: who is signed in, and a sign-out button (or the local-user note)."""
    if access.state == "local":
        st.sidebar.caption(user_label())
        return
    st.sidebar.caption(f"Signed in as {escape_markdown(access.email, 200)}")
    if st.sidebar.button("Sign out", key="sign_out", icon=":material/logout:"):
        st.logout()
        st.stop()
