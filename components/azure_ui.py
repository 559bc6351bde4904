"""Results of Azure AI Vision: counts over time, the tag timeline, captions and OCR text."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from components.charts import count_series, counts_chart, tag_cells, tag_timeline
from components.frame_viewer import KIND_COLOURS, KIND_LABELS
from components.share import mirror, restore
from components.tables import TEXT_COLUMNS, caption_rows, filter_text, text_line_rows
from services.domain import AnalyzerKind, Feature
from services.insights.links import format_confidence, parse_confidence


def detection_controls_ui(default_confidence: float, analysis_id: str) -> tuple[float, list[str]]:
    """Sidebar: the minimum confidence (kept in the URL's ?conf=) and which boxes to draw."""
    st.sidebar.subheader("Detections")
    key = f"conf_{analysis_id}"
    restore(key, "conf", parse_confidence, float(default_confidence))
    min_confidence = st.sidebar.slider(
        "Minimum confidence", 0.0, 1.0, step=0.05, key=key,
        help="Everything on this page uses detections at or above this confidence: counts, "
             "charts, boxes, tables, segments and the downloads.",
    )
    mirror("conf", format_confidence(min_confidence))
    kinds = list(KIND_COLOURS)
    shown = st.sidebar.pills("Boxes", kinds, selection_mode="multi", default=kinds,
                             format_func=lambda kind: KIND_LABELS[kind])
    st.sidebar.caption("Red people, blue objects, amber text, dashed green smart crops.")
    return float(min_confidence), list(shown or [])


def _searchable(rows: pd.DataFrame, key: str, what: str) -> None:
    query = st.text_input(f"Search {what}", key=key, placeholder="Words to look for")
    if "confidence" in rows and rows["confidence"].isna().all():
        rows = rows.drop(columns="confidence")  # a model's captions: no column of blanks
    found = filter_text(rows, query)
    st.caption(f"{len(found):,} of {len(rows):,} {what}")
    st.dataframe(found, column_config=TEXT_COLUMNS, hide_index=True, width="stretch",
                 height=min(400, 38 + 35 * max(1, len(found))))


def azure_ui(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float,
             t: float, analysis_id: str, analyzer: AnalyzerKind,
             features: tuple[Feature, ...]) -> None:
    """What the analysis asked the service to find, and only that: people and object counts,
    tags over time, captions, the text read in the picture."""
    asked = set(features) or (set(Feature) if analyzer.detects else set())  # an old analysis
    at = " at this confidence" if analyzer.detects else ""
    if asked & {Feature.people, Feature.objects}:
        st.subheader("People and objects over time")
        series = count_series(frames, detections, min_confidence)
        if series.empty or not series["count"].any():
            st.caption(f"No people or objects{at}.")
        else:
            st.altair_chart(counts_chart(series, t), width="stretch")
    if Feature.tags in asked:
        st.subheader("Tags over time")
        cells = tag_cells(frames, detections, min_confidence)
        if cells.empty:
            st.caption(f"No tags{at}.")
        else:
            st.altair_chart(tag_timeline(cells, t), width="stretch")
    texts = []  # (tab name, search key, what is searched, rows): only what was asked is read
    if asked & {Feature.caption, Feature.dense_captions}:
        texts.append(("Captions", "caption", "captions",
                      caption_rows(frames, detections, min_confidence)))
    if Feature.read in asked:
        texts.append(("Text in the picture (OCR)", "ocr", "text lines",
                      text_line_rows(detections, min_confidence)))
    if not texts:
        return
    st.subheader(texts[0][0] if len(texts) == 1 else "Captions and text")
    places = st.tabs([name for name, *_ in texts]) if len(texts) > 1 else [st.container()]
    for place, (_, key, what, rows) in zip(places, texts, strict=True):
        with place:
            _searchable(rows, f"{key}_search_{analysis_id}", what)
