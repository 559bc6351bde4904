"""Keep Streamlit's legacy pages-folder mode off, so every page is reached only through app.py.

Streamlit treats a folder named pages/ beside the main script as a v1 multipage app until a
session calls st.navigation (PagesManager.uses_pages_directory, a process-wide flag set when the
first session starts): until then a deep link, such as a share link opened as the first request
after a server start, runs pages/<name>.py alone, without app.py's page config, sign-in gate and
navigation, and lists every file in pages/ in the sidebar. Turning the flag off when the server
imports app.py, before any session exists, makes every run of every session execute app.py, so
the gate is a property of the app and no page file, however written, runs before it.

tests/test_legacy_pages.py fails when Streamlit changes the behaviour this relies on.
"""

from __future__ import annotations

from streamlit.runtime.pages_manager import PagesManager


def serve_pages_only_through_main_script() -> None:
    """Turn legacy pages-folder mode off for this process (before the first session starts)."""
    PagesManager.uses_pages_directory = False
