"""The job queue on real engines: claims, leases, heartbeats, cancel."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from services.analysis import jobs
from services.db import session_scope
from services.models import Analysis, Status, Video, utcnow


def _video(engine) -> str:
    video = Video(original_filename="v.mp4", blob_key=f"videos/{utcnow().timestamp()}.mp4",
                  size_bytes=1, sha256="0" * 64, duration_s=1, fps=30, width=64, height=64,
                  codec="h264", uploaded_by="t")
    with session_scope(engine) as session:
        session.add(video)
    return video.id


def _queue(engine, video_id, n=1) -> list[str]:
    return [jobs.queue_analysis(engine, video_id=video_id, analyzer="local", created_by="t",
                                sample_fps=1, max_frames=None, frames_planned=1).id
            for _ in range(n)]


def _expire(engine, analysis_id):
    with engine.begin() as conn:
        conn.execute(sa.update(Analysis.__table__).where(Analysis.__table__.c.id == analysis_id)
                     .values(lease_expires_at=utcnow() - timedelta(seconds=1)))


def test_claim_takes_the_oldest_queued_analysis_and_sets_a_lease(engine):
    """Test that a claim marks the analysis running under the claimer's lease."""
    first, second = _queue(engine, _video(engine), 2)
    assert jobs.claim(engine, "w1", 30) == first
    row = jobs.get_analysis(engine, first)
    assert row.status == Status.running and row.lease_owner == "w1"
    assert row.lease_expires_at > utcnow() + timedelta(seconds=25)
    assert jobs.claim(engine, "w2", 30) == second
    assert jobs.claim(engine, "w3", 30) is None


def test_concurrent_claimers_never_take_the_same_analysis(engine):
    """Test that of many threads claiming at once, each analysis goes to exactly one."""
    ids = _queue(engine, _video(engine), 6)
    won: list[str] = []
    barrier = threading.Barrier(8)

    def claimer(n):
        barrier.wait()
        while (got := jobs.claim(engine, f"w{n}", 30)) is not None:
            won.append(got)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == sorted(ids)


def test_a_live_lease_is_not_taken_but_an_expired_one_is(engine):
    """Test that another worker takes an analysis over only after its lease expires."""
    (aid,) = _queue(engine, _video(engine), 1)
    assert jobs.claim(engine, "crashed", 30) == aid
    assert jobs.claim(engine, "other", 30) is None
    _expire(engine, aid)
    assert jobs.claim(engine, "other", 30) == aid
    assert not jobs.heartbeat(engine, aid, "crashed", 30)
    assert jobs.heartbeat(engine, aid, "other", 30, frames_done=3)
    assert jobs.get_analysis(engine, aid).frames_done == 3


def test_cancel_stops_heartbeats_and_finish(engine):
    """Test that a cancelled analysis refuses its worker's heartbeat and final status."""
    (aid,) = _queue(engine, _video(engine), 1)
    jobs.claim(engine, "w", 30)
    assert jobs.cancel(engine, aid)
    assert not jobs.heartbeat(engine, aid, "w", 30)
    assert not jobs.finish(engine, aid, "w", Status.succeeded)
    assert jobs.get_analysis(engine, aid).status == Status.cancelled
    assert not jobs.cancel(engine, aid)


def test_finish_records_status_and_releases_the_lease(engine):
    """Test that finishing sets the outcome, the end time and clears the lease."""
    (aid,) = _queue(engine, _video(engine), 1)
    jobs.claim(engine, "w", 30)
    assert jobs.finish(engine, aid, "w", Status.failed, "boom", frames_done=1)
    row = jobs.get_analysis(engine, aid)
    assert (row.status, row.error_message, row.lease_owner) == ("failed", "boom", None)
    assert row.finished_at is not None and jobs.claim(engine, "w2", 30) is None
