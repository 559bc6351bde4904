"""Results page: the storyboard, one keyframe per shot in time order with its times; a click on
a shot moves the selected moment to it."""

from __future__ import annotations

import bisect
from collections.abc import Callable

import pandas as pd
import streamlit as st

from components.formatting import clock
from components.frame_viewer import nearest_index
from components.state_keys import time_key
from services.insights.media import Media

PER_ROW = 6
PER_PAGE = 24  # keyframes read and drawn at once; more shots are paged


def moment_of(start_s: float, end_s: float, times: list[float]) -> float:
    """The sampled time that shows the shot: the first sample inside it, else the nearest."""
    i = bisect.bisect_left(times, start_s - 1e-6)
    if i < len(times) and times[i] < end_s - 1e-6:
        return times[i]
    return times[nearest_index(times, start_s)]


def _go(analysis_id: str, at: float) -> None:
    st.session_state[time_key(analysis_id)] = at


def storyboard_ui(shots: pd.DataFrame, analysis_id: str, times: list[float], t: float,
                  keyframe: Callable[[str | None], Media]) -> None:
    """The strip of keyframes, a page of PER_PAGE shots at a time (the one showing t first)."""
    if shots.empty or not times:
        st.caption("No shots yet.")
        return
    shots = shots.sort_values("start_s").reset_index(drop=True)
    here = int((shots["start_s"] <= t + 1e-6).sum()) - 1
    pages = (len(shots) + PER_PAGE - 1) // PER_PAGE
    page = 0
    if pages > 1:
        page = st.number_input(f"Page of shots (1 to {pages})", 1, pages,
                               value=max(0, here) // PER_PAGE + 1,
                               key=f"shots_page_{analysis_id}") - 1
    chunk = shots.iloc[page * PER_PAGE:(page + 1) * PER_PAGE]
    for start in range(0, len(chunk), PER_ROW):
        cols = st.columns(PER_ROW, gap="small")
        for col, shot in zip(cols, chunk.iloc[start:start + PER_ROW].itertuples(), strict=False):
            with col:
                _shot_ui(shot, analysis_id, times, current=shot.Index == here,
                         image=keyframe(shot.keyframe_key))
    if not bool(shots["precise"].all()):
        st.caption("Shots as the sampled frames tell them (at the sampling's precision): this "
                   "analysis found no shots on every frame (a sparse run without a full shot "
                   "pass, or an analysis made before shots were).")


def _shot_ui(shot, analysis_id: str, times: list[float], current: bool, image: Media) -> None:
    if isinstance(image.content, bytes):
        st.image(image.content, width="stretch")
    else:
        st.caption(image.problem or "No keyframe.")
    number = int(shot.shot_index) + 1
    at = moment_of(float(shot.start_s), float(shot.end_s), times)
    label = f"{'▶ ' if current else ''}Shot {number} · {clock(shot.start_s, 2)}"
    st.button(label, key=f"shot_{analysis_id}_{number}", on_click=_go, args=(analysis_id, at),
              type="primary" if current else "secondary", width="stretch",
              help=f"{shot.transition} · {clock(shot.start_s, 2)} to {clock(shot.end_s, 2)}: "
                   "click to move the selected moment here")
