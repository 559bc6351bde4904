"""Exports at one minimum confidence, the same from the results page and the CLI.

frames.csv, detections.csv and segments.csv, the insights JSON (one document holding the
video, the analysis settings, every frame with its detections, and the segments; its schema is
in the README), notes.csv (the analysts' notes; the JSON holds them too) and, for an Azure OpenAI
analysis, answers.csv (and the JSON adds each frame's answers in force and the model's, each
question with its summary and agreement, and the tokens and their cost): services.domain.Export
names them. Each takes the rows already loaded, so the page reuses what it has drawn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from services.domain import Export
from services.insights.results import (
    DETECTION_COLUMNS,
    FRAME_TABLE_COLUMNS,
    TAG_SEPARATOR,
    detections_table,
    frames_table,
    load_detections,
    load_frames,
)
from services.insights.segments import SEGMENT_COLUMNS, segments
from services.library import get_video
from services.models import Analysis, Video

if TYPE_CHECKING:
    import pandas as pd

    from services.insights.answers import Answered
    from services.review.notes import NoteView
    from services.vision.openai_tokens import Prices

# pandas takes about 0.25 s to import: the functions that make tables import it, so importing
# this module alone stays cheap (a fresh import of the services is timed by bench/startup.py).

FRAMES_CSV_COLUMNS = FRAME_TABLE_COLUMNS
DETECTIONS_CSV_COLUMNS = DETECTION_COLUMNS
SEGMENTS_CSV_COLUMNS = SEGMENT_COLUMNS
INSIGHTS_SCHEMA = "framewise.insights/1"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header row; missing values are empty cells."""
    import pandas as pd

    table = table.copy()
    for col in table.columns:
        if table[col].dtype == object or pd.api.types.is_string_dtype(table[col]):
            table[col] = table[col].map(_inert)
    return table.to_csv(index=False, na_rep="").encode("utf-8")


def frames_csv(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float) -> bytes:
    return to_csv(frames_table(frames, detections, min_confidence))


def detections_csv(detections: pd.DataFrame, min_confidence: float) -> bytes:
    return to_csv(detections_table(detections, min_confidence))  # DETECTIONS_CSV_COLUMNS


def all_segments(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float,
                 answered: Answered | None = None) -> pd.DataFrame:
    """The label segments at the minimum confidence and, for an analysis that asked questions,
    its answers' runs (kind "answer", at the default thresholds), as the results page lists
    them."""
    import pandas as pd

    from services.insights.answers import answer_segments

    labels = segments(frames, detections, min_confidence)
    if answered is None:
        return labels
    runs = answer_segments(answered.questions, frames, answered.answers)
    return pd.concat([labels, runs], ignore_index=True) if not labels.empty else runs


def segments_csv(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float,
                 answered: Answered | None = None) -> bytes:
    return to_csv(all_segments(frames, detections, min_confidence, answered))


def answers_csv(answered: Answered, frames: pd.DataFrame) -> bytes:
    """answers.csv: one row per analysed frame, frame_index, timestamp_s, a column per question
    key and `invalid` (the keys whose answers broke their question's rules)."""
    return to_csv(answered.table(frames))


NOTES_CSV_COLUMNS = ["id", "at_s", "about", "text", "author", "created_at", "updated_at"]


def notes_document(notes: Iterable[NoteView]) -> list[dict]:
    """The analysts' notes (not deleted), in time order: the insights JSON's "notes"."""
    return [{c: _plain(getattr(n, c)) for c in NOTES_CSV_COLUMNS} for n in notes]


def notes_csv(notes: Iterable[NoteView]) -> bytes:
    """notes.csv: one row per note, in time order."""
    import pandas as pd

    return to_csv(pd.DataFrame(notes_document(notes), columns=NOTES_CSV_COLUMNS))


def _plain(value):
    """A JSON value: None for missing numbers, ISO 8601 for times, Python ints and floats."""
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(table: pd.DataFrame) -> list[dict]:
    columns = list(table.columns)
    return [{c: _plain(v) for c, v in zip(columns, row, strict=True)}
            for row in table.itertuples(index=False, name=None)]


def video_document(video: Video) -> dict:
    return {
        "id": video.id, "file_name": video.original_filename, "duration_s": video.duration_s,
        "fps": video.fps, "width": video.width, "height": video.height, "codec": video.codec,
        "rotation": video.rotation, "size_bytes": video.size_bytes, "sha256": video.sha256,
        "uploaded_by": video.uploaded_by, "uploaded_at": _plain(video.uploaded_at),
    }


