"""Shot-aware sampling (issue 20 item 3): the planner, the frames it samples and their times, the
estimate before the run, a whole Azure AI Vision run against the emulator (requests, segments,
shots, a retry that samples the same frames) and `cli.py analyze --sampling shots`."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import threading
from pathlib import Path

import pytest
from sqlmodel import Session, select

from services.analysis import jobs, shot_sampling
from services.analysis.estimate import estimate
from services.analysis.retry import retry_analysis
from services.analysis.shot_sampling import ShotPlan, ShotScan, plan_times
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import open_services
from services.domain import AnalyzerKind
from services.insights.results import load_detections, load_frames
from services.insights.segments import label_segments
from services.library import list_analyses, video_info
from services.models import Analysis, Frame, Shot, Status, Video
from services.upload.ingest import ingest_video
from services.video.probe import VideoInfo, probe
from services.video.sampling import sample_at
from services.video.shots import Shot as FoundShot
from tests.fixtures.library import scene_env
from tests.fixtures.scenes import BLUE, GREEN, SceneEmulator
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import CUT_COLOURS, FFMPEG
from tests.fixtures.vision_faults import Fault

FPS = 25
CUTS = (3.0, 12.0, 13.0)  # shots of 3, 9, 1 and 7 s in a 20 s video


def cuts_video(path: Path) -> Path:
    """20 s at 25 fps of CUT_COLOURS cut at CUTS, each frame unlike the others (a small black
    box moves): the result cache cannot answer one frame for another."""
    bounds, parts = [0.0, *CUTS, 20.0], []
    for i, (a, b) in enumerate(itertools.pairwise(bounds)):
        colour = "0x{:02x}{:02x}{:02x}".format(*CUT_COLOURS[i])
        parts.append(f"color=c={colour}:size=320x240:rate={FPS}:duration={b - a}[c{i}];"
                     f"color=c=black:size=12x12:rate={FPS}:duration={b - a}[k{i}];"
                     f"[c{i}][k{i}]overlay=x='20+10*t':y=200:shortest=1[s{i}]")
    graph = ";".join(parts) + ";" + "".join(f"[s{i}]" for i in range(len(CUTS) + 1)) \
        + f"concat=n={len(CUTS) + 1}:v=1:a=0[out0]"
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    graph, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)],
                   check=True, capture_output=True)
    return path


def _shots(bounds: list[float]) -> list[FoundShot]:
    return [FoundShot(i, a, b, "cut") for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def test_the_planner_takes_one_frame_per_shot_and_one_per_n_seconds_of_a_long_one():
    """Test that shots of 3, 9, 1 and 7 s at N = 4 get 1, 3, 1 and 2 frames at the middles of
    their equal parts, that frame times move each to the nearest frame inside its shot, and
    that a bad N is refused."""
    shots = _shots([0.0, 3.0, 12.0, 13.0, 20.0])
    assert plan_times(shots, 4.0) == [1.5, 4.5, 7.5, 10.5, 12.5, 14.75, 18.25]
    frames = [k / FPS for k in range(20 * FPS)]
    snapped = plan_times(shots, 4.0, frames)
    assert snapped == [1.48, 4.48, 7.48, 10.48, 12.48, 14.76, 18.24]  # ties: the earlier
    assert all(round(t * FPS, 6) == round(t * FPS) for t in snapped)
    # Every moment of a shot is at most N / 2 from a sample of that shot.
    assert plan_times(_shots([0.0, 100.0]), 10.0) == [5.0 + 10 * k for k in range(10)]
    # Frames sparser than the parts (a frame every 2 s): each frame sampled once.
    assert plan_times(_shots([0.0, 3.0]), 1.0, [0.0, 2.0]) == [0.0, 2.0]
    for bad in (0.5, 0.0, -3.0, math.nan, 7200.0):
        with pytest.raises(ValueError, match="must be at least 1 and at most 3600 seconds"):
            plan_times(shots, bad)


def test_a_plan_keeps_its_frames_through_json_and_max_frames():
    """Test that the stored JSON gives back the same plan, and max_frames keeps its first."""
    found = ShotScan(tuple(_shots([0.0, 3.0, 12.0, 13.0, 20.0])), ())
    whole = shot_sampling.plan(found, 4.0)
    assert ShotPlan.from_json(whole.to_json()) == whole
    assert shot_sampling.plan(found, 4.0, max_frames=3).times == whole.times[:3]
    assert shot_sampling.stored_plan(None) is None


def test_sampled_frames_are_the_planned_frames_of_each_shot(tmp_path):
    """Test that the shot pass finds the cuts, and the frames sampled are at real frame times,
    in the shot planned (its colour), at least one per shot."""
    path = cuts_video(tmp_path / "cuts.mp4")
    info = probe(path)
    found = shot_sampling.scan(path, info.duration_s)
    assert [s.start_s for s in found.shots] == [0.0, *CUTS]
    planned = shot_sampling.plan(found, 4.0)
    assert len(planned.times) == 7
    frames = list(sample_at(path, planned.times, info=info))
    assert [f.timestamp_s for f in frames] == list(planned.times)
    assert set(planned.times) <= set(found.frame_times)  # real frame times, none in between
    for frame in frames:
        shot = next(s for s in found.shots if s.start_s <= frame.timestamp_s < s.end_s)
        assert tuple(frame.rgb[4, 4]) == pytest.approx(CUT_COLOURS[shot.index], abs=8)


def test_the_estimate_counts_the_planned_frames():
    """Test that a shot plan's frames replace the rate's: one transaction each, and its price."""
    info = VideoInfo(duration_s=300.0, fps=25.0, width=640, height=360, codec="h264")
    found = ShotScan(tuple(_shots([0.0, 41.3, 78.0, 80.7, 300.0])), ())
    planned = shot_sampling.plan(found, 10.0)
    assert planned.frames == 5 + 4 + 1 + 22
    plan = estimate(info, fps=1, max_frames=None, analyzer="azure", price_per_1000=1.5,
                    shot_plan=planned)
    assert (plan.frames, plan.transactions, plan.cost) == (32, 32, 0.048)
    fixed = estimate(info, fps=1, max_frames=None, analyzer="azure", price_per_1000=1.5)
    assert fixed.frames == 300


def _scene_services(tmp_path, emulator, **extra: str):
    env = scene_env(tmp_path / "data", emulator) | extra
    return open_services(load_settings(env, dotenv=None))


def _queue_shot_aware(services, path, every_s: float) -> tuple[str, ShotPlan]:
    with path.open("rb") as stream:
        video = ingest_video(services.engine, services.store, stream, filename=path.name,
                             uploaded_by="tester")
    found = shot_sampling.scan(path, video.duration_s)
    planned = shot_sampling.plan(found, every_s)
    cost = estimate(video_info(video), fps=1, max_frames=None, analyzer="azure",
                    price_per_1000=1.0, shot_plan=planned)
    aid = jobs.queue_analysis(
        services.engine, video_id=video.id, analyzer="azure", created_by="tester",
        sample_fps=shot_sampling.mean_rate(planned, video.duration_s), max_frames=None,
        frames_planned=cost.frames, features=services.settings.vision_features,
        sampling_plan=planned.to_json()).id
    return aid, planned


def _times(services, aid) -> list[float]:
    with Session(services.engine) as s:
        return [f.timestamp_s for f in s.exec(select(Frame).where(Frame.analysis_id == aid)
                                              .order_by(Frame.frame_index))]


def test_an_azure_run_sends_only_the_planned_frames_and_finds_each_shots_labels(tmp_path):
    """Test that a shot-aware Azure AI Vision run against the emulator sends one request per
    planned frame, stores them at the planned times, stores the shots found before the run with
    a sampled keyframe each, and finds the blue and green shots' OCR lines as segments."""
    path = cuts_video(tmp_path / "cuts.mp4")
    with SceneEmulator(lines={BLUE: "BLUE LINE", GREEN: "GREEN LINE"}) as emulator:
        services = _scene_services(tmp_path, emulator)
        aid, planned = _queue_shot_aware(services, path, 4.0)
        Worker(engine=services.engine, store=services.store, settings=services.settings) \
            .run_one(aid)
        assert emulator.requests == planned.frames == 7
    done = jobs.get_analysis(services.engine, aid)
    assert (done.status, done.frames_done, done.transactions) == (Status.succeeded, 7, 7)
    assert _times(services, aid) == list(planned.times)
    with Session(services.engine) as s:
        shots = s.exec(select(Shot).where(Shot.analysis_id == aid)
                       .order_by(Shot.shot_index)).all()
    assert [x.start_s for x in shots] == [0.0, *CUTS]
    assert all(x.keyframe_key and "/thumbs/" in x.keyframe_key for x in shots), \
        [x.keyframe_key for x in shots]
    segs = label_segments(load_frames(services.engine, aid), load_detections(services.engine, aid),
                          0.5, ("text_line",))
    lines = {(r.label, r.start_s, r.end_s) for r in segs.itertuples()
             if r.label in ("BLUE LINE", "GREEN LINE")}
    # CUT_COLOURS: red, blue, green, white: blue is shot 1 (3-12 s), green shot 2 (12-13 s).
    assert lines == {("BLUE LINE", 4.48, 10.48), ("GREEN LINE", 12.48, 12.48)}
    services.engine.dispose()


