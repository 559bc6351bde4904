"""Search every analysis for a word: labels, OCR text, captions, and the text and choice answers
of Azure OpenAI analyses ("posture: kneeling", kind answer), answered as label segments.

Portable SQL only: `lower(column) LIKE :pattern` with the wildcards of the query escaped (SQL
Server also treats `[` as one), so the same statement runs on SQLite, PostgreSQL and Azure SQL.
A pattern with a leading wildcard cannot use a b-tree index, so the match is one scan of the
detection rows (and of the answer rows); the joins back to frames use the (analysis_id,
frame_index) indexes. The benchmark (bench/search.py) times it on 100 analyses and 60,000
detections.

An answer is found by its text: the answers of text and choice questions that kept the question's
rules (yes/no answers would match "no" everywhere; numbers have no words). It is labelled
"<question key>: <answer>", so a run of frames with the same answer is one segment, as in the
results page's answer segments; answers carry no confidence, so the minimum confidence passes
them all.

Case folding is the database's lower(): Unicode-aware on SQLite (services/db.py gives it one)
and on PostgreSQL with a UTF-8 locale (a C-locale database folds ASCII only); SQL Server's LOWER()
on NVARCHAR is expected to be, untested here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from services.domain import LABEL_KINDS, LabelKind
from services.insights.links import results_link
from services.insights.results import row_tuples
from services.insights.segments import HIT_COLUMNS, POSITION_COLUMNS, merge_runs
from services.models import Analysis, AnalysisQuestion, AnswerRow, Detection, Frame, Video

ESCAPE = "\\"
DEFAULT_LIMIT = 50
_FIRST_CHUNK = 8
_CHUNK = 200  # analyses per IN list at most: far below SQL Server's 2,100 parameters
TEXT_QUESTION_TYPES = ("text", "choice")  # the questions whose answers are words to find


@dataclass(frozen=True)
class SearchResult:
    """One segment that matched, with what a results list shows about it."""

    analysis_id: str
    video: str
    kind: str
    label: str
    start_s: float
    end_s: float
    frames: int
    max_confidence: float | None
    link: str
    thumbnail_key: str | None
    created_at: datetime

    def document(self) -> dict:
        """The fields `cli.py search` prints, one JSON object per segment."""
        doc = asdict(self)
        for private in ("thumbnail_key", "created_at"):
            doc.pop(private)
        return doc


def like_pattern(query: str) -> str:
    """`%query%`, lower-cased, with LIKE's wildcards (and the escape itself) escaped."""
    text = query.strip().lower()
    for special in (ESCAPE, "%", "_", "["):
        text = text.replace(special, ESCAPE + special)
    return f"%{text}%"


def _matches(column, pattern: str):
    return sa.func.lower(column).like(pattern, escape=ESCAPE)


def _hits(engine: Engine, pattern: str, kinds: tuple[str, ...],
          min_confidence: float) -> pd.DataFrame:
    """Detections and captions that match, at the minimum confidence (HIT_COLUMNS)."""
    queries = []
    detection_kinds = [k for k in kinds if k not in (LabelKind.caption, LabelKind.answer)]
    if detection_kinds:
        queries.append(
            sa.select(col(Detection.analysis_id), col(Detection.kind), col(Detection.label),
                      col(Detection.frame_index), col(Detection.confidence))
            .where(col(Detection.kind).in_(detection_kinds), _matches(Detection.label, pattern),
                   sa.or_(col(Detection.confidence).is_(None),
                          col(Detection.confidence) >= min_confidence))
        )
    if LabelKind.caption in kinds:
        queries.append(
            sa.select(col(Frame.analysis_id), sa.literal(LabelKind.caption.value, sa.String(20)),
                      col(Frame.caption), col(Frame.frame_index), col(Frame.caption_confidence))
            .where(col(Frame.caption).is_not(None), _matches(Frame.caption, pattern),
                   sa.or_(col(Frame.caption_confidence).is_(None),
                          col(Frame.caption_confidence) >= min_confidence))
        )
    rows: list[tuple] = []
    with engine.connect() as conn:
        for query in queries:
            rows += row_tuples(conn.execute(query))
        if LabelKind.answer in kinds:
            rows += [(aid, LabelKind.answer.value, f"{key}: {text}", frame_index, None)
                     for aid, key, text, frame_index in conn.execute(_answer_query(pattern))]
    return pd.DataFrame(rows, columns=HIT_COLUMNS)


