"""Compare page, /compare?a=<id>&b=<id>: two analyses' settings, metrics, label shares and
local statistics, at one minimum confidence."""

from __future__ import annotations

import streamlit as st

from components import data
from components.compare_ui import compare_ui
from components.navigation import page_file
from components.share import mirror, restore
from components.tables import analysis_choice_label
from server.context import get_services
from services.insights.compare import answer_side, compare_rows
from services.insights.compare_answers import AnswerSide
from services.insights.links import format_confidence, parse_confidence
from services.library import list_analyses
from services.review.corrections import reviews_stamp

services = get_services()
engine = services.engine

st.title("Compare")
rows = list_analyses(engine)
if len(rows) < 2:
    st.info("Comparing needs two analyses; there "
            + ("is one so far." if rows else "are none yet."))
    st.page_link(page_file("upload"), label="Upload a video", icon=":material/upload:")
    st.stop()

by_id = {a.id: (a, v) for a, v in rows}
ids = list(by_id)
# By default the newest analysis is B and the one before it A.
restore("compare_a", "a", lambda raw: raw if raw in by_id else None, ids[1])
restore("compare_b", "b", lambda raw: raw if raw in by_id else None, ids[0])
restore("compare_conf", "conf", parse_confidence, services.settings.min_confidence)
left, right = st.columns(2)
a_id = left.selectbox("Analysis A", ids, key="compare_a",
                      format_func=lambda i: analysis_choice_label(*by_id[i]))
b_id = right.selectbox("Analysis B", ids, key="compare_b",
                       format_func=lambda i: analysis_choice_label(*by_id[i]))
min_confidence = st.slider("Minimum confidence", 0.0, 1.0, step=0.05, key="compare_conf",
                           help="Label shares count detections at or above this confidence.")
mirror("a", a_id)
mirror("b", b_id)
mirror("conf", format_confidence(min_confidence))
if a_id == b_id:
    st.caption("A and B are the same analysis.")


def rows_of(analysis_id: str):
    analysis, video = by_id[analysis_id]
    key = f"{analysis.frames_done}:{analysis.status}"
    return (analysis, video, data.frames(engine, analysis_id, key),
            data.detections(engine, analysis_id, key))


def answers_of(rows) -> AnswerSide:
    analysis = rows[0]  # the answers in force change with each review too
    key = f"{analysis.frames_done}:{analysis.status}:{reviews_stamp(engine, analysis.id)}"
    return answer_side(engine, rows, data.answers(engine, analysis.id, key))


side_a, side_b = rows_of(a_id), rows_of(b_id)
comparison = compare_rows(side_a, side_b, float(min_confidence),
                          (answers_of(side_a), answers_of(side_b)))
compare_ui(comparison, side_a[2], side_b[2])
