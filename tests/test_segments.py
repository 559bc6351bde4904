"""Label segments (services/insights/segments.py): merging rules on small frames, and the segments
of real analyses made by the pipeline (Azure against the Vision emulator, and local), on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import io

import pandas as pd

from services.context import open_services
from services.insights import exports, results, segments
from services.insights.results import DETECTION_COLUMNS, FRAME_COLUMNS, _typed
from tests.fixtures.library import SALE_LINE, WORD_LINE, run_analysis
from tests.fixtures.videos import make_video

AID = "a" * 32


def frames_of(n: int, remote: set[int] | None = None, step: float = 0.5) -> pd.DataFrame:
    rows = [{c: None for c in FRAME_COLUMNS} | {
        "analysis_id": AID, "frame_index": i, "timestamp_s": i * step, "width": 64,
        "height": 48, "shot_index": i // 4, "is_black": False,
        "remote_analysed": remote is None or i in remote,
    } for i in range(n)]
    return _typed(pd.DataFrame(rows, columns=FRAME_COLUMNS))


def detections_of(*rows: tuple) -> pd.DataFrame:
    """(frame_index, kind, label, confidence) rows."""
    records = [{"analysis_id": AID, "frame_index": f, "timestamp_s": f * 0.5, "kind": k,
                "label": label, "confidence": c, "x": None, "y": None, "w": None, "h": None}
               for f, k, label, c in rows]
    return _typed(pd.DataFrame(records, columns=DETECTION_COLUMNS))


def as_tuples(segs: pd.DataFrame) -> list[tuple]:
    return [(r.kind, r.label, r.start_s, r.end_s, int(r.frames),
             None if pd.isna(r.max_confidence) else round(r.max_confidence, 3))
            for r in segs.itertuples(index=False)]


def test_consecutive_frames_merge_and_a_gap_starts_a_new_segment():
    """Test that a label in frames 0-2 and 4 makes two segments, with times, frames and max."""
    dets = detections_of((0, "tag", "dog", 0.6), (1, "tag", "dog", 0.9), (2, "tag", "dog", 0.7),
                         (4, "tag", "dog", 0.8))
    segs = segments.label_segments(frames_of(6), dets, 0.5)
    assert as_tuples(segs) == [("tag", "dog", 0.0, 1.0, 3, 0.9), ("tag", "dog", 2.0, 2.0, 1, 0.8)]
    assert list(segs.columns) == segments.SEGMENT_COLUMNS and set(segs["analysis_id"]) == {AID}


def test_a_frame_below_the_minimum_confidence_breaks_a_segment():
    """Test that the minimum confidence decides which frames show a label."""
    dets = detections_of((0, "object", "car", 0.9), (1, "object", "car", 0.4),
                         (2, "object", "car", 0.9))
    assert len(segments.label_segments(frames_of(3), dets, 0.5)) == 2
    assert as_tuples(segments.label_segments(frames_of(3), dets, 0.3)) == [
        ("object", "car", 0.0, 1.0, 3, 0.9)]


def test_two_detections_in_a_frame_count_as_one_frame_and_kinds_stay_apart():
    """Test that two people in one frame make one frame, and a tag of the same name its own row."""
    dets = detections_of((0, "person", "person", 0.9), (0, "person", "person", 0.95),
                         (1, "person", "person", 0.8), (1, "tag", "person", 0.99))
    assert as_tuples(segments.label_segments(frames_of(2), dets, 0.5)) == [
        ("person", "person", 0.0, 0.5, 2, 0.95), ("tag", "person", 0.5, 0.5, 1, 0.99)]


def test_frames_the_remote_analyser_did_not_see_neither_break_nor_join_a_segment():
    """Test that frames adaptive sampling kept back are skipped when judging consecutiveness."""
    dets = detections_of((0, "tag", "sky", 0.9), (3, "tag", "sky", 0.9))
    segs = segments.label_segments(frames_of(4, remote={0, 3}), dets, 0.5)
    assert as_tuples(segs) == [("tag", "sky", 0.0, 1.5, 2, 0.9)]


def test_captions_become_segments_and_labels_without_text_do_not():
    """Test that frame captions are a kind of their own and empty or missing labels are dropped."""
    frames = frames_of(3)
    frames.loc[[0, 1], "caption"] = "a dog on grass"
    frames.loc[[0, 1], "caption_confidence"] = [0.7, 0.3]
    dets = detections_of((0, "object", None, 0.9), (1, "text_line", " ", 0.9),
                         (2, "smart_crop", "1.33", None))
    assert as_tuples(segments.segments(frames, dets, 0.5, segments.LABEL_KINDS)) == [
        ("caption", "a dog on grass", 0.0, 0.0, 1, 0.7)]


def test_azure_segments_of_a_real_analysis(scene_library):
    """Test that an analysis made by the pipeline gives one segment per stretch: the word seen
    in the frames at 3-5 s, the sign at 6-7 s, and each label found in every frame."""
    engine, b = scene_library.services.engine, scene_library.b
    frames, dets = results.load_frames(engine, b), results.load_detections(engine, b)
    segs = segments.segments(frames, dets, 0.5)
    lines = segs[segs["kind"] == "text_line"]
    assert as_tuples(lines[lines["label"].isin([WORD_LINE, SALE_LINE])]) == [
        ("text_line", WORD_LINE, 3.0, 5.0, 3, 0.97), ("text_line", SALE_LINE, 6.0, 7.0, 2, 0.97)]
    everywhere = segs[segs["kind"].isin(["tag", "object", "person", "caption"])]
    assert len(everywhere) == everywhere[["kind", "label"]].drop_duplicates().shape[0] > 10
    assert set(everywhere["start_s"]) == {0.0} and set(everywhere["end_s"]) == {7.0}
    assert set(everywhere["frames"]) == {8}
    shots = segs[segs["kind"] == "shot"]
    assert as_tuples(shots) == [("shot", "shot 1", 0.0, 2.0, 3, None),
                                ("shot", "shot 2", 3.0, 5.0, 3, None),
                                ("shot", "shot 3", 6.0, 7.0, 2, None)]
    # segments.csv: the same rows, one per segment, in the documented columns.
    rows = list(csv.DictReader(io.StringIO(exports.segments_csv(frames, dets, 0.5).decode())))
    assert list(rows[0]) == exports.SEGMENTS_CSV_COLUMNS == [
        "analysis_id", "kind", "label", "start_s", "end_s", "frames", "max_confidence"]
    word = [r for r in rows if r["label"] == WORD_LINE]
    assert [(r["analysis_id"], r["start_s"], r["end_s"], r["frames"]) for r in word] == [
        (b, "3.0", "5.0", "3")]
    assert sum(r["kind"] == "tag" and r["label"] == "furniture" for r in rows) == 1


def test_the_minimum_confidence_decides_which_azure_labels_have_segments(scene_library):
    """Test that the recorded 0.0017 person and the 0.536 'using' tag appear only below them."""
    engine, b = scene_library.services.engine, scene_library.b
    frames, dets = results.load_frames(engine, b), results.load_detections(engine, b)

    def people_frames(conf: float) -> list[int]:
        segs = segments.segments(frames, dets, conf)
        return segs[segs["kind"] == "person"]["frames"].tolist()

    assert people_frames(0.5) == [8] and people_frames(0.0) == [8]
    low = segments.segments(frames, dets, 0.5)
    high = segments.segments(frames, dets, 0.6)
    assert "using" in set(low["label"]) and "using" not in set(high["label"])


def test_local_analyses_get_segments_for_shots_and_black_stretches(settings, tmp_path):
    """Test that a local analysis of a video black from 1 s to 2 s has a black segment there and
    a segment per shot, and no label segments."""
    services = open_services(settings)
    video = make_video(tmp_path / "black.mp4", seconds=3, pattern="black_middle",
                       black=(1.0, 2.0))
    aid = run_analysis(services, video, analyzer="local", fps=2)
    frames = results.load_frames(services.engine, aid)
    segs = segments.segments(frames, results.load_detections(services.engine, aid), 0.5)
    assert as_tuples(segs) == [("shot", "shot 1", 0.0, 0.5, 2, None),
                               ("black", "black", 1.0, 1.5, 2, None),
                               ("shot", "shot 2", 1.0, 1.5, 2, None),
                               ("shot", "shot 3", 2.0, 2.5, 2, None)]