def settings_document(analysis: Analysis) -> dict:
    """The settings an analysis ran with (what decides its results)."""
    return {
        "analyzer": analysis.analyzer,
        "features": list(analysis.parsed_features),
        "sample_fps": analysis.sample_fps, "max_frames": analysis.max_frames,
        "adaptive": analysis.adaptive,
    }


def analysis_document(analysis: Analysis) -> dict:
    return {
        "id": analysis.id, "status": str(analysis.status), **settings_document(analysis),
        "frames_planned": analysis.frames_planned, "frames_done": analysis.frames_done,
        "transactions": analysis.transactions, "truncated": analysis.truncated,
        "error_message": analysis.error_message, "created_by": analysis.created_by,
        "created_at": _plain(analysis.created_at), "started_at": _plain(analysis.started_at),
        "finished_at": _plain(analysis.finished_at),
    }


def _add_answers(doc: dict, analysis: Analysis, frames: pd.DataFrame,
                 answered: Answered) -> None:
    """Each frame's answers (null for a frame not analysed) and the keys whose answers broke
    the rules; each question with its summary; the tokens counted and their cost."""
    from services.insights.answers import questions_document, usage_document

    keys = [q.key for q in answered.questions]
    table = answered.table(frames)
    given = {row["frame_index"]: row for row in _records(table)}
    reviewed = answered.reviews is not None
    for row in doc["frames"]:
        answers = given.get(row["frame_index"])
        row["answers"] = None if answers is None else {key: answers[key] for key in keys}
        if reviewed:  # the answers in force above; the model's, and who reviewed which
            row["model_answers"] = None if answers is None else {
                key: answers[f"{key}_model"] for key in keys}
            row["reviewed_by"] = {} if answers is None else {
                key: answers[f"{key}_reviewed_by"] for key in keys
                if answers[f"{key}_reviewed_by"] is not None}
        row["invalid_answers"] = (answers["invalid"] or "").split() if answers else []
    doc["questions"] = questions_document(answered)
    doc["usage"] = usage_document(answered, analysis.estimated_cost)


def insights(analysis: Analysis, video: Video, frames: pd.DataFrame, detections: pd.DataFrame,
             min_confidence: float, answered: Answered | None = None,
             notes: Iterable[NoteView] = (), shots: pd.DataFrame | None = None) -> dict:
    """The insights document (INSIGHTS_SCHEMA) at the minimum confidence; with the answers of
    an Azure OpenAI analysis, its questions and usage too; with the shots, "shots"."""
    import pandas as pd

    table = frames_table(frames, detections, min_confidence)
    table["remote_analysed"] = frames["remote_analysed"].to_numpy()
    table["tags"] = table["tags"].map(
        lambda s: s.split(TAG_SEPARATOR) if isinstance(s, str) and s else [])
    found = detections_table(detections, min_confidence)
    per_frame: dict[int, list[dict]] = {}
    for row in found.itertuples(index=False):
        box = None if pd.isna(row.x) else {"x": int(row.x), "y": int(row.y), "w": int(row.w),
                                           "h": int(row.h)}
        per_frame.setdefault(int(row.frame_index), []).append({
            "kind": row.kind, "label": _plain(row.label),
            "confidence": _plain(row.confidence), "box": box,
        })
    frame_rows = _records(table.drop(columns=["analysis_id"]))
    for row in frame_rows:
        row["detections"] = per_frame.get(row["frame_index"], [])
    segs = all_segments(frames, detections, min_confidence, answered) \
        .drop(columns=["analysis_id"])
    doc = {
        "schema": INSIGHTS_SCHEMA,
        "min_confidence": min_confidence,
        "video": video_document(video),
        "analysis": analysis_document(analysis),
        "frames": frame_rows,
        "segments": _records(segs),
        "notes": notes_document(notes),
    }
    if shots is not None:
        from services.insights.shots import JSON_COLUMNS

        doc["shots"] = _records(shots[JSON_COLUMNS])
    if answered is not None:
        _add_answers(doc, analysis, frames, answered)
    return doc


def insights_json(analysis: Analysis, video: Video, frames: pd.DataFrame,
                  detections: pd.DataFrame, min_confidence: float,
                  answered: Answered | None = None, notes: Iterable[NoteView] = (),
                  shots: pd.DataFrame | None = None) -> bytes:
    doc = insights(analysis, video, frames, detections, min_confidence, answered, notes, shots)
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


