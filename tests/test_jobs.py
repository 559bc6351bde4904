"""The job queue on real engines: claims, leases on the database's clock, heartbeats, cancel,
fenced frame writes."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.analysis import jobs
from services.db import db_now
from services.models import Analysis, Detection, Frame, Status, utcnow
from tests.fixtures import tools
from tests.fixtures.factories import add_video
from tests.fixtures.tools import ROOT

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _video(engine) -> str:
    return add_video(engine).id


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
    assert jobs.heartbeat(engine, aid, "other", 30)


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
    assert jobs.finish(engine, aid, "w", Status.failed, "boom")
    row = jobs.get_analysis(engine, aid)
    assert (row.status, row.error_message, row.lease_owner) == ("failed", "boom", None)
    assert row.finished_at is not None and jobs.claim(engine, "w2", 30) is None


# ---------------------------------------------------------------- fenced frame writes


def _frame(aid: str, index: int, transactions: int = 1) -> dict:
    return dict(analysis_id=aid, frame_index=index, timestamp_s=float(index), width=4, height=4,
                remote_analysed=True, transactions=transactions)


def _found(aid: str, index: int, n: int = 2) -> list[dict]:
    return [dict(analysis_id=aid, frame_index=index, kind="tag", label=f"tag {j}", confidence=0.9)
            for j in range(n)]


def _counts(engine, aid) -> tuple[int, int, int, int]:
    """(frame rows, detection rows, frames_done, transactions) of an analysis."""
    with engine.connect() as conn:
        frames = conn.scalar(sa.select(sa.func.count()).select_from(Frame)
                             .where(Frame.analysis_id == aid))
        found = conn.scalar(sa.select(sa.func.count()).select_from(Detection)
                            .where(Detection.analysis_id == aid))
    row = jobs.get_analysis(engine, aid)
    return frames, found, row.frames_done, row.transactions


def test_a_frame_and_the_progress_it_makes_are_stored_together(engine):
    """Test that record_frame stores the frame, its detections and the progress as one."""
    (aid,) = _queue(engine, _video(engine), 1)
    jobs.claim(engine, "w", 30)
    for i in range(3):
        assert jobs.record_frame(engine, aid, "w", 30, _frame(aid, i, 2), _found(aid, i, 3))
    assert _counts(engine, aid) == (3, 9, 3, 6)


def test_nothing_is_stored_after_a_cancel_a_lost_lease_or_a_delete(engine, settings):
    """Test that a write after a cancel, an expired or taken-over lease, or a delete stores no
    row and counts no progress."""
    video = _video(engine)
    cancelled, expired, taken, deleted = _queue(engine, video, 4)
    for aid in (cancelled, expired, taken, deleted):
        assert jobs.claim(engine, "w", 30, aid) == aid
        assert jobs.record_frame(engine, aid, "w", 30, _frame(aid, 0), _found(aid, 0))
    jobs.cancel(engine, cancelled)
    _expire(engine, expired)
    _expire(engine, taken)
    assert jobs.claim(engine, "other", 30, taken) == taken
    from services.library import delete_analysis
    from services.storage.factory import make_blob_store

    delete_analysis(engine, make_blob_store(settings), deleted)
    for aid in (cancelled, expired, taken, deleted):
        assert not jobs.record_frame(engine, aid, "w", 30, _frame(aid, 1), _found(aid, 1)), aid
    assert _counts(engine, cancelled) == _counts(engine, expired) == (1, 2, 1, 1)
    assert _counts(engine, taken) == (1, 2, 1, 1)  # recounted from the rows at the takeover
    assert jobs.record_frame(engine, taken, "other", 30, _frame(taken, 1), _found(taken, 1))
    assert _counts(engine, taken) == (2, 4, 2, 2)
    assert jobs.get_analysis(engine, deleted) is None
    assert not jobs.heartbeat(engine, expired, "w", 30)  # an expired lease is lost for good


def test_a_claim_recounts_progress_from_the_stored_frames(engine):
    """Test that resuming an analysis whose counters lag its rows (the first release wrote them
    at heartbeats) starts from the frames actually stored."""
    (aid,) = _queue(engine, _video(engine), 1)
    jobs.claim(engine, "dead", 30)
    with engine.begin() as conn:
        conn.execute(sa.insert(Frame.__table__), [_frame(aid, i, 3) for i in range(4)])
    _expire(engine, aid)
    assert jobs.get_analysis(engine, aid).frames_done == 0
    assert jobs.claim(engine, "next", 30) == aid
    assert _counts(engine, aid) == (4, 0, 4, 12)


# ---------------------------------------------------------------- the database's clock


def _libfaketime() -> str:
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not found:
        tools.missing("libfaketime (Debian package faketime)")
    return found[0]


@postgres_only
def test_a_worker_whose_clock_runs_two_minutes_ahead_never_takes_over_a_live_lease(
    engine, database_url, tmp_path
):
    """Test that `cli.py worker` under libfaketime two minutes ahead leaves a live 30 s lease
    alone (leases are compared on the database's clock), and claims it once it has expired."""
    video = _video(engine)
    (aid,) = _queue(engine, video, 1)
    assert jobs.claim(engine, "alive-elsewhere", 30, aid) == aid
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": database_url,
           "FRAMEWISE_DATA_DIR": str(tmp_path / "data"), "LD_PRELOAD": _libfaketime(),
           "FAKETIME": "+120", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}

    def skewed(*args: str) -> str:
        done = subprocess.run([sys.executable, *args], env=env, cwd=tmp_path, text=True,
                              capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    ahead = float(skewed("-c", "import time; print(time.time())")) - time.time()
    assert 110 < ahead < 130, ahead  # the worker's clock really runs two minutes ahead
    assert skewed(str(ROOT / "cli.py"), "worker", "--once") == "{}"
    row = jobs.get_analysis(engine, aid)
    assert (row.status, row.lease_owner) == (Status.running, "alive-elsewhere")

    with engine.begin() as conn:  # the lease runs out, by the database's clock
        conn.execute(sa.update(Analysis.__table__).where(Analysis.__table__.c.id == aid)
                     .values(lease_expires_at=db_now(-1)))
    assert json.loads(skewed(str(ROOT / "cli.py"), "worker", "--once"))["analysis_id"] == aid
