"""Two analyses' answers side by side, question by question: each one's summary (share of yes,
mean, frames per choice) and, when both ran on the same video, how often they agreed on the
same moment.

Questions are matched by key and type (a question whose type changed is another question).
Agreement counts the moments both analyses sampled (the same timestamp, to the millisecond) and
both answered within the rules: the same yes/no, choice, text (ignoring case and spaces) or
number. Cannot tell and invalid answers are left out; `compared` says how many moments counted.
Answers are those in force (a reviewed value wins); each side's summary adds `reviewed` and
`agreed`: on how many reviewed frames the model's answer was the reviewed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from services.insights.answers import question_summary
from services.questions import Question


@dataclass(frozen=True)
class AnswerSide:
    """One analysis's questions, answers (ANSWER_COLUMNS) and frames (frame_index, timestamp_s),
    and the content hash of its video."""

    questions: tuple[Question, ...]
    answers: pd.DataFrame
    frames: pd.DataFrame
    video_sha256: str
    agreement: dict[str, dict[str, object]] | None = None  # services.review.agreement, by key


@dataclass(frozen=True)
class QuestionComparison:
    key: str
    text: str
    type: str
    asked_by: Literal["both", "a", "b"]
    summary_a: dict | None
    summary_b: dict | None
    compared: int  # moments both answered within the rules (same video only)
    agreed: int
    agreement: float | None  # agreed / compared; None when nothing could be compared


def _said(side: AnswerSide, q: Question) -> pd.Series:
    """The answers that say something within the rules, by moment (ms): text or number."""
    mine = side.answers[side.answers["question_key"] == q.key]
    kept = mine[mine["valid"].fillna(True).astype(bool)]
    times = side.frames.set_index(side.frames["frame_index"].astype(int))["timestamp_s"]
    moments = kept["frame_index"].astype(int).map(times).astype(float).mul(1000).round()
    if q.type in ("count", "score", "number"):
        values = kept["number"].astype(float)
    else:
        values = kept["text"].map(lambda v: " ".join(str(v).split()).casefold()
                                  if isinstance(v, str) else None)
    said = pd.Series(values.to_numpy(), index=moments.to_numpy())
    return said[said.notna()]


def compare_answers(a: AnswerSide, b: AnswerSide) -> list[QuestionComparison]:
    """Every question of either analysis, A's order first, then B's own."""
    by_a = {(q.key, q.type): q for q in a.questions}
    by_b = {(q.key, q.type): q for q in b.questions}
    keys = list(by_a) + [k for k in by_b if k not in by_a]
    same_video = a.video_sha256 == b.video_sha256
    out = []
    for key in keys:
        qa, qb = by_a.get(key), by_b.get(key)
        q = qa or qb
        assert q is not None
        compared = agreed = 0
        if qa is not None and qb is not None and same_video:
            said_a, said_b = _said(a, qa), _said(b, qb)
            both = said_a.index.intersection(said_b.index)
            compared = len(both)
            agreed = int((said_a.loc[both].to_numpy() == said_b.loc[both].to_numpy()).sum())
        out.append(QuestionComparison(
            key=q.key, text=q.text, type=q.type,
            asked_by="both" if qa and qb else ("a" if qa else "b"),
            summary_a=_summary_of(a, qa), summary_b=_summary_of(b, qb),
            compared=compared, agreed=agreed,
            agreement=round(agreed / compared, 6) if compared else None))
    return out


def _summary_of(side: AnswerSide, q: Question | None) -> dict | None:
    if q is None:
        return None
    summary = question_summary(q, side.answers[side.answers["question_key"] == q.key])
    return {**summary, **(side.agreement or {}).get(q.key, {})}
