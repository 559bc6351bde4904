"""Load an analysis's rows as DataFrames, and the per-frame table the page and frames.csv share.

Everything that depends on the minimum confidence (people and object counts, tags, captions) is
computed here when read, from the Detection rows, so the page, its downloads and the CLI agree
for any threshold; Frame rows hold no counts (migration 0004 dropped them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from services.domain import LabelKind
from services.models import Detection, Frame

if TYPE_CHECKING:
    import pandas as pd

# pandas takes about 0.25 s to import: the functions that make tables import it, so importing
# this module alone stays cheap (a fresh import of the services is timed by bench/startup.py).

# Columns read from the Frame table.
FRAME_COLUMNS = [
    "analysis_id", "frame_index", "timestamp_s", "width", "height", "brightness", "contrast",
    "sharpness", "colourfulness", "motion", "is_black", "shot_index", "caption",
    "caption_confidence", "remote_analysed", "thumbnail_key", "error",
]
DETECTION_COLUMNS = [
    "analysis_id", "frame_index", "timestamp_s", "kind", "label", "confidence", "x", "y", "w", "h",
]
# The per-frame table: the results page shows it and frames.csv is it, column for column.
FRAME_TABLE_COLUMNS = [
    "analysis_id", "frame_index", "timestamp_s", "width", "height", "brightness", "contrast",
    "sharpness", "colourfulness", "motion", "is_black", "shot_index", "people_count",
    "object_count", "caption", "caption_confidence", "tags",
    "error",  # why the service refused the frame (stored as not analysed); empty otherwise
]
TAG_SEPARATOR = "; "  # tags of a frame, strongest first, joined the same way everywhere
_INT_COLUMNS = ["frame_index", "width", "height", "shot_index", "people_count", "object_count",
                "x", "y", "w", "h"]


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable integer and boolean columns, so a missing value stays missing (not 3.0 or None)."""
    for name in df.columns:
        if name in _INT_COLUMNS:
            df[name] = df[name].astype("Int64")
        elif name in ("is_black", "remote_analysed"):
            df[name] = df[name].astype("boolean")
    return df


def row_tuples(result) -> list[tuple]:
    """Rows as plain tuples: pandas probes each SQLAlchemy Row with hasattr(), which costs a
    caught exception per row (0.7 s instead of 0.15 s for 60,000 detections)."""
    return [tuple(row) for row in result]


def read_rows(engine: Engine, model, columns: list[str], analysis_id: str) -> pd.DataFrame:
    """These columns of one analysis's rows of a per-frame table, by frame index."""
    import pandas as pd

    query = (sa.select(*[getattr(model, c) for c in columns])
             .where(col(model.analysis_id) == analysis_id).order_by(col(model.frame_index)))
    with engine.connect() as conn:
        rows = row_tuples(conn.execute(query))
    return pd.DataFrame(rows, columns=columns)


def load_frames(engine: Engine, analysis_id: str) -> pd.DataFrame:
    return _typed(read_rows(engine, Frame, FRAME_COLUMNS, analysis_id))


def load_detections(engine: Engine, analysis_id: str) -> pd.DataFrame:
    """The analysis's detections, less those an analyst marked wrong (services/review)."""
    import pandas as pd

    from services.review.corrections import wrong_detections

    cols = [getattr(Detection, c) for c in DETECTION_COLUMNS if c != "timestamp_s"]
    query = (
        sa.select(*cols, col(Frame.timestamp_s), col(Detection.id))
        .join(Frame, sa.and_(col(Frame.analysis_id) == Detection.analysis_id,
                             col(Frame.frame_index) == Detection.frame_index))
        .where(col(Detection.analysis_id) == analysis_id)
        .order_by(col(Detection.frame_index), col(Detection.id))
    )
    with engine.connect() as conn:
        rows = row_tuples(conn.execute(query))
    names = [c for c in DETECTION_COLUMNS if c != "timestamp_s"] + ["timestamp_s", "id"]
    table = pd.DataFrame(rows, columns=names)
    wrong = wrong_detections(engine, analysis_id)
    if wrong:
        table = table[~table["id"].isin(wrong)]
    return _typed(table[DETECTION_COLUMNS].reset_index(drop=True))


def passes(confidence: pd.Series, min_confidence: float) -> pd.Series:
    """At or above the threshold; a missing confidence (smart crops, some OCR lines) passes."""
    conf = confidence.astype(float)
    return conf.isna() | (conf >= min_confidence)


def confident(detections: pd.DataFrame, min_confidence: float) -> pd.DataFrame:
    """The detections the minimum confidence keeps: the one filter of counts, boxes and tables."""
    return detections[passes(detections["confidence"], min_confidence)]


def tags_per_frame(detections: pd.DataFrame, min_confidence: float) -> pd.Series:
    """Tag names per frame index at the threshold, strongest first, joined by TAG_SEPARATOR."""
    import pandas as pd

    tags = confident(detections[detections["kind"] == LabelKind.tag], min_confidence)
    if tags.empty:
        return pd.Series(dtype="object")
    tags = tags.sort_values(["frame_index", "confidence"], ascending=[True, False])
    return tags.groupby("frame_index")["label"].agg(lambda s: TAG_SEPARATOR.join(s.astype(str)))


def frames_table(
    frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float
) -> pd.DataFrame:
    """One row per frame in FRAME_TABLE_COLUMNS, counted at the minimum confidence.

    people_count and object_count are empty for frames the remote analyser did not see (local
    analyses, frames adaptive sampling kept back); a caption below the threshold is left out.
    """
    import pandas as pd

    table = frames.copy()
    found = confident(detections, min_confidence)
    analysed = table["remote_analysed"].fillna(False).astype(bool)
    per_kind = found.groupby(["frame_index", "kind"]).size().unstack(fill_value=0)
    for kind, column in ((LabelKind.person, "people_count"), (LabelKind.object, "object_count")):
        counts = per_kind[kind] if kind in per_kind else pd.Series(dtype="int64")
        values = table["frame_index"].map(counts).fillna(0).astype("Int64")
        table[column] = values.where(analysed, pd.NA)
    kept = passes(table["caption_confidence"], min_confidence) & table["caption"].notna()
    table["caption"] = table["caption"].where(kept, None)
    table["caption_confidence"] = table["caption_confidence"].astype(float).where(kept)
    table["tags"] = table["frame_index"].map(tags_per_frame(found, min_confidence))
    return table[FRAME_TABLE_COLUMNS].reset_index(drop=True)


def detections_table(detections: pd.DataFrame, min_confidence: float) -> pd.DataFrame:
    """The detections at the minimum confidence, in DETECTION_COLUMNS (detections.csv)."""
    return confident(detections, min_confidence)[DETECTION_COLUMNS].reset_index(drop=True)
