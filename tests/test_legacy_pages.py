"""Streamlit's legacy pages-folder mode, and how the app keeps it off (server/pages_mode.py).

The first test pins the Streamlit behaviour the server works around: when it fails, Streamlit no
longer runs a page script alone because of a pages/ folder, and server/pages_mode.py can go. The
second pins the switch the server uses. tests/e2e/test_signin.py proves the whole of it in a
real server: no file in pages/ runs for a visitor the gate has not let in.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from server.pages_mode import serve_pages_only_through_main_script
from tests.fixtures.apptest import app, switch_to

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


def test_the_switch_the_server_uses_keeps_the_main_script_in_charge(tmp_path):
    """Test that with the flag off, as server/pages_mode.py sets it, Streamlit's script runner
    runs the main script for a deep link, and the main script's navigation picks the page."""
    main = _toy_app(tmp_path)
    PagesManager.uses_pages_directory = None
    serve_pages_only_through_main_script()
    PagesManager(str(main))  # a session starting after the server built its st.App
    assert PagesManager.uses_pages_directory is False


def test_every_page_file_runs_inside_app_py(app_services):
    """Test that each file in pages/, asked for by its URL, runs after app.py's gate and sidebar,
    and that app.py's navigation lists every page file (none is reachable only by URL)."""
    page_files = sorted(p.stem for p in (ROOT / "pages").glob("*.py"))
    assert "results" in page_files
    for name in page_files:
        at = switch_to(app().run(), name).run()
        assert not at.exception, (name, at.exception)
        captions = [c.value for c in at.sidebar.caption]
        assert "Signed in as local user (no sign-in configured)" in captions, name
    registered = {Path(str(info["script_path"])).stem for info in at._registered_pages.values()}
    assert registered == set(page_files)