def test_a_retry_samples_the_same_frames_without_sending_any_twice(tmp_path):
    """Test that an analysis failed by the service (its key revoked after two answers: 401
    from then on, as the service answers; one request at a time) and retried once the key is
    back sends only the frames still missing, at the planned times: as many answers as frames
    planned."""
    path = cuts_video(tmp_path / "cuts.mp4")
    with SceneEmulator() as emulator:
        services = _scene_services(tmp_path, emulator, AZURE_VISION_CONCURRENCY="1")
        aid, planned = _queue_shot_aware(services, path, 4.0)
        revoked = emulator.stretch(Fault(401), seconds=3600.0, after=2)
        worker = Worker(engine=services.engine, store=services.store, settings=services.settings)
        worker.run_one(aid)
        failed = jobs.get_analysis(services.engine, aid)
        assert (failed.status, failed.frames_done) == (Status.failed, 2)
        assert retry_analysis(services.engine, aid).sampling_plan == planned.to_json()
        # A request the failed run had already handed to its thread still arrives (abandoned,
        # not awaited): the key comes back only after it, as it would in the service.
        wait_for(lambda: not any(t.name.startswith("analyse") for t in threading.enumerate()),
                 "the failed run's requests to end")
        revoked.seconds = 0.0  # the key is back: the stretch is over
        worker.run_one(aid)
        assert emulator.statuses[401] >= 1 and emulator.statuses[200] == planned.frames
    assert jobs.get_analysis(services.engine, aid).status == Status.succeeded
    assert _times(services, aid) == list(planned.times)
    services.engine.dispose()


