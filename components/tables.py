"""Tables as DataFrames plus their st.column_config: text in cells is always shown as plain text."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.charts import confident
from components.share import RESULTS_PATH
from components.text import one_line
from services.models import Analysis, Video

ANALYSIS_COLUMNS = {
    "open": st.column_config.LinkColumn("Open", display_text="Results ↗", width="small"),
    "video": st.column_config.TextColumn("Video"),
    "status": st.column_config.TextColumn("Status", width="small"),
    "progress": st.column_config.ProgressColumn("Progress", min_value=0.0, max_value=1.0,
                                                format="percent", width="small"),
    "analyser": st.column_config.TextColumn("Analyser", width="small"),
    "frames": st.column_config.TextColumn("Frames", width="small"),
    "created_by": st.column_config.TextColumn("Created by", width="small"),
    "created_at": st.column_config.DatetimeColumn("Created (UTC)",
                                                  format="YYYY-MM-DD HH:mm"),
}


def analyses_table(rows: list[tuple[Analysis, Video]]) -> pd.DataFrame:
    """History of analyses, one row each, newest first as given; links are relative to the app."""
    records = [
        {
            "open": f"{RESULTS_PATH}?analysis={a.id}",
            "video": one_line(v.original_filename, 200),
            "status": a.status,
            "progress": float(a.progress),
            "analyser": a.analyzer,
            "frames": f"{a.frames_done} / {a.frames_planned}",
            "created_by": a.created_by,
            "created_at": pd.Timestamp(a.created_at).tz_convert(None) if a.created_at else pd.NaT,
        }
        for a, v in rows
    ]
    return pd.DataFrame(records, columns=list(ANALYSIS_COLUMNS))


def analysis_choice_label(analysis: Analysis, video: Video) -> str:
    """One line naming an analysis in a select box (plain text)."""
    when = f"{analysis.created_at:%Y-%m-%d %H:%M}" if analysis.created_at else ""
    name = one_line(video.original_filename, 80)
    return f"{name} · {analysis.analyzer} · {analysis.status} · {when} · {analysis.id[:8]}"


FRAME_COLUMNS = {
    "timestamp_s": st.column_config.NumberColumn("Time (s)", format="%.2f"),
    "frame_index": st.column_config.NumberColumn("Frame"),
    "shot_index": st.column_config.NumberColumn("Shot"),
    "brightness": st.column_config.NumberColumn("Brightness", format="%.3f"),
    "contrast": st.column_config.NumberColumn("Contrast", format="%.3f"),
    "sharpness": st.column_config.NumberColumn("Sharpness", format="%.3f"),
    "colourfulness": st.column_config.NumberColumn("Colourfulness", format="%.3f"),
    "motion": st.column_config.NumberColumn("Motion", format="%.3f"),
    "is_black": st.column_config.CheckboxColumn("Black"),
    "people": st.column_config.NumberColumn("People"),
    "objects": st.column_config.NumberColumn("Objects"),
    "caption": st.column_config.TextColumn("Caption"),
    "tags": st.column_config.TextColumn("Tags"),
}


def frames_display(
    frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float, remote: bool
) -> pd.DataFrame:
    """Per-frame rows; people, objects and tags counted at the chosen minimum confidence."""
    table = frames.copy()
    table["shot_index"] = table["shot_index"].astype("Int64") + 1  # shot 1 first, as the viewer
    columns = ["timestamp_s", "frame_index", "shot_index", "brightness", "contrast",
               "sharpness", "colourfulness", "motion", "is_black"]
    if remote:
        found = confident(detections, min_confidence)
        per_kind = found.groupby(["frame_index", "kind"]).size().unstack(fill_value=0)
        analysed = table["remote_analysed"].fillna(False).astype(bool)
        for kind, name in (("person", "people"), ("object", "objects")):
            counts = per_kind[kind] if kind in per_kind else pd.Series(dtype="int64")
            values = table["frame_index"].map(counts).fillna(0).astype("Int64")
            table[name] = values.where(analysed, pd.NA)
        tags = found[found["kind"] == "tag"].sort_values("confidence", ascending=False)
        table["tags"] = table["frame_index"].map(
            tags.groupby("frame_index")["label"].agg(lambda s: ", ".join(s.astype(str)))
        )
        columns += ["people", "objects", "caption", "tags"]
    return table[columns]


def caption_rows(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float):
    """Frame captions and dense captions: time, kind, text, confidence."""
    caps = frames.dropna(subset=["caption"])
    rows = pd.DataFrame({
        "timestamp_s": caps["timestamp_s"].astype(float),
        "kind": "caption",
        "text": caps["caption"].astype(str),
        "confidence": caps["caption_confidence"].astype(float),
    })
    dense = confident(detections[detections["kind"] == "dense_caption"], min_confidence)
    rows = pd.concat([rows, pd.DataFrame({
        "timestamp_s": dense["timestamp_s"].astype(float),
        "kind": "dense caption",
        "text": dense["label"].astype(str),
        "confidence": dense["confidence"].astype(float),
    })], ignore_index=True)
    rows = rows[rows["confidence"].isna() | (rows["confidence"] >= min_confidence)]
    return rows.sort_values(["timestamp_s", "kind"]).reset_index(drop=True)


def text_line_rows(detections: pd.DataFrame, min_confidence: float) -> pd.DataFrame:
    """OCR lines: time, text, confidence."""
    lines = confident(detections[detections["kind"] == "text_line"], min_confidence)
    return pd.DataFrame({
        "timestamp_s": lines["timestamp_s"].astype(float),
        "text": lines["label"].astype(str),
        "confidence": lines["confidence"].astype(float),
    }).reset_index(drop=True)


def filter_text(rows: pd.DataFrame, query: str, column: str = "text") -> pd.DataFrame:
    """Rows whose text contains the query, ignoring case (plain substring, not a regex)."""
    query = query.strip()
    if not query:
        return rows
    return rows[rows[column].str.contains(query, case=False, regex=False, na=False)]


TEXT_COLUMNS = {
    "timestamp_s": st.column_config.NumberColumn("Time (s)", format="%.2f"),
    "kind": st.column_config.TextColumn("Kind", width="small"),
    "text": st.column_config.TextColumn("Text", width="large"),
    "confidence": st.column_config.NumberColumn("Confidence", format="%.2f"),
}
