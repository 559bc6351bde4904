"""Analyses page: the history of analyses, a filter, links to results, and deletion."""

from __future__ import annotations

import streamlit as st

from components.navigation import page_file
from components.tables import ANALYSIS_COLUMNS, analyses_table, analysis_choice_label
from components.text import escape_markdown
from server.context import get_services
from services.library import count_analyses, delete_analysis, delete_video, list_analyses

services = get_services()
engine, store = services.engine, services.store
FLASH = "analyses_flash"  # what the last delete did, shown once after the rerun


def _history(query: str, polling: bool) -> None:
    """The table of analyses; refreshed every few seconds while any of them is unfinished."""
    rows = list_analyses(engine, query)
    if polling and all(a.status.finished for a, _ in rows):
        st.rerun()  # everything has ended: redraw once and stop polling
    st.dataframe(analyses_table(rows), column_config=ANALYSIS_COLUMNS, hide_index=True,
                 width="stretch", key="history")


st.title("Analyses")
if flash := st.session_state.pop(FLASH, None):
    st.success(flash)

query = st.text_input("Filter", key="analyses_filter",
                      placeholder="Part of a file name, a status, an analyser or a user")
rows = list_analyses(engine, query)
if not rows:
    if query.strip():
        st.info("No analysis matches this filter.")
    else:
        st.info("No analyses yet.")
        st.page_link(page_file("upload"), label="Upload a video", icon=":material/upload:")
    st.stop()

unfinished = any(not a.status.finished for a, _ in rows)
st.fragment(_history, run_every=3 if unfinished else None)(query, unfinished)

st.subheader("Open or delete")
by_id = {a.id: (a, v) for a, v in rows}
chosen = st.selectbox("Analysis", list(by_id),
                      format_func=lambda i: analysis_choice_label(*by_id[i]))
analysis, video = by_id[chosen]
st.page_link(page_file("results"), label="Open its results", icon=":material/monitoring:",
             query_params={"analysis": analysis.id})

name = escape_markdown(video.original_filename, 120)
siblings = count_analyses(engine, video.id)
left, right = st.columns(2)
with left, st.container(border=True):
    st.markdown("**Delete this analysis**")
    st.caption(f"Its {analysis.frames_done:,} frames, detections and thumbnails go; "
               "the video stays.")
    sure = st.checkbox("Yes, delete this analysis", key=f"confirm_analysis_{analysis.id}")
    if st.button("Delete analysis", type="primary", disabled=not sure,
                 key=f"delete_analysis_{analysis.id}"):
        delete_analysis(engine, store, analysis.id)
        st.session_state[FLASH] = f"Deleted the analysis of {name}."
        st.rerun()
with right, st.container(border=True):
    st.markdown(f"**Delete the video {name}**")
    count = "its analysis goes" if siblings == 1 else f"all {siblings} of its analyses go"
    st.caption(f"The video file and {count}, with every frame and thumbnail.")
    sure = st.checkbox("Yes, delete the video and all its analyses",
                       key=f"confirm_video_{video.id}")
    if st.button("Delete video", type="primary", disabled=not sure,
                 key=f"delete_video_{video.id}"):
        delete_video(engine, store, video.id)
        st.session_state[FLASH] = f"Deleted {name} and its analyses."
        st.rerun()
