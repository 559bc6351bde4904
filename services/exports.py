"""CSV exports, the same from the results page and the CLI."""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from services.results import load_detections, load_frames, tags_per_frame

FRAMES_CSV_COLUMNS = [
    "analysis_id", "frame_index", "timestamp_s", "width", "height", "brightness", "contrast",
    "sharpness", "colourfulness", "motion", "is_black", "shot_index", "people_count",
    "object_count", "caption", "caption_confidence", "tags",
]
DETECTIONS_CSV_COLUMNS = [
    "analysis_id", "frame_index", "timestamp_s", "kind", "label", "confidence", "x", "y", "w", "h",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def frames_table(frames: pd.DataFrame, detections: pd.DataFrame) -> pd.DataFrame:
    table = frames.copy()
    table["tags"] = table["frame_index"].map(tags_per_frame(detections))
    return table[FRAMES_CSV_COLUMNS]


def to_csv(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header row; missing values are empty cells."""
    table = table.copy()
    for col in table.columns:
        if table[col].dtype == object or pd.api.types.is_string_dtype(table[col]):
            table[col] = table[col].map(_inert)
    return table.to_csv(index=False, na_rep="").encode("utf-8")


def frames_csv(engine: Engine, analysis_id: str) -> bytes:
    frames = load_frames(engine, analysis_id)
    return to_csv(frames_table(frames, load_detections(engine, analysis_id)))


def detections_csv(engine: Engine, analysis_id: str) -> bytes:
    return to_csv(load_detections(engine, analysis_id)[DETECTIONS_CSV_COLUMNS])
