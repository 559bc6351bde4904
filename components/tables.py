"""Tables as DataFrames plus their st.column_config: text in cells is always shown as plain text."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.share import RESULTS_PATH
from components.text import one_line
from services.domain import AnalyzerKind, LabelKind
from services.insights.results import confident
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


def frame_columns(analyzer: AnalyzerKind) -> dict:
    """Column config of the frames table (insights.results.FRAME_TABLE_COLUMNS, as frames.csv):
    the analysis id is the page's own; only Image Analysis counts people and objects and gives
    confidences, and a local analysis has no captions, tags or refused frames."""
    config = {
        "analysis_id": None,
        "frame_index": st.column_config.NumberColumn("Frame"),
        "timestamp_s": st.column_config.NumberColumn("Time (s)", format="%.2f"),
        "width": st.column_config.NumberColumn("Width", width="small"),
        "height": st.column_config.NumberColumn("Height", width="small"),
        "brightness": st.column_config.NumberColumn("Brightness", format="%.3f"),
        "contrast": st.column_config.NumberColumn("Contrast", format="%.3f"),
        "sharpness": st.column_config.NumberColumn("Sharpness", format="%.3f"),
        "colourfulness": st.column_config.NumberColumn("Colourfulness", format="%.3f"),
        "motion": st.column_config.NumberColumn("Motion", format="%.3f"),
        "is_black": st.column_config.CheckboxColumn("Black"),
        "shot_index": st.column_config.NumberColumn("Shot index", help="Counted from 0"),
        "people_count": st.column_config.NumberColumn("People"),
        "object_count": st.column_config.NumberColumn("Objects"),
        "caption": st.column_config.TextColumn("Caption"),
        "caption_confidence": st.column_config.NumberColumn("Caption confidence", format="%.2f"),
        "tags": st.column_config.TextColumn("Tags"),
        "error": st.column_config.TextColumn(
            "Not analysed", help="Why the service refused this frame; empty when it did not"),
    }
    hidden: tuple[str, ...] = (() if analyzer.detects else
                               ("people_count", "object_count", "caption_confidence"))
    if not analyzer.cloud:  # the local analyser never refuses a frame either
        hidden += ("caption", "tags", "error")
    return config | {name: None for name in hidden}


def caption_rows(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float):
    """Frame captions and dense captions: time, kind, text, confidence."""
    caps = frames.dropna(subset=["caption"])
    rows = pd.DataFrame({
        "timestamp_s": caps["timestamp_s"].astype(float),
        "kind": LabelKind.caption.noun,
        "text": caps["caption"].astype(str),
        "confidence": caps["caption_confidence"].astype(float),
    })
    dense = confident(detections[detections["kind"] == LabelKind.dense_caption], min_confidence)
    rows = pd.concat([rows, pd.DataFrame({
        "timestamp_s": dense["timestamp_s"].astype(float),
        "kind": LabelKind.dense_caption.noun,
        "text": dense["label"].astype(str),
        "confidence": dense["confidence"].astype(float),
    })], ignore_index=True)
    rows = rows[rows["confidence"].isna() | (rows["confidence"] >= min_confidence)]
    return rows.sort_values(["timestamp_s", "kind"]).reset_index(drop=True)


def text_line_rows(detections: pd.DataFrame, min_confidence: float) -> pd.DataFrame:
    """OCR lines: time, text, confidence."""
    lines = confident(detections[detections["kind"] == LabelKind.text_line], min_confidence)
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
