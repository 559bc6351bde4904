"""Exports at one minimum confidence, the same from the results page and the CLI.

frames.csv, detections.csv and segments.csv, and the insights JSON (one document holding the
video, the analysis settings, every frame with its detections, and the segments; its schema is
in the README): services.domain.Export names them. Each takes the rows already loaded, so the
page reuses what it has drawn.
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


def segments_csv(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float) -> bytes:
    return to_csv(segments(frames, detections, min_confidence))


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


def insights(analysis: Analysis, video: Video, frames: pd.DataFrame, detections: pd.DataFrame,
             min_confidence: float) -> dict:
    """The insights document (INSIGHTS_SCHEMA) at the minimum confidence."""
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
    segs = segments(frames, detections, min_confidence).drop(columns=["analysis_id"])
    return {
        "schema": INSIGHTS_SCHEMA,
        "min_confidence": min_confidence,
        "video": video_document(video),
        "analysis": analysis_document(analysis),
        "frames": frame_rows,
        "segments": _records(segs),
    }


def insights_json(analysis: Analysis, video: Video, frames: pd.DataFrame,
                  detections: pd.DataFrame, min_confidence: float) -> bytes:
    doc = insights(analysis, video, frames, detections, min_confidence)
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")


@dataclass(frozen=True)
class Download:
    """One file of the results page's downloads, made only when asked for."""

    name: str
    mime: str
    make: Callable[[], bytes]


def make_export(export: Export, analysis: Analysis, video: Video | None, frames: pd.DataFrame,
                detections: pd.DataFrame, min_confidence: float) -> bytes:
    """One export's bytes from rows already loaded; the insights JSON needs the video."""
    if export is Export.frames:
        return frames_csv(frames, detections, min_confidence)
    if export is Export.detections:
        return detections_csv(detections, min_confidence)
    if export is Export.segments:
        return segments_csv(frames, detections, min_confidence)
    if video is None:
        raise ValueError("the video of this analysis was deleted")
    return insights_json(analysis, video, frames, detections, min_confidence)


def downloads(analysis: Analysis, video: Video, frames: pd.DataFrame, detections: pd.DataFrame,
              min_confidence: float) -> list[Download]:
    """The files `cli.py export` writes, from the rows the page already loaded."""
    return [Download(export.file_name, export.mime,
                     partial(make_export, export, analysis, video, frames, detections,
                             min_confidence))
            for export in Export]


def export_files(engine: Engine, analysis: Analysis, min_confidence: float,
                 which: Iterable[Export | str] = tuple(Export)) -> dict[Export, bytes]:
    """The bytes of each export asked for (Export members or names), read from the database
    once."""
    try:
        asked = [Export(name) for name in which]
    except ValueError as exc:
        raise ValueError(f"unknown export: {exc}") from None
    frames = load_frames(engine, analysis.id)
    detections = load_detections(engine, analysis.id)
    video = get_video(engine, analysis.video_id) if Export.json in asked else None
    return {export: make_export(export, analysis, video, frames, detections, min_confidence)
            for export in asked}
