"""The segment timeline, the comparison chart and view links: pure builders, read through
to_dict() and plain values."""

from __future__ import annotations

import pandas as pd

from components.charts import compare_chart
from components.timeline import SEGMENT_PARAM, segment_timeline, timeline_rows
from services.insights.links import (
    label_key,
    parse_confidence,
    parse_label_key,
    results_link,
)
from services.insights.segments import SEGMENT_COLUMNS
from tests.fixtures.factories import make_frames


def segs(*rows: tuple) -> pd.DataFrame:
    """(kind, label, start_s, end_s, frames, max_confidence) rows of one analysis."""
    return pd.DataFrame([("a" * 32, *r) for r in rows], columns=SEGMENT_COLUMNS)


SEGMENTS = segs(("tag", "sky", 0.0, 3.5, 8, 0.9), ("tag", "dog", 1.0, 1.0, 1, 0.7),
                ("tag", "dog", 2.0, 2.5, 2, 0.8), ("object", "car", 0.5, 1.0, 2, 0.6),
                ("text_line", "EXIT " + "x" * 60, 3.0, 3.0, 1, 0.99),
                ("text_line", "EXIT " + "x" * 60 + " (other)", 3.5, 3.5, 1, 0.99),
                ("shot", "shot 1", 0.0, 3.5, 8, None))


def test_timeline_rows_rank_labels_and_reach_one_step_past_the_last_frame():
    """Test that rows keep the top labels of the kinds asked (plus the kept one), in order of
    frames shown, and that a one-frame segment gets a bar one frame step long."""
    rows = timeline_rows(SEGMENTS, 0.5, ["tag", "object"], top=2)
    assert list(dict.fromkeys(rows["key"])) == ["tag:sky", "tag:dog"]
    dog = rows[rows["key"] == "tag:dog"]
    assert dog[["start_s", "end_s", "bar_end_s"]].values.tolist() == [[1.0, 1.0, 1.5],
                                                                      [2.0, 2.5, 3.0]]
    kept = timeline_rows(SEGMENTS, 0.5, ["tag", "object"], top=1, keep="object:car")
    assert list(dict.fromkeys(kept["key"])) == ["tag:sky", "object:car"]
    assert set(timeline_rows(SEGMENTS, 0.5, ["shot"])["row"]) == {"shot: shot 1"}


def test_timeline_rows_are_in_time_order_not_in_order_of_frames_shown():
    """Test that shots of unequal lengths are listed shot 1, 2, 3, 4, 5 (the issue saw 4, 3, 5,
    2, 1: the rows followed the frames each label shows)."""
    lengths = [1, 3, 5, 8, 2]
    starts = [sum(lengths[:i]) for i in range(5)]
    shots = segs(*[("shot", f"shot {i + 1}", float(s), float(s + n - 1), n, None)
                   for i, (s, n) in enumerate(zip(starts, lengths, strict=True))])
    rows = timeline_rows(shots, 1.0, ["shot"])
    assert list(dict.fromkeys(rows["row"])) == [f"shot: shot {i}" for i in range(1, 6)]
    chart = segment_timeline(rows).to_dict()
    assert chart["encoding"]["y"]["sort"] == [f"shot: shot {i}" for i in range(1, 6)]


def test_long_labels_that_shorten_alike_keep_rows_of_their_own():
    """Test that two OCR lines with the same first 40 characters are two rows."""
    rows = timeline_rows(SEGMENTS, 0.5, ["text_line"])
    assert rows["row"].nunique() == 2 and all(len(r) < 60 for r in rows["row"])


def test_segment_timeline_is_one_chart_with_a_click_selection():
    """Test that the timeline is a single bar chart (selections need one), a row per label,
    whose click selects the key and start, and that bars at t or of the label stand out."""
    rows = timeline_rows(SEGMENTS, 0.5, ["tag", "object"])
    spec = segment_timeline(rows, t=2.2, selected="tag:dog", duration=8.0).to_dict()
    assert "layer" not in spec and "hconcat" not in spec and "vconcat" not in spec
    assert spec["mark"]["type"] == "bar"
    [param] = spec["params"]
    assert param["name"] == SEGMENT_PARAM
    assert param["select"]["type"] == "point" and param["select"]["fields"] == ["key", "start_s"]
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 8.0]
    assert spec["encoding"]["y"]["sort"] == ["tag: sky", "object: car", "tag: dog"]  # by time
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    current = data[data["current"]][["key", "start_s"]].values.tolist()
    assert current == [["tag:sky", 0.0], ["tag:dog", 2.0]]
    assert data[data["selected"]]["key"].unique().tolist() == ["tag:dog"]


def test_compare_chart_draws_both_analyses_on_one_time_axis():
    """Test that the comparison chart is one line chart coloured by analysis over both times."""
    a, b = make_frames(8, step=0.5), make_frames(4, step=2.0)
    spec = compare_chart(a, b, "brightness", "Brightness").to_dict()
    assert "layer" not in spec and spec["mark"]["type"] == "line"
    assert spec["encoding"]["color"]["scale"]["domain"] == ["A", "B"]
    # A legend above a 140 px chart left the plot no height in the browser: it stays beside it.
    assert spec["encoding"]["color"]["legend"]["orient"] in ("left", "right")
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 8.0]
    data = pd.DataFrame(next(iter(spec["datasets"].values())))
    assert data.groupby("analysis").size().to_dict() == {"A": 8, "B": 4}


def test_view_links_carry_confidence_and_label():
    """Test that results links hold t, conf and label, and their values parse back."""
    link = results_link("https://fw.example.com/", "abc", 3.0, confidence=0.55,
                        label=label_key("text_line", "EXIT: 12 & up"))
    assert link == ("https://fw.example.com/results?analysis=abc&t=3&conf=0.55"
                    "&label=text_line%3AEXIT%3A+12+%26+up")
    assert parse_label_key("text_line:EXIT: 12 & up") == ("text_line", "EXIT: 12 & up")
    assert [parse_label_key(v) for v in (None, "", "tag", ":x", "tag:")] == [None] * 5
    assert [parse_confidence(v) for v in ("0.55", "1", "0")] == [0.55, 1.0, 0.0]
    assert [parse_confidence(v) for v in (None, "", "1.5", "-0.1", "nan", "x")] == [None] * 6
