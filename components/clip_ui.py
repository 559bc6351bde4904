"""Results page: download any moment as an MP4 clip: the shot at the selected moment, the
selected label's segment there, or a range typed in. The link asks the clip route, which
streams the clip as ffmpeg encodes it (server/clips.py): any length, memory flat."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import streamlit as st

from components.formatting import clock
from services.insights.links import parse_label_key


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
            link: Callable[[float, float], str]) -> None:
    """A range to clip (the shot or segment at t, or typed in) and its download link.

    link(start, end): the URL that streams that clip, valid while this page is open."""
    choices = _choices(t, shots, segments, label, step, duration)
    names = [*choices, "A range I type"]
    picked = st.radio("Clip of", names, horizontal=True, key=f"clip_of_{analysis_id}")
    if picked in choices:
        start, end = choices[picked]
    else:
        cols = st.columns(2)
        # The moment can lie past the probed duration (a stored frame's time, a hand-made link).
        at = min(max(float(t), 0.0), duration)
        start = cols[0].number_input("From (s)", 0.0, duration, value=at, step=0.04,
                                     format="%.3f", key=f"clip_start_{analysis_id}")
        end = cols[1].number_input("To (s)", 0.0, duration, value=min(duration, at + 5),
                                   step=0.04, format="%.3f", key=f"clip_end_{analysis_id}")
    if end <= start:
        st.warning("The end of the clip must be after its start.")
        return
    st.link_button(f"Download {clock(start, 2)} to {clock(end, 2)} as MP4", link(start, end),
                   icon=":material/movie:")
    st.caption("Exact to the frame: re-encoded from the frame at or after the start, and "
               f"streamed as it is made. Also: `python cli.py clip {analysis_id} --start "
               f"{start:g} --end {end:g} -o clip.mp4`.")
