"""The app's pages in one place: file, title, icon and URL path, for app.py's st.navigation and
for every link from one page to another.

Page files are named by absolute path, so links resolve whichever script Streamlit runs as the
entry point (app.py in the server; tests/fixtures/served_app.py under AppTest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parents[1] / "pages"


@dataclass(frozen=True)
class PageSpec:
    name: str  # the file pages/<name>.py and the URL path /<name>
    title: str
    icon: str
    default: bool = False


PAGES = (
    PageSpec("upload", "Upload", ":material/upload:", default=True),
    PageSpec("analyses", "Analyses", ":material/list:"),
    PageSpec("results", "Results", ":material/monitoring:"),
    PageSpec("search", "Search", ":material/search:"),
    PageSpec("compare", "Compare", ":material/compare_arrows:"),
)


def page_file(name: str) -> Path:
    """pages/<name>.py, for st.page_link."""
    return PAGES_DIR / f"{name}.py"


def app_pages() -> list:
    """The st.Page of every page, in the sidebar's order."""
    return [st.Page(page_file(p.name), title=p.title, icon=p.icon, url_path=p.name,
                    default=p.default) for p in PAGES]
