"""Corrections of the model's answers: an analyst marks a frame's answer right, or sets the right
value; for Image Analysis, marks a detection wrong (or right again).

Rows are only added. The newest correction of an answer (analysis, frame, question) is in force,
the earlier ones stay as its history: two analysts correcting the same answer at once both keep
their row, and the later id wins. "Right" copies the model's value, so every correction in force
holds the value that wins over the model's (the answer in force: reviewed value, else model's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from services.db import database_errors, session_scope, with_retry
from services.models import AnswerRow, Detection, Frame, utcnow
from services.question_sets import load_questions
from services.questions import CANNOT_TELL, MAX_ANSWER_TEXT, NO, SCORE_MAX, YES, Question
from services.review.base import ReviewError, author_name, checked_moment
from services.review.models import Correction

RIGHT, VALUE, WRONG = "right", "value", "wrong"
REVIEW_COLUMNS = ["frame_index", "question_key", "verdict", "number", "text", "author",
                  "created_at"]
DETECTION_REVIEW_COLUMNS = ["frame_index", "detection_id", "verdict", "author", "created_at"]


@dataclass(frozen=True)
class Reviewed:
    """A correction as stored: the frame it landed on and the value now in force."""

    id: int
    frame_index: int
    timestamp_s: float
    question_key: str | None
    detection_id: int | None
    verdict: str
    number: float | None
    text: str | None
    author: str


def parse_value(question: Question, raw: str) -> tuple[float | None, str | None]:
    """An analyst's value for a question as (number, text), as the model's are stored;
    `cannot_tell` is a value too. ReviewError saying what the question takes."""
    value = " ".join(str(raw).split())
    if value.lower() == CANNOT_TELL:
        return None, None
    if question.type == "yes_no":
        if value.lower() not in (YES, NO):
            raise ReviewError(f"{question.key} takes yes, no or {CANNOT_TELL}, not {value[:30]!r}")
        return (1.0 if value.lower() == YES else 0.0), value.lower()
    if question.type == "choice":
        if value not in question.choices:
            raise ReviewError(f"{question.key} takes one of {', '.join(question.choices)} or "
                              f"{CANNOT_TELL}, not {value[:30]!r}")
        return None, value
    if question.type == "text":
        if not value:
            raise ReviewError(f"{question.key} needs a text (or {CANNOT_TELL})")
        return None, value[:MAX_ANSWER_TEXT]
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    whole = math.isfinite(number) and number.is_integer()
    if question.type == "count" and not (whole and number >= 0):
        raise ReviewError(f"{question.key} takes a whole number, 0 or more, not {value[:30]!r}")
    if question.type == "score" and not (whole and 0 <= number <= SCORE_MAX):
        raise ReviewError(f"{question.key} takes a whole number from 0 to {SCORE_MAX}, "
                          f"not {value[:30]!r}")
    if not math.isfinite(number):
        raise ReviewError(f"{question.key} takes a number, not {value[:30]!r}")
    return number, None


def frame_at(engine: Engine, analysis_id: str, at_s: float) -> tuple[int, float]:
    """(frame index, timestamp) of the analysed frame nearest `at_s`; ReviewError if none."""
    at = checked_moment(engine, analysis_id, at_s)
    query = (sa.select(col(Frame.frame_index), col(Frame.timestamp_s))
             .where(col(Frame.analysis_id) == analysis_id,
                    col(Frame.remote_analysed) == sa.true())
             .order_by(sa.func.abs(col(Frame.timestamp_s) - at), col(Frame.frame_index))
             .limit(1))
    with engine.connect() as conn:
        found = conn.execute(query).first()
    if found is None:
        raise ReviewError("the analysis has no analysed frame to review")
    return int(found[0]), float(found[1])


def _question(engine: Engine, analysis_id: str, key: str) -> Question:
    questions = load_questions(engine, analysis_id)
    by_key = {q.key: q for q in questions}
    if key not in by_key:
        if not questions:
            raise ReviewError("this analysis asked no questions")
        raise ReviewError(f"no question {str(key)[:50]!r}; the analysis asked "
                          + ", ".join(by_key))
    return by_key[key]


def _model_answer(engine: Engine, analysis_id: str, frame_index: int,
                  key: str) -> tuple[float | None, str | None] | None:
    query = sa.select(col(AnswerRow.number), col(AnswerRow.text)).where(
        col(AnswerRow.analysis_id) == analysis_id, col(AnswerRow.frame_index) == frame_index,
        col(AnswerRow.question_key) == key)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else (row[0], row[1])


def _store(engine: Engine, row: Correction, timestamp_s: float) -> Reviewed:
    def add() -> Reviewed:
        with session_scope(engine) as session:
            session.add(row)
            session.flush()
            session.refresh(row)
            assert row.id is not None
            return Reviewed(row.id, row.frame_index, timestamp_s, row.question_key,
                            row.detection_id, row.verdict, row.number, row.text, row.author)

    with database_errors("storing the correction"):
        return with_retry(add)


def review_answer(engine: Engine, analysis_id: str, at_s: float, key: str, author: str, *,
                  value: str | None = None) -> Reviewed:
    """Review the answer to question `key` on the analysed frame nearest `at_s`: with `value`,
    set the right value (checked against the question's type); without, mark the model right."""
    who = author_name(author)
    question = _question(engine, analysis_id, key)
    frame_index, timestamp_s = frame_at(engine, analysis_id, at_s)
    if value is None:
        given = _model_answer(engine, analysis_id, frame_index, key)
        if given is None:
            raise ReviewError(f"the model gave no answer to {key} at {timestamp_s:g} s; "
                              "set the value instead")
        verdict, (number, text) = RIGHT, given
    else:
        verdict, (number, text) = VALUE, parse_value(question, value)
    return _store(engine, Correction(analysis_id=analysis_id, frame_index=frame_index,
                                     question_key=key, verdict=verdict, number=number,
                                     text=text, author=who, created_at=utcnow()), timestamp_s)


def review_detection(engine: Engine, analysis_id: str, detection_id: int, author: str, *,
                     wrong: bool = True) -> Reviewed:
    """Mark one detection of an Image Analysis result wrong (or right again)."""
    who = author_name(author)
    query = (sa.select(col(Detection.frame_index), col(Frame.timestamp_s))
             .join(Frame, sa.and_(col(Frame.analysis_id) == Detection.analysis_id,
                                  col(Frame.frame_index) == Detection.frame_index))
             .where(col(Detection.analysis_id) == analysis_id, col(Detection.id) == detection_id))
    with engine.connect() as conn:
        found = conn.execute(query).first()
    if found is None:
        raise ReviewError(f"no detection {detection_id} in this analysis")
    return _store(engine, Correction(analysis_id=analysis_id, frame_index=int(found[0]),
                                     detection_id=int(detection_id),
                                     verdict=WRONG if wrong else RIGHT, author=who,
                                     created_at=utcnow()), float(found[1]))


def frame_detections(engine: Engine, analysis_id: str, frame_index: int) -> pd.DataFrame:
    """The frame's detections with their ids (id, kind, label, confidence), to review them."""
    query = (sa.select(col(Detection.id), col(Detection.kind), col(Detection.label),
                       col(Detection.confidence))
             .where(col(Detection.analysis_id) == analysis_id,
                    col(Detection.frame_index) == frame_index)
             .order_by(col(Detection.id)))
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    return pd.DataFrame(rows, columns=["id", "kind", "label", "confidence"])


def _newest(engine: Engine, analysis_id: str, target) -> pd.DataFrame:
    """Every correction of the analysis of one kind (answers or detections), newest last."""
    query = (sa.select(col(Correction.id), col(Correction.frame_index),
                       col(Correction.question_key), col(Correction.detection_id),
                       col(Correction.verdict), col(Correction.number), col(Correction.text),
                       col(Correction.author), col(Correction.created_at))
             .where(col(Correction.analysis_id) == analysis_id, target)
             .order_by(col(Correction.id)))
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    return pd.DataFrame(rows, columns=["id", *REVIEW_COLUMNS[:2], "detection_id",
                                       *REVIEW_COLUMNS[2:]])


def load_reviews(engine: Engine, analysis_id: str) -> pd.DataFrame:
    """The answer corrections in force (REVIEW_COLUMNS): the newest per frame and question."""
    rows = _newest(engine, analysis_id, col(Correction.question_key).is_not(None))
    rows = rows.drop_duplicates(["frame_index", "question_key"], keep="last")
    return rows[REVIEW_COLUMNS].astype({"frame_index": "Int64"}).reset_index(drop=True)


def review_history(engine: Engine, analysis_id: str) -> pd.DataFrame:
    """Every correction of the analysis, answers and detections, oldest first."""
    return _newest(engine, analysis_id, sa.true()).drop(columns=["id"])


def wrong_detections(engine: Engine, analysis_id: str) -> set[int]:
    """Ids of the detections whose correction in force marks them wrong."""
    rows = _newest(engine, analysis_id, col(Correction.detection_id).is_not(None))
    rows = rows.drop_duplicates(["detection_id"], keep="last")
    return {int(d) for d in rows.loc[rows["verdict"] == WRONG, "detection_id"]}


def in_force(model: pd.DataFrame, reviews: pd.DataFrame) -> pd.DataFrame:
    """The answers in force (the model's columns: frame_index, question_key, number, text,
    valid): a reviewed value replaces the model's answer (or adds one), valid by definition."""
    if reviews.empty:
        return model
    reviewed = reviews[["frame_index", "question_key", "number", "text"]].assign(valid=True)
    keys = pd.MultiIndex.from_frame(reviewed[["frame_index", "question_key"]].astype(object))
    mine = pd.MultiIndex.from_frame(model[["frame_index", "question_key"]].astype(object))
    kept = model[~mine.isin(keys)]
    out = pd.concat([kept, reviewed.astype({"valid": "boolean"})], ignore_index=True) \
        if not kept.empty else reviewed.astype({"valid": "boolean"})
    out = out.astype({"frame_index": "Int64", "valid": "boolean"})
    return out.sort_values(["frame_index"], kind="stable").reset_index(drop=True)[model.columns]


def reviews_stamp(engine: Engine, analysis_id: str) -> str:
    """Changes whenever a correction of the analysis is added (a cache key)."""
    query = sa.select(sa.func.count(), sa.func.max(col(Correction.id))).where(
        col(Correction.analysis_id) == analysis_id)
    with engine.connect() as conn:
        count, newest = conn.execute(query).one()
    return f"{count}:{newest}"