def _answer_query(pattern: str):
    """(analysis id, question key, answer, frame index) of the matching text and choice answers
    that kept their question's rules."""
    question = sa.and_(col(AnalysisQuestion.analysis_id) == AnswerRow.analysis_id,
                       col(AnalysisQuestion.key) == AnswerRow.question_key)
    return (sa.select(col(AnswerRow.analysis_id), col(AnswerRow.question_key),
                      col(AnswerRow.text), col(AnswerRow.frame_index))
            .join(AnalysisQuestion, question)
            .where(col(AnalysisQuestion.type).in_(TEXT_QUESTION_TYPES),
                   col(AnswerRow.valid) == True,  # noqa: E712 - SQL, not Python
                   col(AnswerRow.text).is_not(None), _matches(AnswerRow.text, pattern)))


def _analyses(engine: Engine) -> list[tuple[str, datetime, str]]:
    """(analysis id, created at, video name) of every analysis, newest first."""
    query = (sa.select(col(Analysis.id), col(Analysis.created_at), col(Video.original_filename))
             .join(Video, col(Video.id) == Analysis.video_id)
             .order_by(col(Analysis.created_at).desc(), col(Analysis.id)))
    with engine.connect() as conn:
        return row_tuples(conn.execute(query))


def _positions(engine: Engine, analysis_ids: list[str]) -> pd.DataFrame:
    """POSITION_COLUMNS + thumbnail_key of the frames the remote analyser saw."""
    query = (sa.select(col(Frame.analysis_id), col(Frame.frame_index), col(Frame.timestamp_s),
                       col(Frame.thumbnail_key))
             .where(col(Frame.analysis_id).in_(analysis_ids),
                    col(Frame.remote_analysed) == True))  # noqa: E712 - SQL, not Python
    with engine.connect() as conn:
        rows = row_tuples(conn.execute(query))
    frames = pd.DataFrame(rows, columns=["analysis_id", "frame_index", "timestamp_s",
                                         "thumbnail_key"])
    frames = frames.sort_values(["analysis_id", "frame_index"])
    frames["position"] = frames.groupby("analysis_id").cumcount()
    return frames[[*POSITION_COLUMNS, "thumbnail_key"]]


def search(engine: Engine, query: str, *, public_url: str, min_confidence: float,
           kinds: tuple[str, ...] = LABEL_KINDS, limit: int = DEFAULT_LIMIT) -> list[SearchResult]:
    """Segments whose label, OCR text, caption or text answer contains `query` (any case),
    newest analyses first and in time order within one; at most `limit`. An empty query finds
    nothing."""
    if not query.strip() or limit < 1:
        return []
    unknown = [k for k in kinds if k not in LABEL_KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; choose from {', '.join(LABEL_KINDS)}")
    hits = _hits(engine, like_pattern(query), tuple(kinds), min_confidence)
    if hits.empty:
        return []
    hit_ids = set(hits["analysis_id"])
    newest = [row for row in _analyses(engine) if row[0] in hit_ids]
    results: list[SearchResult] = []
    start, size = 0, _FIRST_CHUNK if limit <= DEFAULT_LIMIT else _CHUNK
    while start < len(newest):
        # Newest analyses first, a few at a time (more each round): a common word fills a small
        # limit from the first ones, without reading the frames of every other analysis.
        chunk, start, size = newest[start:start + size], start + size, min(2 * size, _CHUNK)
        ids = [row[0] for row in chunk]
        where = _positions(engine, ids)
        found = merge_runs(hits[hits["analysis_id"].isin(ids)], where[POSITION_COLUMNS])
        thumbs = dict(zip(zip(where["analysis_id"], where["timestamp_s"], strict=True),
                          where["thumbnail_key"], strict=True))
        rank = {aid: i for i, aid in enumerate(ids)}
        found = found.assign(rank=found["analysis_id"].map(rank)).sort_values(
            ["rank", "start_s", "kind", "label"], kind="stable")
        about = {row[0]: row for row in chunk}
        for seg in found.itertuples(index=False):
            _, created_at, video = about[seg.analysis_id]
            results.append(SearchResult(
                analysis_id=seg.analysis_id, video=video, kind=seg.kind, label=seg.label,
                start_s=float(seg.start_s), end_s=float(seg.end_s), frames=int(seg.frames),
                max_confidence=None if pd.isna(seg.max_confidence) else float(seg.max_confidence),
                link=results_link(public_url, seg.analysis_id, seg.start_s),
                thumbnail_key=thumbs.get((seg.analysis_id, seg.start_s)),
                created_at=created_at,
            ))
            if len(results) >= limit:
                return results
    return results
