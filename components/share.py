"""Share links that keep the view: the moment, the confidence and the selected label ride in the
query parameters (services.insights.links builds and parses them) and are restored when a link
is opened.

A widget's state starts from its query parameter the first time a session shows it; from then
on the widget leads and the URL follows it, so the address bar is always a link to this view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from services.insights.links import (  # noqa: F401  (re-exported for the pages)
    RESULTS_PATH,
    format_seconds,
    parse_seconds,
    results_link,
    results_query,
)

T = TypeVar("T")


def share_link(public_url: str, analysis_id: str, t: float | None = None, *,
               confidence: float | None = None, label: str | None = None) -> str:
    """The URL an analyst pastes to a colleague: this analysis, moment and view."""
    return results_link(public_url, analysis_id, t, confidence=confidence, label=label)


def restore(key: str, param: str, parse: Callable[[str | None], T | None],
            default: T) -> None:
    """Start the widget `key` from the query parameter `param` (parsed), or from `default`."""
    if key in st.session_state:
        return
    value = parse(st.query_params.get(param))
    st.session_state[key] = default if value is None else value


def mirror(param: str, value: str | None) -> None:
    """Keep the query parameter `param` equal to value (removed when it is None or empty)."""
    if value:
        if st.query_params.get(param) != value:
            st.query_params[param] = value
    elif param in st.query_params:
        del st.query_params[param]
