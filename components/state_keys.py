"""Session-state keys that more than one module reads or writes, each made here once.

A key only one module uses is a constant (or an f-string) next to its owner.
"""

from __future__ import annotations


def time_key(analysis_id: str) -> str:
    """The results page's moment: its slider (results_ui.time_ui), moved by segment jumps."""
    return f"t_{analysis_id}"


def selected_label_key(analysis_id: str) -> str:
    """The results page's selected label (kind:label): the select box and timeline clicks."""
    return f"label_{analysis_id}"


# A click's own script run can be cut short by another rerun, and a button is True only in the
# run its click started: the review controls' callbacks (run before that run's script) keep what
# was asked here until the page has done it, so no click is lost.
def asked_key(analysis_id: str) -> str:
    """What a review control of the results page asked (a ReviewAction), not yet done."""
    return f"review_asked_{analysis_id}"