@dataclass(frozen=True)
class Download:
    """One file of the results page's downloads, made only when asked for."""

    name: str
    mime: str
    make: Callable[[], bytes]


def analysis_exports(analysis: Analysis) -> tuple[Export, ...]:
    """The exports this analysis has: answers.csv only for an Azure OpenAI analysis."""
    return tuple(export for export in Export if export.made_for(analysis.analyzer))


def make_export(export: Export, analysis: Analysis, video: Video | None, frames: pd.DataFrame,
                detections: pd.DataFrame, min_confidence: float,
                answered: Answered | None = None, notes: Iterable[NoteView] = (),
                shots: pd.DataFrame | None = None) -> bytes:
    """One export's bytes from rows already loaded; the insights JSON needs the video,
    answers.csv the answers (the JSON adds them when given), shots.csv and the EDL the shots
    (services.insights.shots.load_shots)."""
    if export is Export.notes:
        return notes_csv(notes)
    if export in (Export.shots, Export.edl):
        from services.insights.shots import shots_csv, shots_edl

        if shots is None:
            raise ValueError("the shots of this analysis were not loaded")
        if export is Export.shots:
            return shots_csv(shots)
        if video is None:
            raise ValueError("the video of this analysis was deleted")
        return shots_edl(shots, video.original_filename, video.fps or 25.0)
    if export is Export.answers:
        if answered is None:
            raise ValueError("this analysis asked no questions: it has no answers.csv")
        return answers_csv(answered, frames)
    if export is Export.frames:
        return frames_csv(frames, detections, min_confidence)
    if export is Export.detections:
        return detections_csv(detections, min_confidence)
    if export is Export.segments:
        return segments_csv(frames, detections, min_confidence, answered)
    if video is None:
        raise ValueError("the video of this analysis was deleted")
    return insights_json(analysis, video, frames, detections, min_confidence, answered, notes,
                         shots)


def downloads(analysis: Analysis, video: Video, frames: pd.DataFrame, detections: pd.DataFrame,
              min_confidence: float, answered: Answered | None = None,
              notes: Iterable[NoteView] = (), shots: pd.DataFrame | None = None
              ) -> list[Download]:
    """The files `cli.py export` writes, from the rows the page already loaded; answers.csv
    (and the answers in the insights JSON) when the page passes the analysis's answers."""
    return [Download(export.file_name, export.mime,
                     partial(make_export, export, analysis, video, frames, detections,
                             min_confidence, answered, tuple(notes), shots))
            for export in analysis_exports(analysis)
            if (export is not Export.answers or answered is not None)
            and (export not in (Export.shots, Export.edl) or shots is not None)]


def export_files(engine: Engine, analysis: Analysis, min_confidence: float,
                 which: Iterable[Export | str] | None = None,
                 prices: Prices | None = None) -> dict[Export, bytes]:
    """The bytes of each export asked for (Export members or names; default: every one the
    analysis has), read from the database once. `prices` (the settings') cost an Azure OpenAI
    analysis's tokens in its insights JSON; without them the cost is null."""
    try:
        asked = list(analysis_exports(analysis)) if which is None else [Export(n) for n in which]
    except ValueError as exc:
        raise ValueError(f"unknown export: {exc}") from None
    frames = load_frames(engine, analysis.id)
    detections = load_detections(engine, analysis.id)
    with_shots = {Export.shots, Export.edl, Export.json} & set(asked)
    video = get_video(engine, analysis.video_id) if Export.json in asked or with_shots else None
    shots = None
    if with_shots:
        from services.insights.shots import load_shots

        shots = load_shots(engine, analysis.id, frames, video.duration_s if video else None)
    answered = None
    with_answers = {Export.answers, Export.json, Export.segments}
    if analysis.analyzer.asks and with_answers & set(asked):
        from services.insights.answers import load_answered

        answered = load_answered(engine, analysis.id, prices)
    notes: tuple[NoteView, ...] = ()
    if {Export.notes, Export.json} & set(asked):
        from services.review.notes import list_notes

        notes = tuple(list_notes(engine, analysis.id))
    return {export: make_export(export, analysis, video, frames, detections, min_confidence,
                                answered, notes, shots)
            for export in asked}
