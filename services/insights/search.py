"""Search every analysis for a word: labels, OCR text, captions, and the text and choice answers
of Azure OpenAI analyses ("posture: kneeling", kind answer), answered as label segments.

Portable SQL only: `lower(column) LIKE :pattern` with the wildcards of the query escaped (SQL
Server also treats `[` as one), so the same statement runs on SQLite, PostgreSQL and Azure SQL.
A pattern with a leading wildcard cannot use a b-tree index, so the match is one scan of the
detection rows (and of the answer rows); the joins back to frames use the (analysis_id,
frame_index) indexes. The benchmark (bench/search.py) times it on 100 analyses and 60,000
detections.

An answer is found by its text as it is in force: an analyst's reviewed value wins over the
model's (services/review/corrections.py, the newest correction per answer). The answers of text
and choice questions that kept the question's rules (yes/no answers would match "no" everywhere;
numbers have no words). It is labelled
"<question key>: <answer>", so a run of frames with the same answer is one segment, as in the
results page's answer segments; answers carry no confidence, so the minimum confidence passes
them all. Notes (kind note) are found by their text or what they are about, one result per note at
its moment, its link opening the results page with the note highlighted.

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
from sqlalchemy.orm import aliased
from sqlmodel import col

from services.domain import SEARCH_KINDS, LabelKind
from services.insights.links import results_link
from services.insights.results import row_tuples
from services.insights.segments import HIT_COLUMNS, POSITION_COLUMNS, merge_runs
from services.models import Analysis, AnalysisQuestion, AnswerRow, Detection, Frame, Video
from services.review.models import Correction, Note

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
    author: str | None = None  # a note's


    def document(self) -> dict:
        """The fields `cli.py search` prints, one JSON object per segment."""
        doc = asdict(self)
        for private in ("thumbnail_key", "created_at"):
            doc.pop(private)
        if self.author is None:  # only a note has one
            doc.pop("author")
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
            for query in (_answer_query(pattern), _reviewed_query(pattern)):
                rows += [(aid, LabelKind.answer.value, f"{key}: {text}", frame_index, None)
                         for aid, key, text, frame_index in conn.execute(query)]
    return pd.DataFrame(rows, columns=HIT_COLUMNS)


def _text_question(table):
    return sa.and_(col(AnalysisQuestion.analysis_id) == table.analysis_id,
                   col(AnalysisQuestion.key) == table.question_key,
                   col(AnalysisQuestion.type).in_(TEXT_QUESTION_TYPES))


def _answer_query(pattern: str):
    """(analysis id, question key, answer, frame index) of the matching text and choice answers
    that kept their question's rules, and that no analyst reviewed."""
    reviewed = sa.exists().where(col(Correction.analysis_id) == AnswerRow.analysis_id,
                                 col(Correction.frame_index) == AnswerRow.frame_index,
                                 col(Correction.question_key) == AnswerRow.question_key)
    return (sa.select(col(AnswerRow.analysis_id), col(AnswerRow.question_key),
                      col(AnswerRow.text), col(AnswerRow.frame_index))
            .join(AnalysisQuestion, _text_question(AnswerRow))
            .where(col(AnswerRow.valid) == True,  # noqa: E712 - SQL, not Python
                   col(AnswerRow.text).is_not(None), _matches(AnswerRow.text, pattern),
                   ~reviewed))


def _reviewed_query(pattern: str):
    """The same of the reviewed answers: the newest correction of each answer, when it matches."""
    newer = aliased(Correction)
    replaced = sa.exists().where(col(newer.analysis_id) == Correction.analysis_id,
                                 col(newer.frame_index) == Correction.frame_index,
                                 col(newer.question_key) == Correction.question_key,
                                 col(newer.id) > Correction.id)
    return (sa.select(col(Correction.analysis_id), col(Correction.question_key),
                      col(Correction.text), col(Correction.frame_index))
            .join(AnalysisQuestion, _text_question(Correction))
            .where(col(Correction.text).is_not(None), _matches(Correction.text, pattern),
                   ~replaced))


def _notes(engine: Engine, pattern: str, public_url: str, limit: int) -> list[SearchResult]:
    """The notes (not deleted) whose text or topic matches, newest analyses first."""
    query = (sa.select(col(Note.id), col(Note.analysis_id), col(Note.at_s), col(Note.text),
                       col(Note.author), col(Video.original_filename), col(Analysis.created_at))
             .join(Analysis, col(Analysis.id) == Note.analysis_id)
             .join(Video, col(Video.id) == Analysis.video_id)
             .where(col(Note.deleted) == sa.false(),
                    sa.or_(_matches(Note.text, pattern), _matches(Note.about, pattern)))
             .order_by(col(Analysis.created_at).desc(), col(Analysis.id), col(Note.at_s))
             .limit(limit))
    with engine.connect() as conn:
        rows = row_tuples(conn.execute(query))
    return [SearchResult(analysis_id=aid, video=video, kind=LabelKind.note.value, label=text,
                         start_s=float(at), end_s=float(at), frames=0, max_confidence=None,
                         link=results_link(public_url, aid, at, note=note_id),
                         thumbnail_key=None, created_at=created, author=author)
            for note_id, aid, at, text, author, video, created in rows]


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
           kinds: tuple[str, ...] = SEARCH_KINDS, limit: int = DEFAULT_LIMIT
           ) -> list[SearchResult]:
    """Segments whose label, OCR text, caption or text answer contains `query` (any case), and
    notes that do, newest analyses first and in time order within one; at most `limit`. An empty
    query finds nothing."""
    if not query.strip() or limit < 1:
        return []
    unknown = [k for k in kinds if k not in SEARCH_KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; choose from {', '.join(SEARCH_KINDS)}")
    labels = _labels(engine, query, public_url, min_confidence, kinds, limit)
    if LabelKind.note not in kinds:
        return labels
    notes = _notes(engine, like_pattern(query), public_url, limit)
    # Both lists are in this order and each holds its first `limit`: so does the merge.
    return sorted(labels + notes, key=lambda r: (-r.created_at.timestamp(), r.analysis_id,
                                                 r.start_s))[:limit]


def _labels(engine: Engine, query: str, public_url: str, min_confidence: float,
            kinds: tuple[str, ...], limit: int) -> list[SearchResult]:
    """The label segments search finds (every kind but notes)."""
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
