"""Framewise's entry point, in two roles.

The server: `streamlit run app.py` finds the st.App at the bottom, imports this file once as the
module `app` and serves it (server/serve.py: the lifespan that starts and stops the embedded
worker, the upload route, secrets). Building it turns Streamlit's legacy pages-folder mode off
(server/pages_mode.py), so every session runs this script first, whatever URL it asked for: no
file in pages/ runs unless `main()` below routes to it.

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
from components.errors import database_errors_ui
from components.navigation import app_pages
from components.text import escape_markdown
from components.worker_ui import worker_problem_ui
from server import embedded as embedded_worker
from server.context import get_services
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

    pages = app_pages()
    # Navigation first (hidden until someone is let in), so the gate knows the page that was
    # asked for; no page script runs before the gate has let the session in.
    page = st.navigation(pages, position="sidebar" if access.lets_in else "hidden")
    if not access.lets_in:
        gate_ui(access, page)  # sign-in page or refusal; ends the run
    resume_link(page, pages)  # just signed in: on to the link that asked for the sign-in
    sidebar_user_ui(access)
    worker_ui(embedded_worker.current())
    with database_errors_ui(f"showing the {page.title} page"):
        page.run()


def worker_ui(worker: embedded_worker.EmbeddedWorker) -> None:
    """A visit wakes a resting worker (and a paused database); say so if it could not start."""
    worker.page_visited()
    if worker.state is embedded_worker.WorkerState.retrying:
        worker_problem_ui(worker.reason, worker.retry_in())
    elif worker.state is embedded_worker.WorkerState.failed:
        worker_problem_ui(worker.reason, None)


if __name__ == "__main__":
    main()  # a session's run (streamlit's script runner, AppTest)
else:
    # Imported by the server: one st.App per process, its lifespan tied to the server's.
    from server.serve import app_options

    app = st.App(__file__, **app_options())
