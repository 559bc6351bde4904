"""Exports at one minimum confidence (services/insights/exports.py) and the comparison of two
analyses (services/insights/compare.py), over rows made by the pipeline, on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest

from services.analysis.jobs import get_analysis
from services.insights import exports, results
from services.insights.compare import CompareError, compare
from tests.fixtures.library import SALE_LINE, WORD_LINE


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def made(library, analysis_id: str, conf: float, *names: str) -> dict[str, bytes]:
    engine = library.services.engine
    return exports.export_files(engine, get_analysis(engine, analysis_id), conf, names)


def test_frames_csv_counts_follow_the_minimum_confidence(scene_library):
    """Test that people, objects, tags and captions in frames.csv are counted when read, at the
    confidence asked: the recorded 0.0017 person only at 0, the 0.58 and 0.61 chairs below 0.65."""
    def frame0(conf: float) -> dict[str, str]:
        return rows_of(made(scene_library, scene_library.b, conf, "frames")["frames"])[0]

    low, default, high = frame0(0.0), frame0(0.5), frame0(0.65)
    assert (low["people_count"], default["people_count"], high["people_count"]) == ("2", "1", "1")
    assert (low["object_count"], default["object_count"], high["object_count"]) == ("5", "5", "2")
    assert default["tags"].split("; ")[:3] == ["furniture", "clothing", "person"]
    assert "using" in default["tags"] and "using" not in high["tags"]
    assert default["caption"].startswith("a person wearing a mask")
    assert frame0(0.9)["caption"] == "" and frame0(0.9)["caption_confidence"] == ""
    assert list(default) == exports.FRAMES_CSV_COLUMNS == results.FRAME_TABLE_COLUMNS


def test_detections_csv_keeps_the_detections_at_the_minimum_confidence(scene_library):
    """Test that detections.csv holds every detection at 0 and only confident ones above."""
    every = rows_of(made(scene_library, scene_library.b, 0.0, "detections")["detections"])
    kept = rows_of(made(scene_library, scene_library.b, 0.5, "detections")["detections"])
    weak = [r for r in every if r["confidence"] and float(r["confidence"]) < 0.5]
    assert weak and len(kept) == len(every) - len(weak)
    assert all(not r["confidence"] or float(r["confidence"]) >= 0.5 for r in kept)


def test_insights_json_holds_video_settings_frames_and_segments(scene_library):
    """Test that the insights JSON follows its schema: video, analysis settings, per-frame
    results with detections, and the segments, all at the minimum confidence asked."""
    doc = json.loads(made(scene_library, scene_library.b, 0.5, "json")["json"])
    assert set(doc) == {"schema", "min_confidence", "video", "analysis", "frames", "segments",
                        "notes", "shots"}
    assert doc["notes"] == []  # the analysts' notes (tests/test_review.py adds some)
    # The shots, found on every frame: the scene video cuts at 3 and 6 s.
    assert [(s["shot_index"], s["start_s"], s["transition"], s["precise"])
            for s in doc["shots"]] == [(0, 0.0, "cut", True), (1, 3.0, "cut", True),
                                       (2, 6.0, "cut", True)]
    assert (doc["schema"], doc["min_confidence"]) == ("framewise.insights/1", 0.5)
    assert doc["video"]["file_name"] == "crossing.mp4" and doc["video"]["duration_s"] == 8.0
    assert doc["analysis"]["id"] == scene_library.b
    assert doc["analysis"]["features"] == ["tags", "objects", "people", "caption", "read"]
    assert (doc["analysis"]["analyzer"], doc["analysis"]["sample_fps"]) == ("azure", 1.0)
    assert [f["timestamp_s"] for f in doc["frames"]] == [float(i) for i in range(8)]
    frame = doc["frames"][4]
    assert set(frame) == {*results.FRAME_TABLE_COLUMNS, "remote_analysed", "detections"} - {
        "analysis_id"}  # as the README's schema lists them
    assert set(doc["video"]) == {"id", "file_name", "duration_s", "fps", "width", "height",
                                 "codec", "rotation", "size_bytes", "sha256", "uploaded_by",
                                 "uploaded_at"}
    assert frame["people_count"] == 1 and frame["remote_analysed"] is True
    assert frame["tags"][0] == "furniture" and isinstance(frame["tags"], list)
    lines = [d["label"] for d in frame["detections"] if d["kind"] == "text_line"]
    assert WORD_LINE in lines and SALE_LINE not in lines
    person = next(d for d in frame["detections"] if d["kind"] == "person")
    assert set(person["box"]) == {"x", "y", "w", "h"} and person["confidence"] > 0.5
    assert all(d["confidence"] is None or d["confidence"] >= 0.5 for d in frame["detections"])
    word = [s for s in doc["segments"] if s["label"] == WORD_LINE]
    assert word == [{"kind": "text_line", "label": WORD_LINE, "start_s": 3.0, "end_s": 5.0,
                     "frames": 3, "max_confidence": pytest.approx(0.97)}]


def test_compare_gives_each_labels_share_of_frames_in_both(scene_library):
    """Test that compare marks the words of b as only in b with their share of b's frames, a
    label of every frame as 1.0 in both, and gives both analyses' settings and means."""
    engine = scene_library.services.engine
    comparison = compare(engine, scene_library.a, scene_library.b, 0.5)
    assert comparison.b.summary.shots == 3 and comparison.labels[0].kind == "tag"
    doc = comparison.document()  # as `cli.py compare` prints it
    by_label = {(r["kind"], r["label"]): r for r in doc["labels"]}
    assert by_label[("text_line", WORD_LINE)] == {
        "kind": "text_line", "label": WORD_LINE, "share_a": 0.0, "share_b": 0.375, "only": "b"}
    assert by_label[("text_line", SALE_LINE)]["share_b"] == 0.25
    assert by_label[("tag", "furniture")] == {
        "kind": "tag", "label": "furniture", "share_a": 1.0, "share_b": 1.0, "only": None}
    assert all(r["only"] in (None, "b") for r in doc["labels"])
    assert doc["a"]["analysis_id"] == scene_library.a and doc["b"]["video"] == "crossing.mp4"
    assert doc["a"]["settings"]["features"] == doc["b"]["settings"]["features"]
    assert (doc["a"]["summary"]["frames"], doc["b"]["summary"]["shots"]) == (8, 3)
    frames_b = results.load_frames(engine, scene_library.b)
    stats = {s["name"]: s for s in doc["statistics"]}
    assert stats["brightness"]["mean_b"] == pytest.approx(frames_b["brightness"].mean(), abs=1e-6)
    assert stats["brightness"]["mean_a"] != stats["brightness"]["mean_b"]
    reverse = compare(engine, scene_library.b, scene_library.a, 0.5)
    assert {(r.kind, r.label): r.only for r in reverse.labels}[("text_line", WORD_LINE)] == "a"
    higher = {(r.kind, r.label) for r in compare(engine, scene_library.a, scene_library.b,
                                                 0.6).labels}
    assert ("tag", "using") in by_label and ("tag", "using") not in higher
    with pytest.raises(CompareError, match="analysis B"):
        compare(engine, scene_library.a, "f" * 32, 0.5)
