"""Untrusted text (file names, captions, OCR lines, tags, labels, error messages) stays text.

An analysis whose every text is a payload (HTML, a javascript: link, Markdown emphasis, math,
a colour directive) is rendered on every page with AppTest, and each element is checked by what
it does with text:

- Markdown-rendering fields (markdown, captions, titles, alerts, metric labels and values,
  widget labels and help, expander and tab labels...): a payload shows only in its
  backslash-escaped form, in which every ASCII punctuation character is escaped (CommonMark then
  shows it literally), and never raw.
- No element allows HTML (no unsafe_allow_html, no st.html), no field holds a javascript: link,
  and charts carry no href encoding.
- Plain-text fields (code, select box options, text inputs, DataFrame cells, chart data) may
  hold the raw text: the browser shows them as text.
"""

from __future__ import annotations

import io
import json
import re
import string
from pathlib import Path

import pandas as pd
import pytest
from google.protobuf.message import Message
from PIL import Image
from streamlit.testing.v1 import AppTest

from services.context import Services
from services.db import session_scope
from services.insights.exports import DETECTIONS_CSV_COLUMNS, to_csv
from services.models import Status, Video
from services.upload.ingest import ingest_video
from tests.fixtures.apptest import app, rendered_nodes, switch_to
from tests.fixtures.factories import analysis_row, detection_row, frame_row

ROOT = Path(__file__).resolve().parents[1]
PAYLOADS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "**bold**",
    "$x^2$",
    ":red[x]",
)
FILE_NAME = " ".join(PAYLOADS)  # as stored in Video.original_filename (display only)
RAW_MARKERS = ("<script", "<img", "](javascript", "javascript:", "**bold**", "$x^2$", ":red[x]")
# Fields whose text the browser shows as plain text, by element type.
PLAIN_TEXT_FIELDS = {
    "code": {"code_text"},
    "selectbox": {"options", "raw_value", "default", "value"},
    "multiselect": {"options", "raw_values", "default", "value"},
    "text_input": {"value", "default", "raw_value"},
    "select_slider": {"options"},
}


@pytest.fixture
def services(app_services) -> Services:
    return app_services


def payload_video(services: Services, video_path: Path) -> str:
    """A stored video whose file name, codec and uploader are payloads; returns its id."""
    with video_path.open("rb") as stream:
        video = ingest_video(services.engine, services.store, stream, filename="clip.mp4",
                             uploaded_by="local")
    with session_scope(services.engine) as session:
        row = session.get(Video, video.id)
        row.original_filename = FILE_NAME
        row.codec = PAYLOADS[5]
        row.uploaded_by = PAYLOADS[1]
    return video.id


def payload_analysis(services: Services, video_id: str, status: Status = Status.succeeded,
                     error: str | None = None) -> str:
    """An Azure analysis (as the pipeline writes it) whose every text is a payload."""
    analysis = analysis_row(video_id, analyzer="azure", features="tags,objects,read,caption",
                            frames_planned=len(PAYLOADS), frames_done=len(PAYLOADS),
                            transactions=len(PAYLOADS), status=status, error_message=error,
                            created_by=PAYLOADS[0])
    thumb = io.BytesIO()
    Image.new("RGB", (320, 180), "gray").save(thumb, format="JPEG")
    rows: list = [analysis]
    for i, text in enumerate(PAYLOADS):
        key = f"analyses/{analysis.id}/thumbs/{i:07d}.jpg"
        services.store.write_bytes(key, thumb.getvalue())
        rows.append(frame_row(analysis.id, i, timestamp_s=float(i), thumbnail_key=key,
                              brightness=0.5, contrast=0.1, sharpness=1.0, colourfulness=0.2,
                              motion=0.0, is_black=False, shot_index=0, remote_analysed=True,
                              caption=text, caption_confidence=0.9))
        rows += [detection_row(analysis.id, i, kind, text)
                 for kind in ("text_line", "tag", "object", "dense_caption", "person")]
    with session_scope(services.engine) as session:
        session.add_all(rows)
    return analysis.id


