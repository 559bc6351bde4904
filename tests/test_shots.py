"""Shots at frame precision: cuts, fades and dissolves on synthetic videos with known boundaries,
a variable-frame-rate clip with an odd time base, and a whole local analysis storing them."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.estimate import estimate
from services.analysis.pipeline import AnalysisRun
from services.context import open_services
from services.domain import Export
from services.insights.exports import export_files
from services.library import delete_analysis, video_info
from services.models import Frame, Shot, Status
from services.upload.ingest import ingest_video
from services.video.sampling import sample_frames
from services.video.shots import scan_shots
from tests.fixtures.videos import FFMPEG

SIZE = "320x240"


def _ffmpeg(graph: str, path: Path, *extra: str) -> Path:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph,
                    "-map", "0:v", *extra, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True, capture_output=True)
    return path


def transitions_video(path: Path) -> Path:
    """25 fps, 8.5 s: moving test pattern, a cut at 2.0 s to colour bars, a fade through black
    from 3.5 to 4.5 s (black from 3.68 to 3.96 s), a dissolve from 5.5 to 6.5 s (its middle at
    6.0 s)."""
    graph = (f"testsrc2=size={SIZE}:rate=25:duration=2[a];"
             f"smptebars=size={SIZE}:rate=25:duration=2.5[b];"  # long enough for the fade
             f"rgbtestsrc=size={SIZE}:rate=25:duration=3[c];"
             f"mandelbrot=size={SIZE}:rate=25,trim=duration=3[d];"
             "[a][b]concat=n=2:v=1:a=0,settb=1/25[ab];"
             "[ab][c]xfade=transition=fadeblack:duration=1:offset=3.5[abc];"
             "[abc][d]xfade=transition=fade:duration=1:offset=5.5[out0]")
    return _ffmpeg(graph, path)


def vfr_video(path: Path) -> Path:
    """Variable frame rate in a millisecond time base: 30 fps to a cut at 1.3 s, 12 fps to a cut
    at 2.7 s, then 24 fps to 4.0 s."""
    sources = (f"testsrc2=size={SIZE}:rate=30:duration=1.3",
               f"smptebars=size={SIZE}:rate=12:duration=1.4",
               f"mandelbrot=size={SIZE}:rate=24,trim=duration=1.3")
    graph = ";".join(f"{src},settb=1/90000[s{i}]" for i, src in enumerate(sources))
    graph += ";[s0][s1][s2]concat=n=3:v=1:a=0[out0]"
    return _ffmpeg(graph, path, "-fps_mode", "passthrough", "-video_track_timescale", "1000")


def _frame_times(path: Path) -> list[float]:
    done = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path), "-vf", "showinfo", "-f",
                           "null", "-"], capture_output=True, text=True, check=True)
    return [float(t) for t in re.findall(r"pts_time:([\d.]+)", done.stderr)]


def _near(found: float, expected: float, frame_s: float) -> bool:
    return abs(found - expected) <= frame_s + 1e-6


@pytest.fixture(scope="module")
def transitions(tmp_path_factory) -> Path:
    return transitions_video(tmp_path_factory.mktemp("shots") / "transitions.mp4")


def test_cut_fade_and_dissolve_are_found_with_their_kind(transitions):
    """Test that a cut lands within one frame, a fade through black and a dissolve are found
    as such at their middles, and nothing in the moving pattern counts as a boundary."""
    shots = scan_shots(transitions, 8.5)
    assert shots is not None
    assert [s.transition for s in shots] == ["cut", "cut", "fade", "dissolve"]
    frame = 1 / 25
    assert _near(shots[1].start_s, 2.0, frame)
    # Halfway through the black: xfade's fadeblack is black (mean under 16) 3.68 to 3.96 s.
    assert 3.68 <= shots[2].start_s <= 3.96
    assert _near(shots[3].start_s, 6.0, 2 * frame)
    assert shots[0].start_s == 0.0 and _near(shots[-1].end_s, 8.5, frame)
    assert all(a.end_s == b.start_s for a, b in zip(shots, shots[1:], strict=False))


def test_the_sampling_decode_finds_the_same_shots(transitions):
    """Test that shots found in the decode that samples at 1 fps equal a decode of their own,
    and the samples are still the ones asked for."""
    stream = sample_frames(transitions, fps=1)
    stream.find_shots()
    with stream:
        times = [f.timestamp_s for f in stream]
    assert times == [float(i) for i in range(9)]
    assert stream.shots == scan_shots(transitions, 8.5)


def test_variable_frame_rate_cuts_are_placed_by_timestamp(tmp_path):
    """Test that on a VFR clip (30, 12, 24 fps, millisecond time base) each cut is within one
    frame of its time: times come from timestamps, not from frame counts."""
    path = vfr_video(tmp_path / "vfr.mp4")
    times = _frame_times(path)
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(steps) < 0.035 and max(steps) > 0.08, steps  # truly variable
    shots = scan_shots(path, 4.0)
    assert shots is not None and len(shots) == 3, shots
    assert _near(shots[1].start_s, 1.3, 1 / 30) and shots[1].transition == "cut"
    assert _near(shots[2].start_s, 2.7, 1 / 12) and shots[2].transition == "cut"


# ------------------------------------------------------------------ stored by an analysis


@pytest.fixture
def services(settings):
    return open_services(settings)


def _analyse(services, path: Path, fps: float, full_shot_pass: bool = False) -> str:
    with open(path, "rb") as f:
        video = ingest_video(services.engine, services.store, f, filename=path.name,
                             uploaded_by="tester")
    plan = estimate(video_info(video), fps=fps, max_frames=None, analyzer="local",
                    price_per_1000=1.0)
    aid = jobs.queue_analysis(services.engine, video_id=video.id, analyzer="local",
                              created_by="tester", sample_fps=fps, max_frames=None,
                              frames_planned=plan.frames, full_shot_pass=full_shot_pass).id
    assert jobs.claim(services.engine, "w", services.settings.lease_seconds, aid) == aid
    run = AnalysisRun(aid, "w", engine=services.engine, store=services.store,
                      settings=services.settings)
    assert run.run() == Status.succeeded
    return aid


def _shots(services, aid) -> list[Shot]:
    with Session(services.engine) as s:
        return list(s.exec(select(Shot).where(Shot.analysis_id == aid)
                           .order_by(sa.asc(Shot.shot_index))))


def test_a_local_analysis_stores_shots_keyframes_and_frame_shots(services, transitions):
    """Test that a 1 fps analysis stores every shot with frame-precise times, a keyframe JPEG
    each, frames labelled with the shot they show, and that deleting it removes them all."""
    aid = _analyse(services, transitions, fps=1)
    shots = _shots(services, aid)
    assert [s.transition for s in shots] == ["cut", "cut", "fade", "dissolve"]
    assert _near(shots[1].start_s, 2.0, 1 / 25)
    for shot in shots:
        assert shot.keyframe_key and services.store.read_bytes(shot.keyframe_key)[:2] == b"\xff\xd8"
        assert shot.start_s <= (shot.keyframe_s or -1) < shot.end_s
    with Session(services.engine) as s:
        frames = s.exec(select(Frame).where(Frame.analysis_id == aid)).all()
    for f in frames:
        shot = next(s for s in shots if s.start_s <= f.timestamp_s < s.end_s)
        assert f.shot_index == shot.shot_index, f.timestamp_s
    delete_analysis(services.engine, services.store, aid)
    assert _shots(services, aid) == []
    assert not any(services.store.exists(s.keyframe_key) for s in shots if s.keyframe_key)


def test_a_sparse_run_finds_shots_only_with_a_full_shot_pass(services, tmp_path):
    """Test that sampling that seeks (one frame in 10 s of a 30 fps video) stores no precise
    shots by itself, and with a full shot pass stores them, keyframes decoded for shots that
    no sample shows."""
    graph = (f"testsrc2=size={SIZE}:rate=30:duration=7[a];"
             f"smptebars=size={SIZE}:rate=30:duration=2[b];"
             f"rgbtestsrc=size={SIZE}:rate=30:duration=6[c];[a][b][c]concat=n=3:v=1:a=0[out0]")
    path = _ffmpeg(graph, tmp_path / "long.mp4")
    plain = _analyse(services, path, fps=0.1)
    assert _shots(services, plain) == []
    full = _analyse(services, path, fps=0.1, full_shot_pass=True)
    shots = _shots(services, full)
    assert len(shots) == 3, shots
    assert _near(shots[1].start_s, 7.0, 1 / 30) and _near(shots[2].start_s, 9.0, 1 / 30)
    keys = [s.keyframe_key or "" for s in shots]
    # Samples at 0 and 10 s show shots 0 and 2; shot 1 (7 to 9 s) gets a keyframe of its own.
    assert [k.split("/")[-2] for k in keys] == ["thumbs", "shots", "thumbs"]
    assert all(services.store.read_bytes(k)[:2] == b"\xff\xd8" for k in keys)


def test_shots_csv_and_edl_of_an_analysis(services, transitions):
    """Test that shots.csv has one row per shot (shot_index, start_s, end_s, transition) and the
    EDL one CMX 3600 event per shot, record times on the frame at or after each boundary."""
    aid = _analyse(services, transitions, fps=1)
    made = export_files(services.engine, jobs.get_analysis(services.engine, aid), 0.5,
                        ["shots", "edl"])
    rows = list(csv.DictReader(io.StringIO(made[Export.shots].decode())))
    assert list(rows[0]) == ["shot_index", "start_s", "end_s", "transition"]
    assert [(r["shot_index"], r["transition"]) for r in rows] == [
        ("0", "cut"), ("1", "cut"), ("2", "fade"), ("3", "dissolve")]
    assert float(rows[1]["start_s"]) == pytest.approx(2.0, abs=1 / 25)
    edl = made[Export.edl].decode("ascii").split("\r\n")
    assert edl[:2] == ["TITLE: transitions.mp4", "FCM: NON-DROP FRAME"]
    events = [line.split() for line in edl if line[:3].isdigit()]
    assert [e[0] for e in events] == ["001", "002", "003", "004"]
    assert all(e[2:4] == ["V", "C"] and e[4:6] == e[6:8] for e in events)
    assert events[0][4] == "00:00:00:00" and events[1][4] == "00:00:02:00"
    assert all(a[5] == b[4] for a, b in zip(events, events[1:], strict=False))  # no gaps
    assert "* FROM CLIP NAME: SHOT 4 (dissolve)" in edl
