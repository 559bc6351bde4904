"""Whole analyses on the embedded defaults: rows, artefacts, resume, cancel, failures."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.adaptive import AdaptivePolicy
from services.analysis.estimate import estimate
from services.analysis.pipeline import HEARTBEAT_EVERY_S, AnalysisRun
from services.analysis.worker import Worker, WorkerEvent
from services.context import open_services
from services.insights.results import frames_table, load_detections, load_frames
from services.library import video_info
from services.models import Detection, Frame, Status, Video
from services.upload.ingest import ingest_video
from services.vision.base import AnalyzerError, Found, FrameRefused, FrameResult, WaitState
from tests.fixtures.clock import FakeClock
from tests.fixtures.videos import make_truncated, make_video


class CountingAnalyzer:
    """A remote analyser double: one person per frame, and a record of what it was asked.

    `refuse` names frame indexes it refuses as the service refuses an image; `fail_at` makes
    the call for that frame fail the analysis (as an outage past the give-up time does).
    """

    name = "azure"
    concurrency = 4
    cache_identity = "counting"

    def __init__(self, fail_with: Exception | None = None, refuse: set[int] = frozenset(),
                 fail_at: int | None = None):
        self.seen: list[int] = []
        self.fail_with, self.refuse, self.fail_at = fail_with, refuse, fail_at
        self.shares: list[int] = []
        self.wait_state: WaitState | None = None
        self._lock = threading.Lock()

    def share_rate(self, processes: int) -> None:
        self.shares.append(processes)

    def waiting(self) -> WaitState | None:
        return self.wait_state

    def from_raw(self, raw, frame):
        return FrameResult(raw_json=raw)

    def analyze(self, frame, stop=None):
        if self.fail_with or frame.index == self.fail_at:
            raise self.fail_with or AnalyzerError("no successful answer for 600 s")
        with self._lock:
            self.seen.append(frame.index)
        if frame.index in self.refuse:
            raise FrameRefused(f"Azure AI Vision refused the frame (400 InvalidImageFormat: "
                               f"frame {frame.index} is no image)")
        return FrameResult(
            caption=f"frame {frame.index}", caption_confidence=0.9, transactions=1,
            raw_json=b"{}",
            detections=[Found("person", "person", 0.95, 1, 2, 3, 4),
                        Found("person", "person", 0.01, 5, 6, 7, 8)],
        )


class Crash(BaseException):
    """Stands in for a killed process: nothing in the run catches it."""


@pytest.fixture
def services(settings):
    return open_services(settings)


def _queue(services, path, *, analyzer="local", fps=2.0, max_frames=None, adaptive=False):
    with open(path, "rb") as f:
        video = ingest_video(services.engine, services.store, f, filename=path.name,
                             uploaded_by="tester")
    plan = estimate(video_info(video), fps=fps, max_frames=max_frames, analyzer=analyzer,
                    price_per_1000=1.0)
    return jobs.queue_analysis(services.engine, video_id=video.id, analyzer=analyzer,
                               created_by="tester", sample_fps=fps, max_frames=max_frames,
                               frames_planned=plan.frames, adaptive=adaptive).id


def _frames(services, aid) -> list[Frame]:
    with Session(services.engine) as s:
        return list(s.exec(select(Frame).where(Frame.analysis_id == aid)
                           .order_by(Frame.frame_index)))


def _run(services, aid, owner="w", remote=None, on_progress=None, clock=time.monotonic):
    assert jobs.claim(services.engine, owner, services.settings.lease_seconds, aid) == aid
    return AnalysisRun(aid, owner, engine=services.engine, store=services.store,
                       settings=services.settings, remote_factory=(lambda a: remote),
                       on_progress=on_progress, clock=clock).run()


def test_local_analysis_writes_one_row_and_thumbnail_per_sampled_frame(services, tmp_path):
    """Test that a local analysis stores every sampled frame with statistics and a thumbnail."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=3), fps=2)
    assert _run(services, aid) == Status.succeeded
    frames = _frames(services, aid)
    assert [f.frame_index for f in frames] == list(range(6))
    assert [f.timestamp_s for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert all(services.store.read_bytes(f.thumbnail_key)[:2] == b"\xff\xd8" for f in frames)
    assert all(f.brightness is not None and not f.remote_analysed for f in frames)
    row = jobs.get_analysis(services.engine, aid)
    assert (row.frames_done, row.frames_planned, row.transactions) == (6, 6, 0)
    assert row.lease_owner is None and not row.truncated


def test_remote_results_become_rows_with_counts_above_the_minimum_confidence(services, tmp_path):
    """Test that remote detections are all kept but only confident ones are counted."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=2), analyzer="azure", fps=2)
    remote = CountingAnalyzer()
    assert _run(services, aid, remote=remote) == Status.succeeded
    frames = _frames(services, aid)
    assert sorted(remote.seen) == [0, 1, 2, 3]
    # Both detections are stored; people are counted when read, at the confidence asked for.
    table = frames_table(load_frames(services.engine, aid), load_detections(services.engine, aid),
                         services.settings.min_confidence)
    assert table["people_count"].tolist() == [1, 1, 1, 1]
    assert all(services.store.exists(f.raw_result_key) for f in frames)
    with Session(services.engine) as s:
        assert len(s.exec(select(Detection).where(Detection.analysis_id == aid)).all()) == 8
    assert jobs.get_analysis(services.engine, aid).transactions == 4


def test_a_crashed_run_resumes_after_the_lease_expires_without_duplicates(services, tmp_path):
    """Test that a killed run is resumed at the first missing frame by another worker."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=4), analyzer="azure", fps=2)
    first = CountingAnalyzer()

    def crash_after_three(done, planned):
        if done >= 3:
            raise Crash

    with pytest.raises(Crash):
        _run(services, aid, owner="dead", remote=first, on_progress=crash_after_three)
    stored = [f.frame_index for f in _frames(services, aid)]
    assert stored == [0, 1, 2]
    assert jobs.claim(services.engine, "other", 30, aid) is None  # the lease still holds
    with services.engine.begin() as conn:
        conn.execute(sa.text("UPDATE analysis SET lease_expires_at = :t WHERE id = :i"),
                     {"t": "2000-01-01 00:00:00", "i": aid})
    second = CountingAnalyzer()
    assert _run(services, aid, owner="other", remote=second) == Status.succeeded
    frames = _frames(services, aid)
    assert [f.frame_index for f in frames] == list(range(8))
    assert not set(second.seen) & set(stored)
    assert sorted(second.seen) == [i for i in range(8) if i not in stored]
    assert jobs.get_analysis(services.engine, aid).transactions == 8


def test_cancel_stops_the_run_and_keeps_what_it_stored(services, tmp_path):
    """Test that cancelling mid-run ends it as cancelled with its stored frames intact."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=6), fps=4)

    clock = FakeClock()

    def cancel_at_three(done, planned):
        if done == 3:
            jobs.cancel(services.engine, aid)
            clock.now += HEARTBEAT_EVERY_S  # the next heartbeat is due: it notices the cancel

    assert _run(services, aid, on_progress=cancel_at_three, clock=clock) == Status.cancelled
    kept = len(_frames(services, aid))
    assert 3 <= kept < 24
    row = jobs.get_analysis(services.engine, aid)
    assert row.status == Status.cancelled
    assert (row.frames_done, row.lease_owner) == (kept, None)  # settled by the worker


def test_an_analyser_error_fails_the_analysis_with_its_message(services, tmp_path):
    """Test that a fatal analyser error ends the analysis as failed, with the reason."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=1), analyzer="azure")
    remote = CountingAnalyzer(fail_with=AnalyzerError("check AZURE_VISION_KEY"))
    assert _run(services, aid, remote=remote) == Status.failed
    row = jobs.get_analysis(services.engine, aid)
    assert row.error_message == "check AZURE_VISION_KEY" and row.lease_owner is None


def test_a_video_gone_from_storage_fails_with_that_reason(services, tmp_path):
    """Test that an analysis of a video whose file was removed from storage (out of band) fails
    saying so, not as an internal error, and leaves no frame and no lease."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=1))
    video = jobs.get_analysis(services.engine, aid).video_id
    with Session(services.engine) as s:
        key = s.get(Video, video).blob_key
    services.store.delete(key)
    assert _run(services, aid) == Status.failed
    row = jobs.get_analysis(services.engine, aid)
    assert row.error_message == ("the video's file is no longer in storage: upload the video "
                                 "again")
    assert row.lease_owner is None and not _frames(services, aid)


def test_a_truncated_video_is_analysed_as_far_as_it_decodes(services, tmp_path):
    """Test that a truncated mp4 succeeds with fewer frames and is marked truncated."""
    whole = make_video(tmp_path / "whole.mp4", seconds=6)
    aid = _queue(services, make_truncated(whole, tmp_path / "cut.mp4", keep_fraction=0.5), fps=2)
    assert _run(services, aid) == Status.succeeded
    row = jobs.get_analysis(services.engine, aid)
    assert row.truncated and 0 < row.frames_done < row.frames_planned


def test_the_worker_picks_up_queued_analyses(services, tmp_path):
    """Test that Worker.run_one claims and completes the oldest queued analysis."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=1), fps=1)
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings)
    assert worker.run_one() == (aid, Status.succeeded)
    assert worker.run_one() is None


