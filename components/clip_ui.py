"""Results page: download any moment as an MP4 clip: the shot at the selected moment, the
selected label's segment there, or a range typed in. The clip is made only when its button is
clicked (Streamlit then holds its bytes in memory: long ranges go to `cli.py clip`)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from components.formatting import clock
from services.insights.links import parse_label_key
from services.video.clips import clip_name

MAX_PAGE_CLIP_S = 600.0  # longer clips: `cli.py clip`, which streams to a file


def _choices(t: float, shots: pd.DataFrame, segments: pd.DataFrame, label: str | None,
             step: float, duration: float) -> dict[str, tuple[float, float]]:
    """What can be clipped at t: the shot, the selected label's segment holding t."""
    out: dict[str, tuple[float, float]] = {}
    here = shots[(shots["start_s"] <= t + 1e-6) & (t < shots["end_s"])]
    if not here.empty:
        shot = here.iloc[0]
        out[f"Shot {int(shot['shot_index']) + 1}"] = (float(shot["start_s"]),
                                                      float(shot["end_s"]))
    parsed = parse_label_key(label)
    if parsed is not None and not segments.empty:
        own = segments[(segments["kind"] == parsed[0]) & (segments["label"] == parsed[1])]
        seg = own[(own["start_s"] <= t) & (t < own["end_s"] + step)]
        if not seg.empty:
            start, end = float(seg.iloc[0]["start_s"]), float(seg.iloc[0]["end_s"]) + step
            out[f"This segment of {parsed[1][:40]}"] = (start, min(end, duration))
    return out


def clip_ui(analysis_id: str, title: str, t: float, duration: float, shots: pd.DataFrame,
            segments: pd.DataFrame, label: str | None, step: float,
            make: Callable[[float, float], bytes]) -> None:
    """A range to clip (the shot or segment at t, or typed in) and its download button."""
    choices = _choices(t, shots, segments, label, step, duration)
    names = [*choices, "A range I type"]
    picked = st.radio("Clip of", names, horizontal=True, key=f"clip_of_{analysis_id}")
    if picked in choices:
        start, end = choices[picked]
    else:
        cols = st.columns(2)
        start = cols[0].number_input("From (s)", 0.0, duration, value=float(t), step=0.04,
                                     format="%.3f", key=f"clip_start_{analysis_id}")
        end = cols[1].number_input("To (s)", 0.0, duration, value=min(duration, float(t) + 5),
                                   step=0.04, format="%.3f", key=f"clip_end_{analysis_id}")
    if end <= start:
        st.warning("The end of the clip must be after its start.")
        return
    if end - start > MAX_PAGE_CLIP_S:
        st.info(f"Clips longer than {MAX_PAGE_CLIP_S / 60:g} minutes are made with "
                f"`python cli.py clip {analysis_id} --start {start:g} --end {end:g} -o clip.mp4`.")
        return
    st.download_button(f"Download {clock(start, 2)} to {clock(end, 2)} as MP4",
                       data=lambda: make(start, end), file_name=clip_name(title, start, end),
                       mime="video/mp4", icon=":material/movie:", on_click="ignore",
                       key=f"clip_{analysis_id}")
    st.caption("Exact to the frame: re-encoded from the frame at or after the start.")
