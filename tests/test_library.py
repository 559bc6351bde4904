"""Ingesting uploads, hostile file names, listing and deleting with every row and blob."""

from __future__ import annotations

import io

import pytest
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.worker import Worker
from services.context import open_services
from services.library import (
    delete_video,
    display_name,
    ingest_video,
    list_analyses,
    register_stored_video,
    unregistered_videos,
)
from services.models import Analysis, Detection, Frame, Video
from services.video.probe import VideoError
from tests.fixtures.videos import make_video


@pytest.fixture
def services(settings):
    return open_services(settings)


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("../../etc/passwd.mp4", "passwd.mp4"),
        ("C:\\Users\\me\\clip.mp4", "clip.mp4"),
        ("bell\x07and\x1b[31mred.mp4", "belland[31mred.mp4"),
        ("🎬 café.mp4", "🎬 café.mp4"),
        ("", "video"),
        ("..", "video"),
    ],
)
def test_display_name_drops_folders_and_control_characters(raw, shown):
    """Test that a file name is reduced to a safe display name."""
    assert display_name(raw) == shown


def test_display_name_caps_long_names_and_keeps_the_extension():
    """Test that a 300-character name is shortened to 200 and keeps its extension."""
    name = display_name("a" * 300 + ".mp4")
    assert len(name) <= 200 and name.endswith(".mp4")


def test_ingest_stores_under_a_generated_key_and_records_the_probe(services, tmp_path):
    """Test that an upload is stored under a uuid key with its probed facts and hash."""
    path = make_video(tmp_path / "v.mp4", seconds=2, size=(320, 240))
    with open(path, "rb") as f:
        video = ingest_video(services.engine, services.store, f,
                             filename="../secret/🎬.mp4", uploaded_by="ana")
    assert video.blob_key.startswith("videos/") and "secret" not in video.blob_key
    assert video.original_filename == "🎬.mp4" and video.uploaded_by == "ana"
    assert (video.width, video.height, round(video.duration_s)) == (320, 240, 2)
    assert services.store.read_bytes(video.blob_key) == path.read_bytes()
    import hashlib

    assert video.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("data", [b"", b"not a video at all" * 1000])
def test_bad_uploads_leave_no_row_and_no_blob(services, data):
    """Test that a refused upload leaves neither a row nor a blob."""
    with pytest.raises(VideoError):
        ingest_video(services.engine, services.store, io.BytesIO(data), filename="x.mp4",
                     uploaded_by="ana")
    assert services.store.list() == []
    with Session(services.engine) as s:
        assert s.exec(select(Video)).all() == []


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(services, tmp_path):
    """Test that a file over the size limit is refused with the limit in the message."""
    path = make_video(tmp_path / "v.mp4", seconds=2)
    with open(path, "rb") as f, pytest.raises(VideoError, match="limit"):
        ingest_video(services.engine, services.store, f, filename="v.mp4", uploaded_by="a",
                     max_bytes=1000)
    assert services.store.list() == []


def test_a_video_already_in_storage_can_be_registered(services, tmp_path):
    """Test that a blob put into storage directly is listed and can be registered once."""
    path = make_video(tmp_path / "v.mp4", seconds=1)
    services.store.write_bytes("videos/big-upload.mp4", path.read_bytes())
    assert unregistered_videos(services.engine, services.store) == ["videos/big-upload.mp4"]
    video = register_stored_video(services.engine, services.store, "videos/big-upload.mp4", "a")
    again = register_stored_video(services.engine, services.store, "videos/big-upload.mp4", "a")
    assert video.id == again.id and video.original_filename == "big-upload.mp4"
    assert unregistered_videos(services.engine, services.store) == []


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
