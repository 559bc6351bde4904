"""The queue in one process: refused frames, give-up, wait messages, hand-back, retry, temp sweep.

Analyses run on the embedded defaults with a scripted remote analyser (tests/fixtures/analyzers.py)
behind the Analyzer protocol; the emulator tests are in tests/test_outages.py.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import threading
import time

import pytest
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.estimate import estimate
from services.analysis.progress import analysis_wait_text, frames_failed
from services.analysis.retry import RetryRefused, retry_analysis
from services.analysis.worker import Worker
from services.context import open_services
from services.insights.exports import frames_csv
from services.insights.results import load_detections, load_frames
from services.library import video_info
from services.models import Frame, Status
from services.storage.local import TEMP_PREFIX
from services.upload.ingest import ingest_video
from services.vision.base import WaitState
from tests.fixtures.analyzers import ScriptedAnalyzer
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video

THROTTLED = WaitState("Azure AI Vision is throttling", 5.0)


@pytest.fixture
def services(settings):
    return open_services(settings)


def queue(services, path, fps=2.0) -> str:
    with open(path, "rb") as f:
        video = ingest_video(services.engine, services.store, f, filename=path.name,
                             uploaded_by="tester")
    plan = estimate(video_info(video), fps=fps, max_frames=None, analyzer="azure",
                    price_per_1000=1.0)
    return jobs.queue_analysis(services.engine, video_id=video.id, analyzer="azure",
                               created_by="tester", sample_fps=fps, max_frames=None,
                               frames_planned=plan.frames).id


def worker_for(services, remote) -> Worker:
    return Worker(engine=services.engine, store=services.store, settings=services.settings,
                  remote_factory=lambda analysis: remote, poll_s=0.05)


def frames(services, aid) -> list[Frame]:
    with Session(services.engine) as s:
        return list(s.exec(select(Frame).where(Frame.analysis_id == aid)
                           .order_by(Frame.frame_index)))


def in_thread(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_a_refused_frame_is_stored_as_not_analysed_and_the_analysis_succeeds(services,
                                                                              tmp_path):
    """Test that a frame the service refuses keeps its reason and the other frames go on."""
    aid = queue(services, make_video(tmp_path / "v.mp4", seconds=3), fps=2)
    remote = ScriptedAnalyzer(refuse={2})
    assert worker_for(services, remote).run_one(aid) == (aid, Status.succeeded)
    rows = frames(services, aid)
    assert [f.frame_index for f in rows] == list(range(6))
    refused = rows[2]
    assert refused.error.startswith("Azure AI Vision refused the frame (400 InvalidImageFormat")
    assert not refused.remote_analysed and refused.transactions == 0
    assert all(f.error is None and f.remote_analysed for f in rows if f.frame_index != 2)
    assert frames_failed(services.engine, aid) == 1
    exported = frames_csv(load_frames(services.engine, aid),
                          load_detections(services.engine, aid), 0.5)
    table = list(csv.DictReader(io.StringIO(exported.decode())))
    assert [r["error"] for r in table] == ["", "", refused.error, "", "", ""]
    assert table[2]["people_count"] == "" and table[1]["people_count"] == "1"
    assert jobs.get_analysis(services.engine, aid).transactions == 5


def test_giving_up_fails_the_analysis_saying_how_far_it_got(services, tmp_path):
    """Test that an analyser that gives up fails the run with the frames stored so far named."""
    aid = queue(services, make_video(tmp_path / "v.mp4", seconds=4), fps=2)
    assert worker_for(services, ScriptedAnalyzer(fail_at=5)).run_one(aid) == (aid,
                                                                             Status.failed)
    row = jobs.get_analysis(services.engine, aid)
    assert "no successful answer for 600 s" in row.error_message
    assert "5 of 8 frames analysed" in row.error_message and "retry" in row.error_message
    assert [f.frame_index for f in frames(services, aid)] == [0, 1, 2, 3, 4]


def test_a_wait_is_recorded_for_the_page_and_cleared_when_it_ends(services, tmp_path):
    """Test that while the analyser waits, the analysis row says so; the words go when it ends."""
    aid = queue(services, make_video(tmp_path / "v.mp4", seconds=4), fps=2)
    remote = ScriptedAnalyzer(hold_from=3, wait_state=THROTTLED)
    statuses: list = []
    worker = worker_for(services, remote)
    runner = in_thread(lambda: statuses.append(worker.run_one(aid, on_status=statuses.append)))
    row = wait_for(lambda: (a := jobs.get_analysis(services.engine, aid)).status_message
                   and a.frames_done == 3 and a, "the wait to be recorded", timeout=30)
    text = analysis_wait_text(row)
    assert text.startswith("Azure AI Vision is throttling: waiting ")
    assert text.endswith("s; 3 of 8 frames analysed") and row.frames_done == 3
    assert re.fullmatch(r"Azure AI Vision is throttling: waiting 5 s; [0-3] of 8 frames analysed",
                        statuses[0])
    remote.release.set()
    runner.join(30)
    row = jobs.get_analysis(services.engine, aid)
    assert statuses[-1] == (aid, Status.succeeded) and None in statuses
    assert row.status_message is None and row.waiting_until is None
    assert analysis_wait_text(row) is None


def test_a_cancel_abandons_a_waiting_call(services, tmp_path):
    """Test that a cancel wakes the calls held by the analyser and ends the run at once."""
    aid = queue(services, make_video(tmp_path / "v.mp4", seconds=4), fps=2)
    remote = ScriptedAnalyzer(hold_from=2, wait_state=THROTTLED)
    outcome: list = []
    worker = worker_for(services, remote)
    runner = in_thread(lambda: outcome.append(worker.run_one(aid)))
    assert remote.holding.wait(30)
    assert jobs.cancel(services.engine, aid)
    runner.join(10)
    assert outcome == [(aid, Status.cancelled)]
    # The run does not wait for the held call: that call sees the stop event on its own thread.
    wait_for(lambda: remote.cancelled >= 1, "the held call to be woken by the cancel", timeout=10)
    assert not remote.release.is_set()  # abandoned, never answered
    row = jobs.get_analysis(services.engine, aid)
    # Frames 0 and 1 were answered; those still on their way to the database at the cancel are
    # not stored: the progress is exactly what is stored.
    assert row.lease_owner is None and row.frames_done == len(frames(services, aid)) <= 2


def test_stopping_a_worker_hands_its_analyses_back_at_once(services, tmp_path):
    """Test that Worker.stop puts running analyses back in the queue, frames kept, lease freed."""
    ids = [queue(services, make_video(tmp_path / f"v{i}.mp4", seconds=3, size=(320 + 16 * i,
                                                                            240)), fps=2)
           for i in range(2)]
    remote = ScriptedAnalyzer(hold_from=2)
    worker = worker_for(services, remote)
    worker.start()
    wait_for(lambda: len(worker.running()) == 2 and all(
        len(frames(services, a)) == 2 for a in ids), "both analyses under way", timeout=30)
    worker.stop(hand_back=True)
    assert worker.running() == [] and not worker.alive
    for aid in ids:
        row = jobs.get_analysis(services.engine, aid)
        assert (row.status, row.lease_owner, row.lease_expires_at) == (Status.queued, None, None)
        assert row.frames_done == 2 and len(frames(services, aid)) == 2
    second = ScriptedAnalyzer()
    for aid in ids:  # another worker resumes each at its first missing frame
        assert worker_for(services, second).run_one(aid) == (aid, Status.succeeded)
    assert sorted(second.seen) == [2, 2, 3, 3, 4, 4, 5, 5]


def test_retry_continues_from_the_first_missing_frame_and_tries_refused_frames_again(
    services, tmp_path
):
    """Test that a retried analysis sends only the frames not stored or refused."""
    aid = queue(services, make_video(tmp_path / "v.mp4", seconds=4), fps=2)
    first = ScriptedAnalyzer(refuse={1}, fail_at=5)
    assert worker_for(services, first).run_one(aid) == (aid, Status.failed)
    queued = retry_analysis(services.engine, aid)
    assert (queued.status, queued.error_message, queued.frames_done) == (Status.queued, None, 4)
    assert [f.frame_index for f in frames(services, aid)] == [0, 2, 3, 4]
    again = ScriptedAnalyzer()
    assert worker_for(services, again).run_one(aid) == (aid, Status.succeeded)
    assert sorted(again.seen) == [1, 5, 6, 7]
    row = jobs.get_analysis(services.engine, aid)
    assert row.frames_done == 8 and frames_failed(services.engine, aid) == 0
    with pytest.raises(RetryRefused, match="only a failed or cancelled"):
        retry_analysis(services.engine, aid)
    with pytest.raises(RetryRefused, match="no analysis"):
        retry_analysis(services.engine, "0" * 32)


def test_one_worker_runs_a_short_analysis_beside_a_long_one(services, tmp_path):
    """Test the fair queue: a short analysis queued after a long one ends first, same worker."""
    long_id = queue(services, make_video(tmp_path / "long.mp4", seconds=12), fps=2)
    remote = ScriptedAnalyzer(hold_from=4)  # the long one waits, as a slow service would
    worker = worker_for(services, remote)
    worker.start()
    try:
        wait_for(lambda: len(frames(services, long_id)) == 4, "the long one under way")
        short_id = queue(services, make_video(tmp_path / "short.mp4", seconds=1,
                                              size=(352, 240)), fps=2)
        # Only the long one's frames from 4 on are held; the short one has 2 frames.
        wait_for(lambda: jobs.get_analysis(services.engine, short_id).status
                 == Status.succeeded, "the short analysis to finish", timeout=30)
        assert jobs.get_analysis(services.engine, long_id).status == Status.running
        remote.release.set()
        wait_for(lambda: jobs.get_analysis(services.engine, long_id).status
                 == Status.succeeded, "the long analysis to finish", timeout=60)
    finally:
        worker.stop()


def test_a_starting_worker_removes_stale_temp_files_only(services, tmp_path, monkeypatch):
    """Test that old .upload-* and framewise-* leftovers go, and files in use stay."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    blobs = services.settings.data_dir / "blobs" / "videos"
    blobs.mkdir(parents=True, exist_ok=True)
    old, fresh = blobs / f"{TEMP_PREFIX}killed", blobs / f"{TEMP_PREFIX}uploading"
    copy, other = temp / "framewise-abc.mp4", temp / "someone-else.mp4"
    for path in (old, fresh, copy, other):
        path.write_bytes(b"x" * 1000)
    an_hour_ago = time.time() - 3600
    for path in (old, copy, other):
        os.utime(path, (an_hour_ago, an_hour_ago))
    assert worker_for(services, ScriptedAnalyzer()).sweep_temp() == 2000
    assert not old.exists() and not copy.exists()
    assert fresh.exists() and other.exists()
