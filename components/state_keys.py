"""Session-state keys that more than one module reads or writes, each made here once (with
the reads and writes of the review controls' shared slot).

A key only one module uses is a constant (or an f-string) next to its owner.
"""

from __future__ import annotations

import streamlit as st

from services.review.actions import ReviewAction


def time_key(analysis_id: str) -> str:
    """The results page's moment: its slider (results_ui.time_ui), moved by segment jumps."""
    return f"t_{analysis_id}"


def selected_label_key(analysis_id: str) -> str:
    """The results page's selected label (kind:label): the select box and timeline clicks."""
    return f"label_{analysis_id}"


# A click's own script run can be cut short by another rerun, and a button is True only in the
# run its click started: the review controls' callbacks (run before that run's script) keep what
# was asked in the session until the page has taken it, so no click is lost.
def _asked_key(analysis_id: str) -> str:
    return f"review_asked_{analysis_id}"


def keep_asked(analysis_id: str, action: ReviewAction) -> None:
    """From a review control's callback: what it asked, until the page takes it."""
    st.session_state[_asked_key(analysis_id)] = action


def take_asked(analysis_id: str) -> ReviewAction | None:
    """What a review control of the results page asked and the page has not done yet."""
    return st.session_state.pop(_asked_key(analysis_id), None)