def test_adaptive_policy_sends_on_new_shots_motion_and_interval():
    """Test that the adaptive policy sends the first frame, cuts, motion and every N seconds."""
    policy = AdaptivePolicy(every_s=3, motion_threshold=0.1)
    calls = [(0, 0, 0.0), (1, 0, 0.0), (2, 0, 0.5), (3, 0, 0.0), (4, 1, 0.0), (5, 1, 0.0),
             (6, 1, 0.0), (7, 1, 0.0)]
    sent = [t for t, shot, motion in calls
            if policy.should_send(t, {"shot_index": shot, "motion": motion})]
    assert sent == [0, 2, 4, 7]


def test_a_worker_reports_what_it_runs_and_how_it_ended(services, tmp_path):
    """Test that Worker.on_event sees `runs` then `ended` with the status, for each analysis."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=1), fps=2)
    events: list[WorkerEvent] = []
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    owner="w1", on_event=events.append)
    assert worker.run_one() == (aid, Status.succeeded)
    assert events == [WorkerEvent("runs", "w1", aid), WorkerEvent("ended", "w1", aid,
                                                                  Status.succeeded)]


class CancellingAnalyzer(CountingAnalyzer):
    """Cancels the analysis (as a user would) while frame `at` is being analysed."""

    def __init__(self, engine, analysis_id: str, at: int):
        super().__init__()
        self.engine, self.analysis_id, self.at = engine, analysis_id, at

    def analyze(self, frame, stop=None):
        if frame.index == self.at:
            jobs.cancel(self.engine, self.analysis_id)
        return super().analyze(frame, stop)


def test_frames_in_flight_at_a_cancel_leave_no_row_and_no_blob(services, tmp_path):
    """Test that frames whose answers arrive after a cancel are neither stored nor leave blobs,
    and that the stored progress equals the stored frames."""
    aid = _queue(services, make_video(tmp_path / "v.mp4", seconds=6), analyzer="azure", fps=2)
    remote = CancellingAnalyzer(services.engine, aid, at=8)
    assert _run(services, aid, remote=remote) == Status.cancelled
    stored = {f.frame_index for f in _frames(services, aid)}
    assert max(stored, default=0) < 8 and len(remote.seen) > len(stored)  # some were in flight
    row = jobs.get_analysis(services.engine, aid)
    assert (row.frames_done, row.transactions) == (len(stored), len(stored))
    blobs = services.store.list(f"analyses/{aid}/")
    assert sorted(blobs) == sorted(f"analyses/{aid}/{kind}/{i:07d}.{ext}" for i in stored
                                   for kind, ext in (("thumbs", "jpg"), ("raw", "json")))
