"""The one workaround for Streamlit's legacy pages-folder mode.

Streamlit treats a folder named pages/ beside the main script as a v1 multipage app until a
session calls st.navigation (PagesManager.uses_pages_directory): until then a deep link, such as a
share link opened as the first visit after a server start, runs pages/<name>.py alone, without
app.py's page config, sign-in gate and navigation. st.App does not change this, and AppTest
resets the flag before every run. So each page calls route_through_app() first.
tests/test_legacy_pages.py fails when Streamlit changes the behaviour this works around.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"
_ROUTED_KEY = "_framewise_routed"


def mark_routed() -> None:
    """app.py calls this just before running the page it routed to."""
    st.session_state[_ROUTED_KEY] = True


def route_through_app() -> None:
    """Pages call this first, so they always run inside app.py (config, gate, navigation).

    In legacy mode this runs app.py in the page's place, in the same run (so no click or query
    parameter is lost); app.py routes back to this page and, by calling st.navigation, leaves
    legacy mode, so in a running server this happens at most once.
    """
    if st.session_state.pop(_ROUTED_KEY, False):
        return
    if not PagesManager.uses_pages_directory:
        return  # not legacy mode: nothing to repair
    runpy.run_path(str(APP_SCRIPT), run_name="__main__")
    st.stop()
