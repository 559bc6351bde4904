"""Framewise's entry point, in two roles.

The server: `streamlit run app.py` finds the st.App at the bottom, imports this file once as the
module `app` and serves it. The lifespan (components/server.py) starts the embedded worker with
the server and stops it with the server; routes and secrets come from the same module.

The script: every session runs this file as `__main__`, i.e. `main()`: page config, settings and
services, the sign-in gate, navigation. The gate runs before any page: with sign-in configured
([auth] in .streamlit/secrets.toml, or FRAMEWISE_AUTH_* settings), a signed-out visitor, or one
outside FRAMEWISE_ALLOWED_USERS, gets the sign-in page or a refusal whatever the URL (share
links included), and no page script runs.
"""

from __future__ import annotations

import logging

import streamlit as st

from components.auth import (
    AuthConfigError,
    access_state,
    gate_ui,
    resume_link,
    sidebar_user_ui,
)
from components.context import get_services
from components.errors import database_errors_ui
from components.legacy_pages import mark_routed
from components.server import lifespan, routes, server_secrets
from components.text import escape_markdown
from services.config import SettingsError
from services.db import DatabaseError, DatabaseUnavailable
from services.logmask import install_secret_masking
from services.storage.base import StorageError

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("azure").setLevel(logging.WARNING)


def main() -> None:
    """One run of one session: everything before the page, then the page."""
    st.set_page_config(page_title="Framewise", page_icon=":material/movie:", layout="wide")
    try:
        services = get_services()
    except (SettingsError, DatabaseUnavailable, DatabaseError, StorageError) as exc:
        # One line naming the setting and what to do; never a traceback.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        st.error(f"Framewise cannot start: {escape_markdown(message, 400)}. Fix it in the app "
                 "settings (environment or .env) and reload the page.")
        st.stop()

    install_secret_masking(services.settings.secrets())  # the server's log, as the CLI's

    try:
        access = access_state(services.settings)
    except AuthConfigError as exc:
        # Sign-in is configured but unusable: refuse everyone rather than run without it.
        st.error(f"Framewise cannot start: {escape_markdown(exc, 400)}. Fix the "
                 "`FRAMEWISE_AUTH_*` settings or .streamlit/secrets.toml (see "
                 "secrets.toml.example) and reload the page.")
        st.stop()

    pages = [
        st.Page("pages/upload.py", title="Upload", icon=":material/upload:", url_path="upload",
                default=True),
        st.Page("pages/analyses.py", title="Analyses", icon=":material/list:",
                url_path="analyses"),
        st.Page("pages/results.py", title="Results", icon=":material/monitoring:",
                url_path="results"),
        st.Page("pages/search.py", title="Search", icon=":material/search:", url_path="search"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:",
                url_path="compare"),
    ]
    # Navigation first (hidden until someone is let in), so the gate knows the page that was
    # asked for; no page script runs before the gate has let the session in.
    page = st.navigation(pages, position="sidebar" if access.lets_in else "hidden")
    if not access.lets_in:
        gate_ui(access, page)  # sign-in page or refusal; ends the run
    resume_link(page, pages)  # just signed in: on to the link that asked for the sign-in
    sidebar_user_ui(access)
    mark_routed()
    with database_errors_ui(f"showing the {page.title} page"):
        page.run()


if __name__ == "__main__":
    main()  # a session's run (streamlit's script runner, AppTest)
else:
    # Imported by the server: one st.App per process, its lifespan tied to the server's.
    app = st.App(__file__, lifespan=lifespan, routes=routes(), secrets=server_secrets())
