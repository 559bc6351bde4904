"""Unit tests of the UI components that need no Streamlit run: charts, boxes, links, escaping."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from PIL import Image

from components import charts
from components.formatting import clock, file_size, money
from components.frame_viewer import KIND_COLOURS, boxes_for_frame, draw_boxes, nearest_index
from components.share import format_seconds, parse_seconds, share_link
from components.tables import caption_rows, filter_text, frame_columns, text_line_rows
from components.text import escape_markdown, one_line
from services.domain import AnalyzerKind
from services.insights.results import FRAME_TABLE_COLUMNS, frames_table
from tests.fixtures.factories import make_detections, make_frames


def spec(chart) -> dict:
    return chart.to_dict()


def layers_of(spec_dict: dict) -> list[dict]:
    return spec_dict.get("layer", [spec_dict])


def test_shot_starts_and_black_spans():
    """Test that cuts and runs of black frames are found from the frame rows."""
    frames = make_frames()
    assert charts.shot_starts(frames)["timestamp_s"].tolist() == [2.0]
    assert charts.black_spans(frames).to_dict("records") == [{"start_s": 1.0, "end_s": 2.0}]


def test_metric_chart_has_line_shots_blacks_and_time_rule():
    """Test that a per-frame value chart layers shaded black frames, shot rules and the time."""
    d = spec(charts.metric_chart(make_frames(), "brightness", "Brightness", t=1.5))
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in layers_of(d)]
    assert marks == ["rect", "rule", "rule", "line"]
    line = layers_of(d)[-1]["encoding"]
    assert line["x"]["field"] == "timestamp_s" and line["y"]["field"] == "brightness"
    shot_rule = layers_of(d)[1]
    assert shot_rule["mark"]["strokeDash"] == [4, 3]
    assert d["datasets"][shot_rule["data"]["name"]] == [{"timestamp_s": 2.0, "shot_index": 1.0}]
    time_rule = layers_of(d)[2]
    assert d["datasets"][time_rule["data"]["name"]] == [{"timestamp_s": 1.5}]


def test_shot_rules_are_the_stored_shots_to_the_frame_with_their_transition():
    """Test that with stored shots (found on every frame) the dashed lines stand at their
    starts, not at the first sampled frame after each: a cut at 1.76 s, sampled every 0.5 s."""
    shots = pd.DataFrame({"shot_index": [0, 1], "start_s": [0.0, 1.76], "end_s": [1.76, 4.0],
                          "transition": ["cut", "dissolve"]})
    d = spec(charts.metric_chart(make_frames(), "brightness", "Brightness", shots=shots))
    shot_rule = layers_of(d)[1]
    assert d["datasets"][shot_rule["data"]["name"]] == [
        {"timestamp_s": 1.76, "shot_index": 1.0, "transition": "dissolve"}]
    assert [t["title"] for t in shot_rule["encoding"]["tooltip"]] == ["new shot at (s)", "by"]


@pytest.mark.parametrize("metric", [name for name, _ in charts.METRICS])
def test_every_metric_has_a_chart(metric):
    """Test that each per-frame value charts over time with shot rules and no selection."""
    d = spec(charts.metric_chart(make_frames(), metric, metric.title(), t=0.0))
    assert layers_of(d)[-1]["encoding"]["y"]["field"] == metric
    assert any(layer["mark"].get("strokeDash") for layer in layers_of(d))
    assert "params" not in json.dumps(d)


def test_jump_chart_is_single_with_a_point_selection():
    """Test that the click-to-jump strip is one plain chart carrying the 'jump' selection."""
    d = spec(charts.jump_chart(make_frames(), t=1.0))
    assert "layer" not in d and "vconcat" not in d and "hconcat" not in d
    assert d["params"][0]["name"] == charts.JUMP_PARAM
    assert d["params"][0]["select"]["type"] == "point"
    assert d["params"][0]["select"]["fields"] == ["timestamp_s"]
    rows = d["datasets"][d["data"]["name"]]
    assert [r["timestamp_s"] for r in rows if r["current"]] == [1.0]
    assert [r["shot"] for r in rows] == [1, 1, 1, 1, 2, 2, 2, 2]
    assert d["encoding"]["y2"]["field"] == "top"  # every frame fills the strip


def test_counts_chart_counts_at_min_confidence():
    """Test that people and object counts ignore detections under the threshold."""
    series = charts.count_series(make_frames(), make_detections(), 0.5)
    at0 = series[series["timestamp_s"] == 0.0].set_index("series")["count"]
    assert at0["people"] == 1 and at0["object: car"] == 1
    everything = charts.count_series(make_frames(), make_detections(), 0.0)
    assert everything[(everything["timestamp_s"] == 0.0)
                      & (everything["series"] == "people")]["count"].item() == 2
    d = spec(charts.counts_chart(series, t=0.5))
    enc = d["layer"][0]["encoding"]
    assert (enc["x"]["field"], enc["y"]["field"], enc["color"]["field"]) == (
        "timestamp_s", "count", "series")
    assert d["layer"][1]["mark"]["type"] == "rule"


def test_tag_timeline_top_tags_coloured_by_confidence():
    """Test that the tag heatmap keeps tags over the threshold, rows by frequency."""
    cells = charts.tag_cells(make_frames(), make_detections(), 0.5, top=15)
    assert set(cells["label"]) == {"outdoor", "tree"}
    d = spec(charts.tag_timeline(cells, t=0.0))
    enc = d["layer"][0]["encoding"]
    assert d["layer"][0]["mark"]["type"] == "rect"
    assert enc["color"]["field"] == "confidence"
    assert enc["y"]["sort"] == ["outdoor", "tree"]
    assert enc["x2"]["field"] == "end_s"
    assert len(charts.tag_cells(make_frames(), make_detections(), 0.5, top=1)
               ["label"].unique()) == 1


def test_a_models_tags_have_a_plain_layer_and_no_confidence_legend():
    """Test that tags with no confidence (an Azure OpenAI analysis's) are drawn in a layer of
    one colour, not in the confidence layer (where Vega-Lite drops nulls and draws nothing),
    and that a chart of such tags only shows no confidence scale."""
    cells = charts.tag_cells(make_frames(), make_detections(), 0.5, top=15)
    unscored = cells.assign(confidence=float("nan"))
    mixed = pd.concat([cells, unscored.assign(label="a model's tag")], ignore_index=True)
    layers = spec(charts.tag_timeline(mixed))["layer"]
    assert [("color" in layer["encoding"], layer["mark"].get("color")) for layer in layers] == [
        (True, None), (False, charts.SERIES_COLOURS[0])]
    only_model = spec(charts.tag_timeline(unscored))["layer"]
    assert len(only_model) == 1 and "color" not in only_model[0]["encoding"]


def _thumb(size=(320, 180)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (128, 128, 128)).save(out, format="PNG")
    return out.getvalue()


def test_boxes_are_scaled_to_the_thumbnail():
    """Test that a person box drawn on a half-size thumbnail lands at half the coordinates."""
    dets = make_detections()
    boxes = boxes_for_frame(dets, 0, ["person"], 0.5)
    assert len(boxes) == 1  # the 0.0017 person is not drawn
    plain = Image.open(io.BytesIO(_thumb())).convert("RGB")
    drawn = draw_boxes(_thumb(), boxes, frame_width=640, frame_height=360)
    assert drawn.size == (320, 180)
    # The person box is x 100..300, y 50..350 in the 640x360 frame: 50..150, 25..175 here.
    red = tuple(int(KIND_COLOURS["person"][i:i + 2], 16) for i in (1, 3, 5))
    assert drawn.getpixel((50, 100)) == red  # left edge
    assert drawn.getpixel((149, 100)) == red  # right edge
    assert drawn.getpixel((100, 174)) == red  # bottom edge
    assert drawn.getpixel((100, 100)) == plain.getpixel((100, 100))  # inside stays clear
    assert drawn.getpixel((200, 100)) == plain.getpixel((200, 100))  # right of the box too
    assert drawn.getpixel((45, 100)) == plain.getpixel((45, 100))


def test_boxes_pick_kinds_and_dash_smart_crops():
    """Test that only chosen kinds are drawn, and a smart crop is a dashed outline."""
    dets = make_detections()
    assert set(boxes_for_frame(dets, 0, ["object"], 0.5)["kind"]) == {"object"}
    crop = boxes_for_frame(dets, 0, ["smart_crop"], 0.5)
    assert len(crop) == 1  # no confidence: never filtered out
    drawn = draw_boxes(_thumb(), crop, 640, 360)
    top_row = [drawn.getpixel((x, 0)) for x in range(0, 320)]
    grey = (128, 128, 128)
    assert any(p == grey for p in top_row) and any(p != grey for p in top_row)


def test_nearest_index():
    """Test that the frame nearest a time is picked, the earlier one on a tie."""
    assert nearest_index([0.0, 0.5, 1.0], 0.74) == 1
    assert nearest_index([0.0, 0.5, 1.0], 0.75) == 1
    assert nearest_index([0.0, 0.5, 1.0], 99) == 2
    with pytest.raises(ValueError):
        nearest_index([], 1.0)


def test_share_link_format():
    """Test that share links are public URL + /results?analysis=<id>&t=<s>."""
    assert share_link("https://fw.example.com", "abc", 12.5) == (
        "https://fw.example.com/results?analysis=abc&t=12.5")
    assert share_link("https://host/base/", "abc", 3.0) == "https://host/base/results?analysis=abc&t=3"
    assert share_link("http://localhost:8501", "abc") == "http://localhost:8501/results?analysis=abc"
    assert format_seconds(1.0049) == "1"
    assert parse_seconds("2.5") == 2.5
    assert [parse_seconds(v) for v in (None, "", "x", "-1", "nan", "inf")] == [None] * 6


@pytest.mark.parametrize("payload", [
    "<script>alert(1)</script>",
    "[x](javascript:alert(1))",
    "![img](http://evil/x.png)",
    "**bold** _it_ `code` :red[red] $x$ &lt;",
])
def test_escape_markdown_leaves_no_markup(payload):
    """Test that every Markdown or HTML special character is backslash-escaped."""
    escaped = escape_markdown(payload)
    for ch in "<>[]()!*_`:$&":
        assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c == ch)
    assert escaped.replace("\\", "") == payload.replace("\\", "")


def test_one_line_collapses_control_characters():
    """Test that newlines and control characters cannot start Markdown blocks."""
    assert one_line("a\n# title\r\n\tb\x00c") == "a # title b c"
    assert len(one_line("x" * 1000, limit=10)) == 10


def test_tables_keep_text_as_text():
    """Test that caption and OCR tables hold the raw text and the filter is a plain substring."""
    frames, dets = make_frames(), make_detections()
    caps = caption_rows(frames, dets, 0.5)
    assert caps["text"].tolist() == ["a person near a car", "a [link](javascript:x)"]
    lines = text_line_rows(dets, 0.5)
    assert lines["text"].tolist() == ["EXIT <b>"]
    assert filter_text(lines, "exit <").shape[0] == 1
    assert filter_text(lines, ".*").shape[0] == 0  # not a regex
    table = frames_table(frames, dets, 0.5)
    assert table.loc[0, "people_count"] == 1 and table.loc[0, "tags"] == "outdoor"


def test_formatting():
    """Test that durations, sizes and costs read naturally."""
    assert (clock(12.5), clock(3725)) == ("0:12.5", "1:02:05.0")
    assert (file_size(512), file_size(22_118), file_size(34 * 2**20)) == (
        "512 bytes", "21.6 KB", "34.0 MB")
    assert (money(0), money(0.002), money(12.5)) == ("$0.00", "$0.002", "$12.50")


def test_every_frames_table_column_is_titled_and_each_analyser_hides_what_it_never_fills():
    """Test that each column of the frames table has its title on the page (none shows a raw
    name such as `error`); a model counts no people and gives no confidence; a local analysis
    has no captions, tags or refusals either."""
    azure, openai, local = (frame_columns(AnalyzerKind.azure), frame_columns(AnalyzerKind.openai),
                            frame_columns(AnalyzerKind.local))
    assert all(set(FRAME_TABLE_COLUMNS) <= set(c) for c in (azure, openai, local))
    shown = {name for name, config in azure.items() if config is not None}
    assert shown == set(FRAME_TABLE_COLUMNS) - {"analysis_id"}  # the page's own analysis
    assert {name for name in shown if openai[name] is None} == {
        "people_count", "object_count", "caption_confidence"}
    assert {name for name in shown if local[name] is None} == {
        "people_count", "object_count", "caption", "caption_confidence", "tags", "error"}
