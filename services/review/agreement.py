"""How far to trust each question: on the frames an analyst reviewed, how often the model's answer
agreed with the answer in force, and for counts, scores and numbers the mean error.

The model agreed when its answer kept the question's rules and says the same: the same yes/no,
choice or number, the same text ignoring case and spaces, or both cannot tell. An answer the
model broke the rules with, or did not give, disagrees.
"""

from __future__ import annotations

import math

import pandas as pd

from services.questions import Question

NUMERIC_TYPES = ("count", "score", "number")


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def _same(question: Question, model: tuple, reviewed: tuple) -> bool:
    (m_number, m_text, m_valid), (r_number, r_text) = model, reviewed
    if _missing(m_valid) or not bool(m_valid):
        return False
    if question.type in NUMERIC_TYPES:
        if _missing(m_number) or _missing(r_number):
            return _missing(m_number) and _missing(r_number)
        return math.isclose(float(m_number), float(r_number), abs_tol=1e-9)
    if _missing(m_text) or _missing(r_text):
        return _missing(m_text) and _missing(r_text)
    if question.type == "text":
        return " ".join(str(m_text).lower().split()) == " ".join(str(r_text).lower().split())
    return str(m_text) == str(r_text)


def question_agreement(question: Question, model: pd.DataFrame,
                       reviews: pd.DataFrame) -> dict[str, object]:
    """{reviewed, agreed} for one question (and mean_error for a numeric one), from the model's
    answers and the corrections in force (services.review.corrections.load_reviews)."""
    mine = reviews[reviews["question_key"] == question.key]
    given = model[model["question_key"] == question.key]
    by_frame = {int(f): (n, t, v) for f, n, t, v in
                given[["frame_index", "number", "text", "valid"]].itertuples(index=False)}
    agreed, errors = 0, []
    for frame_index, number, text in mine[["frame_index", "number", "text"]].itertuples(
            index=False):
        answer = by_frame.get(int(frame_index), (None, None, False))
        agreed += _same(question, answer, (number, text))
        if question.type in NUMERIC_TYPES and not _missing(answer[0]) and not _missing(number):
            errors.append(abs(float(answer[0]) - float(number)))
    out: dict[str, object] = {"reviewed": len(mine), "agreed": int(agreed)}
    if question.type in NUMERIC_TYPES:
        out["mean_error"] = round(sum(errors) / len(errors), 6) if errors else None
    return out


def agreement(questions: tuple[Question, ...], model: pd.DataFrame,
              reviews: pd.DataFrame) -> dict[str, dict[str, object]]:
    """Each question's agreement, by key, in the order asked."""
    return {q.key: question_agreement(q, model, reviews) for q in questions}


def agreement_table(questions: tuple[Question, ...], model: pd.DataFrame,
                    reviews: pd.DataFrame) -> pd.DataFrame:
    """One row per question: key, reviewed, agreed, the share agreed and the mean error."""
    rows = []
    for key, found in agreement(questions, model, reviews).items():
        reviewed, agreed = int(found["reviewed"]), int(found["agreed"])  # type: ignore[call-overload]
        rows.append({"question": key, "reviewed": reviewed, "agreed": agreed,
                     "share_agreed": round(agreed / reviewed, 4) if reviewed else None,
                     "mean_error": found.get("mean_error")})
    return pd.DataFrame(rows, columns=["question", "reviewed", "agreed", "share_agreed",
                                       "mean_error"])
