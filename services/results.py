"""Load an analysis's rows as DataFrames for charts, tables and exports."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.models import Detection, Frame

FRAME_COLUMNS = [
    "analysis_id", "frame_index", "timestamp_s", "width", "height", "brightness", "contrast",
    "sharpness", "colourfulness", "motion", "is_black", "shot_index", "people_count",
    "object_count", "caption", "caption_confidence", "remote_analysed", "thumbnail_key",
]
DETECTION_COLUMNS = [
    "analysis_id", "frame_index", "timestamp_s", "kind", "label", "confidence", "x", "y", "w", "h",
]
_INT_COLUMNS = ["frame_index", "width", "height", "shot_index", "people_count", "object_count",
                "x", "y", "w", "h"]


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer and boolean columns, so a missing value stays missing (not 3.0 or None)."""
    for col in df.columns:
        if col in _INT_COLUMNS:
            df[col] = df[col].astype("Int64")
        elif col in ("is_black", "remote_analysed"):
            df[col] = df[col].astype("boolean")
    return df


def _tuples(result) -> list[tuple]:
    """Rows as plain tuples: pandas probes each SQLAlchemy Row with hasattr(), which costs a
    caught exception per row (0.7 s instead of 0.15 s for 60,000 detections)."""
    return [tuple(row) for row in result]


def load_frames(engine: Engine, analysis_id: str) -> pd.DataFrame:
    cols = [getattr(Frame, c) for c in FRAME_COLUMNS]
    query = sa.select(*cols).where(Frame.analysis_id == analysis_id).order_by(Frame.frame_index)
    with engine.connect() as conn:
        rows = _tuples(conn.execute(query))
    return _typed(pd.DataFrame(rows, columns=FRAME_COLUMNS))


def load_detections(engine: Engine, analysis_id: str) -> pd.DataFrame:
    cols = [getattr(Detection, c) for c in DETECTION_COLUMNS if c != "timestamp_s"]
    query = (
        sa.select(*cols, Frame.timestamp_s)
        .join(Frame, sa.and_(Frame.analysis_id == Detection.analysis_id,
                             Frame.frame_index == Detection.frame_index))
        .where(Detection.analysis_id == analysis_id)
        .order_by(Detection.frame_index, Detection.id)
    )
    with engine.connect() as conn:
        rows = _tuples(conn.execute(query))
    names = [c for c in DETECTION_COLUMNS if c != "timestamp_s"] + ["timestamp_s"]
    return _typed(pd.DataFrame(rows, columns=names)[DETECTION_COLUMNS])


def tags_per_frame(detections: pd.DataFrame, min_confidence: float = 0.0) -> pd.Series:
    """Tag names per frame index, joined with '; ', strongest first."""
    tags = detections[(detections["kind"] == "tag") & (detections["confidence"] >= min_confidence)]
    if tags.empty:
        return pd.Series(dtype="object")
    tags = tags.sort_values(["frame_index", "confidence"], ascending=[True, False])
    return tags.groupby("frame_index")["label"].agg(lambda s: "; ".join(s.astype(str)))