def test_cli_analyze_with_shot_aware_sampling(env, tmp_path):
    """Test that `analyze --sampling shots --every 4` plans before the run (frames and shots
    said on stderr), stores the plan and its frames; and that bad values are one line each,
    leaving nothing stored."""
    from tests.fixtures.cli import cli

    path = cuts_video(tmp_path / "cuts.mp4")
    done = cli(env, "analyze", str(path), "--sampling", "shots", "--every", "4")
    assert done.returncode == 0, done.stderr
    assert "7 frames (4 shots, one per 4 s of a longer shot)" in done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["frames"]) == ("succeeded", 7)
    services = open_services(load_settings({"FRAMEWISE_DATA_DIR": env["FRAMEWISE_DATA_DIR"]},
                                           dotenv=None))
    stored = ShotPlan.from_json(jobs.get_analysis(services.engine,
                                                  summary["analysis_id"]).sampling_plan)
    assert stored.every_s == 4.0 and len(stored.shots) == 4
    assert _times(services, summary["analysis_id"]) == list(stored.times)
    for args, line in (
        (["--sampling", "shots", "--every", "0.5"],
         "argument --every: must be at least 1 and at most 3600 seconds"),
        (["--every", "5"], "error: --every is for --sampling shots"),
        (["--sampling", "shots", "--adaptive"], "error: --adaptive is for --sampling fps"),
        (["--sampling", "shots", "--fps", "2"], "error: --fps is for --sampling fps"),
    ):
        bad = cli(env, "analyze", str(path), *args)
        assert bad.returncode == 2 and line in bad.stderr.strip().splitlines()[-1], bad.stderr
        assert "Traceback" not in bad.stderr and bad.stdout == ""
    with Session(services.engine) as s:  # checked before the video is stored: no second one
        assert len(s.exec(select(Video)).all()) == 1
        assert len(s.exec(select(Analysis)).all()) == 1
    services.engine.dispose()


def test_the_upload_page_plans_shot_aware_sampling_before_queueing(app_services, monkeypatch,
                                                                   tmp_path, vision_emulator):
    """Test that choosing Shot-aware on the Upload page (Azure AI Vision) finds the shots, shows
    the frames planned and their transactions and cost, and queues the analysis with its plan;
    a new N plans again without the cloud."""
    from tests.fixtures.apptest import app
    from tests.fixtures.uploads import upload_through_page

    monkeypatch.setenv("AZURE_VISION_ENDPOINT", vision_emulator.endpoint)
    monkeypatch.setenv("AZURE_VISION_KEY", vision_emulator.key)
    at = app().run()
    upload_through_page(at, "cuts.mp4", cuts_video(tmp_path / "cuts.mp4").read_bytes())
    next(r for r in at.radio if r.label == "Analyser").set_value(AnalyzerKind.azure).run()
    sampling = next(r for r in at.radio if r.label == "Sampling")
    sampling.set_value("Shot-aware").run()
    assert not at.exception, at.exception
    every = next(n for n in at.number_input if n.label == "A frame per N seconds of a long shot")
    assert every.value == 10.0
    metrics = {m.label: m.value for m in at.metric}
    # Shots of 3, 9, 1 and 7 s at N = 10: a frame each.
    assert (metrics["Frames planned"], metrics["Azure transactions"]) == ("4", "4")
    assert any("4 shots found" in c.value for c in at.caption)
    next(n for n in at.number_input if n.label == every.label).set_value(4.0).run()
    assert {m.label: m.value for m in at.metric}["Frames planned"] == "7"
    assert not any(c.label == "Adaptive" for c in at.checkbox)  # not with shot-aware sampling
    next(b for b in at.button if b.label == "Queue analysis").click().run()
    assert not at.exception, at.exception
    analysis = list_analyses(app_services.engine)[0][0]
    stored = ShotPlan.from_json(analysis.sampling_plan)
    assert (analysis.frames_planned, stored.every_s, len(stored.times)) == (7, 4.0, 7)
    assert [s.start_s for s in stored.shots] == [0.0, *CUTS]
    assert vision_emulator.requests == 0  # planning asks the cloud nothing
