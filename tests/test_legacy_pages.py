"""Streamlit's legacy pages-folder mode, and the workaround in components/legacy_pages.py.

The first test pins Streamlit's behaviour: when it fails, Streamlit no longer runs a page script
alone because of a pages/ folder, and components/legacy_pages.py (and the route_through_app()
call at the top of each page) can go.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
MAIN = """
import streamlit as st
st.caption("main script ran")
st.navigation([st.Page("pages/home.py", default=True), st.Page("pages/other.py")]).run()
"""


def _toy_app(folder: Path) -> Path:
    (folder / "pages").mkdir()
    (folder / "pages" / "home.py").write_text("import streamlit as st\nst.title('home')\n")
    (folder / "pages" / "other.py").write_text("import streamlit as st\nst.title('other')\n")
    main = folder / "main.py"
    main.write_text(MAIN)
    return main


def test_streamlit_runs_a_deep_linked_page_alone_when_pages_sits_beside_the_script(tmp_path):
    """Test that Streamlit still runs pages/<name>.py without the main script (legacy mode)."""
    PagesManager.uses_pages_directory = None  # as in a fresh server process
    PagesManager(str(_toy_app(tmp_path)))
    assert PagesManager.uses_pages_directory is True

    at = AppTest.from_file(str(tmp_path / "main.py")).run()
    assert [c.value for c in at.caption] == ["main script ran"]
    at.switch_page("pages/other.py").run()  # AppTest starts each run like a fresh process
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["other"]
    assert [c.value for c in at.caption] == []  # the main script did not run: the legacy mode


def test_every_framewise_page_runs_inside_app_py(app_services):
    """Test that each page opened directly still gets app.py's gate and sidebar (the workaround)."""
    for page in ("analyses", "results", "search", "compare", "upload"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        captions = [c.value for c in at.sidebar.caption]
        assert "Signed in as local user (no sign-in configured)" in captions, page
