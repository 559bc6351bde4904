"""Listing and deleting with every row and blob: one transaction for the rows, blobs after,
failed blob deletes retried."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.worker import Worker
from services.context import open_services
from services.library import delete_video, delete_video_if_unused, list_analyses
from services.models import Analysis, Detection, Frame, PendingBlobDelete, Video
from services.storage.base import StorageError
from services.storage.factory import make_blob_store
from services.storage.local import LocalBlobStore
from services.upload.ingest import ingest_video
from tests.fixtures.factories import add_video
from tests.fixtures.locks import run_blocked_behind
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video


@pytest.fixture
def services(settings):
    return open_services(settings)


def test_deleting_a_video_removes_its_analyses_rows_and_every_blob(services, tmp_path):
    """Test that deleting a video leaves nothing in storage or tables."""
    path = make_video(tmp_path / "v.mp4", seconds=2)
    with open(path, "rb") as f:
        video = ingest_video(services.engine, services.store, f, filename="v.mp4",
                             uploaded_by="a")
    for _ in range(2):
        jobs.queue_analysis(services.engine, video_id=video.id, analyzer="local",
                            created_by="a", sample_fps=1, max_frames=None, frames_planned=2)
        Worker(engine=services.engine, store=services.store, settings=services.settings).run_one()
    assert len(list_analyses(services.engine)) == 2 and len(services.store.list()) > 1
    delete_video(services.engine, services.store, video.id)
    assert services.store.list() == []
    with Session(services.engine) as s:
        for table in (Video, Analysis, Frame, Detection):
            assert s.exec(select(table)).all() == []


def test_a_video_no_analysis_uses_is_removed_and_a_used_one_kept(services, tmp_path):
    """Test delete_video_if_unused (a run that failed to start after storing its video): the
    unused video goes, row and blob; one an analysis uses stays."""
    stored = []
    for name in ("used.mp4", "unused.mp4"):
        path = make_video(tmp_path / name, seconds=2, fps=10 if name == "used.mp4" else 12)
        with open(path, "rb") as f:
            stored.append(ingest_video(services.engine, services.store, f, filename=name,
                                       uploaded_by="a"))
    used, unused = stored
    jobs.queue_analysis(services.engine, video_id=used.id, analyzer="local", created_by="a",
                        sample_fps=1, max_frames=None, frames_planned=2)
    assert delete_video_if_unused(services.engine, services.store, used.id) is False
    assert delete_video_if_unused(services.engine, services.store, unused.id) is True
    assert services.store.list() == [used.blob_key]
    with Session(services.engine) as s:
        assert [v.id for v in s.exec(select(Video)).all()] == [used.id]


def test_list_analyses_filters_by_name_status_and_user(services, tmp_path):
    """Test that the history filter matches file name, status and user, case-insensitively."""
    path = make_video(tmp_path / "v.mp4", seconds=1)
    with open(path, "rb") as f:
        video = ingest_video(services.engine, services.store, f, filename="Harbour.mp4",
                             uploaded_by="ana")
    jobs.queue_analysis(services.engine, video_id=video.id, analyzer="local", created_by="ana",
                        sample_fps=1, max_frames=None, frames_planned=1)
    assert len(list_analyses(services.engine, "harb")) == 1
    assert len(list_analyses(services.engine, "QUEUED")) == 1
    assert len(list_analyses(services.engine, "bob")) == 0


class FailingDeletes(LocalBlobStore):
    """The local folder, refusing deletes while `failing` (storage down: a fault at the edge)."""

    failing = True

    def delete(self, key: str) -> None:
        if self.failing:
            raise StorageError("storage unreachable")
        super().delete(key)


def _pending(engine) -> list[str]:
    with Session(engine) as s:
        return sorted(s.exec(select(PendingBlobDelete.blob_key)).all())


def test_blobs_whose_delete_failed_are_deleted_later(services, tmp_path):
    """Test that a video deleted while storage refuses deletes loses its rows at once, keeps its
    blobs on the pending list, and that a worker starting later deletes them."""
    path = make_video(tmp_path / "v.mp4", seconds=2)
    with open(path, "rb") as f:
        video = ingest_video(services.engine, services.store, f, filename="v.mp4",
                             uploaded_by="a")
    jobs.queue_analysis(services.engine, video_id=video.id, analyzer="local", created_by="a",
                        sample_fps=1, max_frames=None, frames_planned=2)
    Worker(engine=services.engine, store=services.store, settings=services.settings).run_one()
    broken = FailingDeletes(services.settings.data_dir / "blobs")
    delete_video(services.engine, broken, video.id)
    with Session(services.engine) as s:
        assert all(s.exec(select(t)).all() == [] for t in (Video, Analysis, Frame, Detection))
    left = _pending(services.engine)
    assert video.blob_key in left and any(k.startswith("analyses/") for k in left)
    assert services.store.list() != []  # nothing could be deleted yet

    broken.failing = False  # storage is back; a worker starts
    stop = threading.Event()
    worker = Worker(engine=services.engine, store=broken, settings=services.settings,
                    poll_s=0.05)
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: not _pending(services.engine), "the pending deletes", timeout=20)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert _pending(services.engine) == [] and services.store.list() == []


postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _claimed_by_w(engine) -> tuple[Video, str]:
    """A video row (no blob) and an analysis of it that worker "w" has claimed."""
    video = add_video(engine)
    aid = jobs.queue_analysis(engine, video_id=video.id, analyzer="local", created_by="a",
                              sample_fps=1, max_frames=None, frames_planned=2).id
    assert jobs.claim(engine, "w", 30) == aid
    return video, aid


@postgres_only
def test_a_delete_waits_for_a_frame_being_written_and_removes_it_too(engine, settings):
    """Test that a delete during a worker's open frame transaction (its progress update and
    frame insert, not yet committed) waits for it, then removes that frame: no foreign-key
    violation, no row left."""
    video, aid = _claimed_by_w(engine)
    analyses = Analysis.__table__
    with engine.connect() as worker:  # what jobs.record_frame does, held open
        worker.execute(analyses.update().where(analyses.c.id == aid)
                       .values(frames_done=analyses.c.frames_done + 1))
        worker.execute(sa.insert(Frame.__table__), [dict(
            analysis_id=aid, frame_index=0, timestamp_s=0.0, width=4, height=4,
            remote_analysed=False, transactions=0)])
        outcome = run_blocked_behind(
            engine, worker, lambda: delete_video(engine, make_blob_store(settings), video.id))
    assert outcome == [None]  # no foreign-key violation, nor any other error
    with engine.connect() as conn:
        for table in (Video, Analysis, Frame):
            assert conn.scalar(sa.select(sa.func.count()).select_from(table)) == 0
    assert not jobs.record_frame(engine, aid, "w", 30, dict(
        analysis_id=aid, frame_index=1, timestamp_s=1.0, width=4, height=4,
        remote_analysed=False, transactions=0), [])


@postgres_only
def test_a_frame_written_during_a_delete_waits_and_stores_nothing(engine):
    """Test that record_frame started while a delete's transaction holds the analysis (its
    statements, held open) waits for it and then stores nothing, with no error."""
    _, aid = _claimed_by_w(engine)
    analyses, frames = Analysis.__table__, Frame.__table__
    row = dict(analysis_id=aid, frame_index=0, timestamp_s=0.0, width=4, height=4,
               remote_analysed=False, transactions=0)
    with engine.connect() as deleting:  # what library._delete_rows does, held open
        deleting.execute(analyses.update().where(analyses.c.id == aid)
                         .values(status="cancelled", lease_owner=None))
        deleting.execute(frames.delete().where(frames.c.analysis_id == aid))
        deleting.execute(analyses.delete().where(analyses.c.id == aid))
        outcome = run_blocked_behind(
            engine, deleting, lambda: jobs.record_frame(engine, aid, "w", 30, row, []))
    assert outcome == [False]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Frame)) == 0
