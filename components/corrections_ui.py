"""Corrections in the results page's frame viewer: the selected frame's reviewed answers beside
the model's, a control to mark the model right or set the right value, Image Analysis detections
marked wrong; and the agreement per question. Components return what the analyst asked
(services.review.actions); the page does it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.state_keys import keep_asked, take_asked
from components.text import one_line
from services.insights.answers import shown_value
from services.questions import CANNOT_TELL, NO, SCORE_MAX, YES, Question
from services.review.actions import ReviewAction, ReviewAnswer, ReviewDetection

CANNOT_TELL_LABEL = "cannot tell"


def reviewed_here(questions: tuple[Question, ...], model: pd.DataFrame, reviews: pd.DataFrame,
                  frame_index: int) -> pd.DataFrame:
    """The frame's reviewed answers: question, in force, the model's and who reviewed it."""
    by_key = {q.key: q for q in questions}
    said = {r.question_key: shown_value(by_key[r.question_key], r.number, r.text)
            for r in model[model["frame_index"] == frame_index].itertuples(index=False)
            if r.question_key in by_key}
    rows = []
    for r in reviews[reviews["frame_index"] == frame_index].itertuples(index=False):
        q = by_key.get(r.question_key)
        if q is None:
            continue
        value, given = shown_value(q, r.number, r.text), said.get(q.key)
        rows.append({"question": one_line(q.text, 120),
                     "reviewed": CANNOT_TELL_LABEL if value is None else str(value),
                     "model": CANNOT_TELL_LABEL if given is None else str(given),
                     "by": one_line(r.author, 100)})
    return pd.DataFrame(rows, columns=["question", "reviewed", "model", "by"])


def _value_input(q: Question, key: str) -> None:
    """The value widget for the question's type (its value read by _as_text)."""
    if q.type == "yes_no":
        st.radio("Right answer", [YES, NO, CANNOT_TELL], horizontal=True, key=key)
    elif q.type == "choice":
        st.selectbox("Right answer", [*q.choices, CANNOT_TELL], key=key)
    elif q.type in ("count", "score"):
        top = SCORE_MAX if q.type == "score" else None
        st.number_input("Right answer", min_value=0, max_value=top, step=1, value=None,
                        placeholder="cannot tell", key=key)
    elif q.type == "number":
        st.number_input("Right answer", value=None, placeholder="cannot tell", key=key)
    else:
        st.text_input("Right answer", placeholder="cannot_tell if it cannot be told", key=key)


def _as_text(q: Question, raw: object) -> str:
    """A value widget's value as the text the service checks ("" for an empty text)."""
    if q.type in ("count", "score"):
        return CANNOT_TELL if raw is None else str(int(raw))  # type: ignore[call-overload]
    if q.type == "number":
        return CANNOT_TELL if raw is None else repr(float(raw))  # type: ignore[arg-type]
    return "" if raw is None else str(raw)


def _keep_answer(by_key: dict[str, Question], analysis_id: str, t: float, right: bool) -> None:
    key = st.session_state.get(f"review_q_{analysis_id}")
    question = by_key.get(key) if isinstance(key, str) else None
    if question is None:
        return
    value = None if right else _as_text(
        question, st.session_state.get(f"review_value_{analysis_id}_{question.key}"))
    keep_asked(analysis_id, ReviewAnswer(t, question.key, value))


def answer_review_ui(questions: tuple[Question, ...], model: pd.DataFrame,
                     reviews: pd.DataFrame, frame_index: int, t: float,
                     analysis_id: str) -> ReviewAction | None:
    """The frame's reviews, and a control to mark the model right or set the right value."""
    here = reviewed_here(questions, model, reviews, frame_index)
    if not here.empty:
        st.caption("Reviewed on this frame (the reviewed answer wins everywhere):")
        st.dataframe(here, hide_index=True, width="stretch")
    with st.expander("Review an answer on this frame"):
        by_key = {q.key: q for q in questions}
        key = st.selectbox("Question", list(by_key), key=f"review_q_{analysis_id}",
                           format_func=lambda k: one_line(by_key[k].text, 100))
        _value_input(by_key[key], f"review_value_{analysis_id}_{key}")
        right, fix = st.columns(2)
        right.button("The model is right", key=f"review_right_{analysis_id}",
                     icon=":material/check:", width="stretch", on_click=_keep_answer,
                     args=(by_key, analysis_id, t, True))
        fix.button("Set this answer", key=f"review_set_{analysis_id}", icon=":material/edit:",
                   width="stretch", type="primary", on_click=_keep_answer,
                   args=(by_key, analysis_id, t, False))
    return take_asked(analysis_id)


def _keep_detection(analysis_id: str, frame_index: int, wrong: set[int]) -> None:
    chosen = st.session_state.get(f"review_detection_{analysis_id}_{frame_index}")
    if chosen is not None:
        keep_asked(analysis_id, ReviewDetection(int(chosen), wrong=int(chosen) not in wrong))


def detection_review_ui(detections: pd.DataFrame, wrong: set[int], analysis_id: str,
                        frame_index: int) -> ReviewAction | None:
    """The frame's Image Analysis detections: mark one wrong (or right again)."""
    if detections.empty:
        return None
    with st.expander(f"Review this frame's detections ({len(wrong & set(detections['id']))} "
                     "marked wrong)"):
        labels = {int(d.id): f"{'✗ ' if int(d.id) in wrong else ''}{one_line(d.kind, 20)}: "
                  f"{one_line(d.label, 80)}"
                  + ("" if pd.isna(d.confidence) else f" ({float(d.confidence):.2f})")
                  for d in detections.itertuples(index=False)}
        # Keyed by frame: another frame's detections are other options.
        chosen = st.selectbox("Detection", list(labels), format_func=lambda d: labels.get(d, ""),
                              key=f"review_detection_{analysis_id}_{frame_index}")
        now_wrong = chosen in wrong
        st.button("Mark right again" if now_wrong else "Mark wrong",
                  key=f"review_detection_go_{analysis_id}",
                  icon=":material/undo:" if now_wrong else ":material/close:",
                  on_click=_keep_detection, args=(analysis_id, frame_index, set(wrong)))
    return take_asked(analysis_id)


def agreement_ui(table: pd.DataFrame) -> None:
    """Per question, on the frames reviewed: how often the model agreed, and its mean error."""
    if table.empty or not int(table["reviewed"].sum()):
        st.caption("No answers reviewed yet: review some frames to see how far each question's "
                   "answers can be trusted.")
        return
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "share_agreed": st.column_config.ProgressColumn("share agreed", format="percent",
                                                        min_value=0.0, max_value=1.0),
        "mean_error": st.column_config.NumberColumn("mean error", format="%.2f")})
    st.caption("On the frames an analyst reviewed: how many, and on how many the model's answer "
               "was the reviewed one (mean error: counts, scores and numbers).")
