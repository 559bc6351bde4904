"""The sidebar's word on the server's background worker, when it is not running as it should."""

from __future__ import annotations

import streamlit as st

from components.text import escape_markdown


def worker_problem_ui(reason: str, retry_in_s: float | None) -> None:
    """A worker that could not start: why, and whether another try is coming.

    retry_in_s: seconds to the next try, or None when only fixing a setting and restarting helps.
    """
    if retry_in_s is None:
        st.sidebar.error(
            f"The background worker did not start: {escape_markdown(reason, 300)}. Analyses stay "
            "queued: fix the setting and restart the app.", icon=":material/error:")
        return
    st.sidebar.warning(
        f"The background worker could not start yet: {escape_markdown(reason, 300)}. Analyses "
        f"stay queued; it tries again in {retry_in_s:.0f} s (after a deployment, permissions "
        "can take a few minutes to apply).", icon=":material/sync_problem:")
