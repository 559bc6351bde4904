"""Compare two analyses: their settings, summary metrics, each label's share of frames, and the
means of the local statistics, at one minimum confidence.

A label's share is the fraction of the analysis's frames that the remote analyser saw (every
sampled frame, unless adaptive sampling kept some back) in which it was found at or above the
minimum confidence. A label found in only one analysis is marked `only` "a" or "b".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import pandas as pd
from sqlalchemy.engine import Engine

from services.analysis.jobs import get_analysis
from services.domain import LABEL_KINDS
from services.insights.answers import load_answers, load_model_answers
from services.insights.compare_answers import AnswerSide, QuestionComparison, compare_answers
from services.insights.exports import analysis_document, settings_document
from services.insights.results import load_detections, load_frames
from services.insights.segments import label_hits
from services.insights.summary import Summary, summarise
from services.library import get_video
from services.models import Analysis, Video
from services.question_sets import load_questions
from services.review.agreement import agreement
from services.review.corrections import load_reviews

STATISTICS = ("brightness", "contrast", "sharpness", "colourfulness", "motion")


class CompareError(ValueError):
    """An analysis to compare does not exist; the message names which."""


def _mean(series: pd.Series) -> float | None:
    value = series.astype(float).mean()
    return None if pd.isna(value) else round(float(value), 6)


def label_shares(frames: pd.DataFrame, detections: pd.DataFrame,
                 min_confidence: float) -> pd.Series:
    """Share of the remotely analysed frames showing each (kind, label), indexed by both."""
    analysed = int(frames["remote_analysed"].fillna(False).astype(bool).sum())
    hits = label_hits(frames, detections, min_confidence)
    hits = hits.dropna(subset=["label"])
    if not analysed or hits.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=["kind", "label"]))
    hits = hits.astype({"label": str})
    counts = hits.groupby(["kind", "label"])["frame_index"].nunique()
    return counts / analysed


@dataclass(frozen=True)
class Side:
    """One analysis of the two: its video, settings (as the insights JSON has them), summary."""

    analysis_id: str
    video: str  # the video's file name
    duration_s: float
    status: str
    created_at: str | None  # ISO 8601
    settings: dict
    summary: Summary


@dataclass(frozen=True)
class LabelShare:
    """A (kind, label)'s share of each analysis's remotely analysed frames."""

    kind: str
    label: str
    share_a: float
    share_b: float
    only: Literal["a", "b"] | None  # found in one analysis only


@dataclass(frozen=True)
class StatisticMeans:
    """A local statistic's mean over each analysis's frames (None without frames)."""

    name: str
    mean_a: float | None
    mean_b: float | None


@dataclass(frozen=True)
class Comparison:
    """Two analyses side by side at one minimum confidence."""

    min_confidence: float
    a: Side
    b: Side
    labels: list[LabelShare]
    statistics: list[StatisticMeans]
    questions: list[QuestionComparison] = field(default_factory=list)  # Azure OpenAI analyses

    def document(self) -> dict:
        """As `cli.py compare` prints it: plain JSON values, in the fields' order."""
        return asdict(self)


def side(analysis: Analysis, video: Video, frames: pd.DataFrame, detections: pd.DataFrame,
         min_confidence: float) -> Side:
    doc = analysis_document(analysis)
    return Side(
        analysis_id=analysis.id, video=video.original_filename, duration_s=video.duration_s,
        status=doc["status"], created_at=doc["created_at"], settings=settings_document(analysis),
        summary=summarise(analysis, frames, detections, min_confidence),
    )


def _kind_rank(kind: str) -> int:
    return LABEL_KINDS.index(kind) if kind in LABEL_KINDS else len(LABEL_KINDS)


def compare_rows(a: tuple[Analysis, Video, pd.DataFrame, pd.DataFrame],
                 b: tuple[Analysis, Video, pd.DataFrame, pd.DataFrame],
                 min_confidence: float,
                 answers: tuple[AnswerSide, AnswerSide] | None = None) -> Comparison:
    """The comparison of both analyses' rows (its document is what `cli.py compare` prints),
    with their answers question by question when either asked questions."""
    shares_a = label_shares(a[2], a[3], min_confidence)
    shares_b = label_shares(b[2], b[3], min_confidence)
    keys = sorted(set(shares_a.index) | set(shares_b.index),
                  key=lambda k: (_kind_rank(k[0]),
                                 -max(shares_a.get(k, 0.0), shares_b.get(k, 0.0)), k[1]))
    labels = []
    for kind, label in keys:
        in_a, in_b = (kind, label) in shares_a.index, (kind, label) in shares_b.index
        labels.append(LabelShare(
            kind=kind, label=label,
            share_a=round(float(shares_a.get((kind, label), 0.0)), 6),
            share_b=round(float(shares_b.get((kind, label), 0.0)), 6),
            only=None if in_a and in_b else ("a" if in_a else "b"),
        ))
    statistics = [StatisticMeans(name, _mean(a[2][name]), _mean(b[2][name]))
                  for name in STATISTICS]
    statistics.append(StatisticMeans("black_share", _mean(a[2]["is_black"].fillna(False)),
                                     _mean(b[2]["is_black"].fillna(False))))
    questions = compare_answers(*answers) if answers and (answers[0].questions
                                                           or answers[1].questions) else []
    return Comparison(min_confidence, side(*a, min_confidence), side(*b, min_confidence),
                      labels, statistics, questions)


def load(engine: Engine, analysis_id: str, which: str):
    """(analysis, video, frames, detections) of one analysis; CompareError when it is missing."""
    analysis = get_analysis(engine, analysis_id)
    video = get_video(engine, analysis.video_id) if analysis else None
    if analysis is None or video is None:
        raise CompareError(f"no analysis with id {analysis_id} (analysis {which})")
    return analysis, video, load_frames(engine, analysis.id), load_detections(engine, analysis.id)


def compare(engine: Engine, a_id: str, b_id: str, min_confidence: float) -> Comparison:
    """Both analyses at this minimum confidence, and their answers question by question."""
    a, b = load(engine, a_id, "A"), load(engine, b_id, "B")
    return compare_rows(a, b, min_confidence,
                        (answer_side(engine, a), answer_side(engine, b)))


def answer_side(engine: Engine, rows: tuple[Analysis, Video, pd.DataFrame, pd.DataFrame],
                answers: pd.DataFrame | None = None) -> AnswerSide:
    """An analysis's questions and answers for compare_rows (answers read unless given)."""
    analysis, video, frames, _ = rows
    questions = load_questions(engine, analysis.id)
    found = agreement(questions, load_model_answers(engine, analysis.id),
                      load_reviews(engine, analysis.id)) if questions else None
    return AnswerSide(questions,
                      load_answers(engine, analysis.id) if answers is None else answers,
                      frames, video.sha256, found)
