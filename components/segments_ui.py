"""Results page: the label segments as a timeline, the selected label, and jumps to its segments.

The selected label (kind:label) is kept in the `label` query parameter, so a share link opens
with it selected; the moment (`t`) says which of its segments.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from components.formatting import clock
from components.frame_viewer import nearest_index
from components.share import mirror, restore
from components.state_keys import selected_label_key, time_key
from components.text import one_line
from components.timeline import (
    SEGMENT_PARAM,
    kind_noun,
    row_name,
    segment_timeline,
    timeline_rows,
)
from services.domain import LOCAL_KINDS, SEGMENT_KINDS, LabelKind
from services.insights.links import label_key, parse_label_key

REMOTE_DEFAULT = [LabelKind.answer, LabelKind.tag, LabelKind.object, LabelKind.person,
                  LabelKind.text_line]
LOCAL_DEFAULT = list(LOCAL_KINDS)


def _move_to(analysis_id: str, times: list[float], seconds: float) -> None:
    st.session_state[time_key(analysis_id)] = times[nearest_index(times, seconds)]


def _picked(analysis_id: str, chart_key: str, times: list[float]) -> None:
    """Timeline click: select the bar's label and jump to the start of its segment."""
    state = st.session_state.get(chart_key) or {}
    points = (state.get("selection") or {}).get(SEGMENT_PARAM) or []
    if points and "start_s" in points[0]:
        st.session_state[selected_label_key(analysis_id)] = points[0].get("key", "")
        _move_to(analysis_id, times, float(points[0]["start_s"]))


def _chosen_label(analysis_id: str, segments: pd.DataFrame, times: list[float]) -> None:
    """Label picked in the select box: jump to its first segment."""
    parsed = parse_label_key(st.session_state.get(selected_label_key(analysis_id)))
    if parsed is None:
        return
    own = segments[(segments["kind"] == parsed[0]) & (segments["label"] == parsed[1])]
    if not own.empty:
        _move_to(analysis_id, times, float(own["start_s"].min()))


def _go(analysis_id: str, go_key: str, times: list[float]) -> None:
    """'Go to a segment' picked: jump there, and empty the box again for the next jump."""
    start = st.session_state.get(go_key)
    if start is not None:
        _move_to(analysis_id, times, float(start))
    st.session_state[go_key] = None


def _labels(segments: pd.DataFrame) -> list[str]:
    """Every label's key, remote kinds first (in LABEL_KINDS order), then by first start."""
    rank = {k: i for i, k in enumerate(SEGMENT_KINDS)}
    first = segments.groupby(["kind", "label"], as_index=False)["start_s"].min()
    first["rank"] = first["kind"].map(rank)
    first = first.sort_values(["rank", "start_s", "label"])
    return [label_key(k, lab) for k, lab in zip(first["kind"], first["label"], strict=True)]


def segments_ui(segments: pd.DataFrame, frames: pd.DataFrame, analysis_id: str, t: float,
                step: float, remote: bool, duration: float | None = None) -> str | None:
    """The timeline and the selected label's segments; returns the selected label key."""
    times = [round(float(x), 3) for x in frames["timestamp_s"]]
    label_state = selected_label_key(analysis_id)
    options = ["", *_labels(segments)]
    restore(label_state, "label", lambda raw: raw if raw in options else None, "")
    if st.session_state[label_state] not in options:  # gone at this confidence
        st.session_state[label_state] = ""
    selected = st.session_state[label_state] or None

    present = [k for k in SEGMENT_KINDS if k in set(segments["kind"])]
    default = [k for k in (REMOTE_DEFAULT if remote else LOCAL_DEFAULT) if k in present]
    kinds = st.pills("Segments of", present, selection_mode="multi", default=default or present,
                     format_func=kind_noun, key=f"seg_kinds_{analysis_id}")
    rows = timeline_rows(segments, step, list(kinds or []), keep=selected)
    if rows.empty:
        st.caption("No segments of these kinds at this confidence.")
    else:
        chart_key = f"segments_{analysis_id}"
        st.altair_chart(segment_timeline(rows, t, selected, duration), key=chart_key,
                        selection_mode=SEGMENT_PARAM, width="stretch",
                        on_select=partial(_picked, analysis_id, chart_key, times))
        st.caption("Each bar is a run of consecutive frames showing the label at this "
                   "confidence; click one to select its label and jump to it.")

    def name(key: str) -> str:
        parsed = parse_label_key(key)
        return "No label selected" if parsed is None else one_line(row_name(*parsed), 80)

    st.selectbox("Selected label", options, key=label_state, format_func=name,
                 on_change=_chosen_label, args=(analysis_id, segments, times))
    mirror("label", selected)
    parsed = parse_label_key(selected)
    if parsed is None:
        return None
    own = segments[(segments["kind"] == parsed[0]) & (segments["label"] == parsed[1])]
    _selected_ui(own, analysis_id, t, step, times)
    return selected


def _selected_ui(own: pd.DataFrame, analysis_id: str, t: float, step: float,
                 times: list[float]) -> None:
    """What the selected label's segments are, which one holds t, and a jump to any of them."""
    frames = int(own["frames"].sum())
    here = own[(own["start_s"] <= t) & (t < own["end_s"] + step)]
    facts = [f"{len(own)} segment{'s' if len(own) != 1 else ''}, {frames} frames in all"]
    if not here.empty:
        seg = here.iloc[0]
        facts.append(f"now in the one from {clock(seg['start_s'])} to {clock(seg['end_s'])} "
                     f"({int(seg['frames'])} frames)")
    st.caption(" · ".join(facts))
    go_key = f"go_{analysis_id}"
    starts = [float(s) for s in own["start_s"]]
    about = {float(r.start_s): r for r in own.itertuples(index=False)}

    def describe(start: float) -> str:
        r = about[start]
        conf = "" if pd.isna(r.max_confidence) else f", max confidence {r.max_confidence:.2f}"
        return f"{clock(r.start_s)} to {clock(r.end_s)} ({int(r.frames)} frames{conf})"

    st.selectbox("Go to a segment", starts, index=None, key=go_key, format_func=describe,
                 placeholder="Pick a segment of this label", on_change=_go,
                 args=(analysis_id, go_key, times))