# --- walking what AppTest rendered --------------------------------------------------------------


def _strings(message: Message, path: str = ""):
    """Every (field path, string) in a protobuf message, nested messages included."""
    for field, value in message.ListFields():
        name = f"{path}.{field.name}" if path else field.name
        values = value if getattr(field, "is_repeated", False) else [value]
        for item in values:
            if isinstance(item, Message):
                yield from _strings(item, name)
            elif isinstance(item, str):
                yield name, item


def _escaped_pattern(text: str) -> re.Pattern:
    """text written in Markdown with every ASCII punctuation character backslash-escaped."""
    return re.compile("".join(
        re.escape("\\" + ch) if ch in string.punctuation else re.escape(ch) for ch in text
    ))


def _raw_pattern(text: str) -> re.Pattern:
    """text written in Markdown with its punctuation unescaped (so Markdown acts on it)."""
    return re.compile("".join(
        r"(?<!\\)" + re.escape(ch) if ch in string.punctuation else re.escape(ch) for ch in text
    ))


RAW = [(marker, _raw_pattern(marker)) for marker in RAW_MARKERS]


def _unescape(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def check_page(at: AppTest) -> int:
    """Check every element of the page; returns how many payloads showed in Markdown fields."""
    assert not at.exception, at.exception
    assert not at.get("html"), "st.html must not be used"
    shown = 0
    for node in rendered_nodes(at):
        proto = getattr(node, "proto", None)
        if not isinstance(proto, Message):
            continue
        kind = getattr(node, "type", type(proto).__name__)
        assert not getattr(proto, "allow_html", False), f"{kind} allows HTML"
        if kind in ("arrow_vega_lite_chart", "vega_lite_chart"):
            spec = json.loads(proto.spec)
            assert '"href"' not in json.dumps(spec), "a chart encodes links"
            continue  # chart data: drawn by Vega as text, tooltips escaped by vega-tooltip
        plain = PLAIN_TEXT_FIELDS.get(kind, set())
        for name, value in _strings(proto):
            if name.split(".")[0] in plain or name.startswith("data") or name == "id":
                continue
            if kind == "dataframe" and name in ("columns", "styler"):
                continue  # column settings; cells are Arrow bytes (text), links checked below
            for marker, raw in RAW:
                assert not raw.search(value), f"{kind}.{name} holds {marker!r}: {value!r}"
            for payload in PAYLOADS:
                if payload in _unescape(value):
                    assert _escaped_pattern(payload).search(value), (
                        f"{kind}.{name} shows {payload!r} without escaping: {value!r}")
                    shown += 1
    for frame in at.dataframe:
        check_link_columns(frame)
    return shown


def check_link_columns(frame) -> None:
    """Columns holding user text are text columns; link columns hold only the app's links."""
    config = json.loads(frame.proto.columns or "{}")
    table = frame.value
    for column in table:
        kind = (config.get(column, {}).get("type_config") or {}).get("type")
        values = [v for v in table[column].dropna() if isinstance(v, str)]
        if any(p in v for v in values for p in PAYLOADS):
            assert kind in (None, "text"), f"user text in a {kind} column {column!r}"
        if kind == "link":
            for url in values:
                assert url.startswith("results?analysis="), url


# --- the pages ----------------------------------------------------------------------------------


def test_upload_page_shows_names_as_text(services, video_factory):
    """Test that the upload page shows a stored video's name and codec as text, and a file in
    storage as a plain option and an escaped error."""
    video_id = payload_video(services, video_factory(seconds=2))
    key = "videos/__bold__.mp4"  # keys are [a-z0-9_-./] only, but _ is emphasis too
    services.store.write_bytes(key, b"not a video at all" * 20)
    at = app()
    at.session_state["current_video_id"] = video_id
    at.run()
    assert check_page(at) >= len(PAYLOADS)  # the name, each payload escaped
    metrics = {m.label: m.value for m in at.metric}
    assert _unescape(metrics["Codec"]) == PAYLOADS[5]
    at.selectbox[0].set_value(key).run()
    at.button[0].click().run()  # "Use this video": probing fails, the error names the file
    check_page(at)
    [error] = at.error
    assert _unescape(error.value).startswith(key)
    assert _escaped_pattern(key).search(error.value)  # no emphasis


def test_analyses_page_shows_names_as_text(services, video_factory):
    """Test that the history, the chooser and the delete flash show names as text."""
    video_id = payload_video(services, video_factory(seconds=2))
    first = payload_analysis(services, video_id)
    payload_analysis(services, video_id)
    at = app().run()
    switch_to(at, "analyses").run()
    assert check_page(at) >= len(PAYLOADS)
    table = at.dataframe[0].value
    assert set(table["video"]) == {FILE_NAME}  # a plain text cell
    assert set(table["created_by"]) == {PAYLOADS[0]}
    assert at.selectbox[0].options[0].startswith(FILE_NAME[:70])  # a plain option
    at.selectbox[0].set_value(first).run()
    at.checkbox(key=f"confirm_analysis_{first}").check().run()
    at.button(key=f"delete_analysis_{first}").click().run()
    check_page(at)
    [success] = at.success
    assert _unescape(success.value) == f"Deleted the analysis of {FILE_NAME}."


@pytest.mark.parametrize("status", [Status.succeeded, Status.failed, Status.cancelled])
def test_results_page_shows_texts_as_text(services, video_factory, status):
    """Test the results page: title, caption, viewer, tag timeline, captions and OCR tables,
    frames table and status message, at every frame, for a finished or failed analysis."""
    video_id = payload_video(services, video_factory(seconds=2))
    error = " ".join(PAYLOADS) if status == Status.failed else None
    analysis_id = payload_analysis(services, video_id, status=status, error=error)
    at = app().run()
    switch_to(at, "results")
    at.query_params.update({"analysis": analysis_id})
    at.run()
    check_page(at)
    assert _unescape(at.title[0].value) == FILE_NAME
    assert f"created by {PAYLOADS[0]}" in _unescape(at.caption[0].value)
    if status == Status.failed:
        assert _unescape(at.error[0].value).startswith(f"The analysis failed: {error}.")
    at.sidebar.slider[0].set_value(0.0).run()
    for i, payload in enumerate(PAYLOADS):  # the viewer's caption line, frame by frame
        at.select_slider[0].set_value(float(i)).run()
        check_page(at)
        captions = [_unescape(c.value) for c in at.caption]
        assert f"Caption: {payload}" in captions
    # Captions, dense captions, OCR lines and tags are cells of DataFrames (plain text).
    cells = set()
    for frame in at.dataframe:
        for column in frame.value:
            cells |= {v for v in frame.value[column] if isinstance(v, str)}
    assert set(PAYLOADS) <= cells
    assert len(at.get("vega_lite_chart")) >= 4  # jump strip, metrics, counts, tag timeline
    at.text_input(key=f"ocr_search_{analysis_id}").set_value("javascript:").run()
    check_page(at)


def test_csv_exports_neutralise_formulas():
    """Test that text a spreadsheet would run as a formula gets a leading apostrophe."""
    table = pd.DataFrame({
        "analysis_id": ["a"] * 6, "frame_index": range(6), "timestamp_s": [0.0] * 6,
        "kind": ["text_line"] * 6,
        "label": ["=HYPERLINK(\"http://x\")", "+1+1", "-2", "@SUM(A1)", "\tx", "plain"],
        "confidence": [0.9] * 6, "x": [1] * 6, "y": [1] * 6, "w": [1] * 6, "h": [1] * 6,
    })[DETECTIONS_CSV_COLUMNS]
    rows = pd.read_csv(io.BytesIO(to_csv(table)), keep_default_na=False)
    assert list(rows["label"]) == ["'=HYPERLINK(\"http://x\")", "'+1+1", "'-2", "'@SUM(A1)",
                                   "'\tx", "plain"]
    assert list(rows["frame_index"]) == list(range(6))  # numbers stay numbers
