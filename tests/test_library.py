"""Listing and deleting with every row and blob."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.worker import Worker
from services.context import open_services
from services.ingest import ingest_video
from services.library import delete_video, list_analyses
from services.models import Analysis, Detection, Frame, Video
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
