"""Framewise: entry point. Page config, settings and services, the worker, navigation."""

from __future__ import annotations

import logging

import streamlit as st

from components.auth import user_label
from components.context import ensure_worker, get_services, mark_routed
from components.text import escape_markdown
from services.config import SettingsError
from services.db import DatabaseUnavailable
from services.storage import StorageError

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("azure").setLevel(logging.WARNING)

st.set_page_config(page_title="Framewise", page_icon=":material/movie:", layout="wide")

try:
    services = get_services()
except (SettingsError, DatabaseUnavailable, StorageError) as exc:
    # One line naming the setting and what to do; never a traceback.
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    st.error(f"Framewise cannot start: {escape_markdown(message, 400)}. Fix it in the app "
             "settings (environment or .env) and reload the page.")
    st.stop()

ensure_worker(services)

pages = [
    st.Page("pages/upload.py", title="Upload", icon=":material/upload:", url_path="upload",
            default=True),
    st.Page("pages/analyses.py", title="Analyses", icon=":material/list:", url_path="analyses"),
    st.Page("pages/results.py", title="Results", icon=":material/monitoring:",
            url_path="results"),
]
page = st.navigation(pages)
st.sidebar.caption(user_label())
mark_routed()
page.run()
