"""Ingest: one path (page, stored-video picker, CLI) with the same checks, messages and cleanup."""

from __future__ import annotations

import hashlib
import io

import pytest
from sqlmodel import Session, select

from services.context import open_services
from services.models import Video
from services.upload.ingest import (
    VIDEO_SUFFIXES,
    check_upload,
    display_name,
    ingest_video,
    register_stored_video,
    unregistered_videos,
)
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


def test_a_name_outside_the_suffix_list_is_refused_before_any_byte_is_read(services):
    """Test that a .txt upload is refused by its name, naming the accepted suffixes."""

    class Unread(io.BytesIO):
        def read(self, n=-1):
            raise AssertionError("the stream must not be read")

    with pytest.raises(VideoError) as refused:
        ingest_video(services.engine, services.store, Unread(), filename="notes.txt",
                     uploaded_by="ana")
    suffixes = ", ".join(VIDEO_SUFFIXES)
    assert str(refused.value) == f"notes.txt is not a video file; choose one of {suffixes}"
    assert services.store.list() == []


def test_an_announced_size_over_the_limit_is_refused_before_reading(services):
    """Test that a size known up front is checked against the limit with the one message."""
    with pytest.raises(VideoError) as refused:
        check_upload("big.mp4", size=3 * 1024 * 1024, max_bytes=1024 * 1024)
    assert str(refused.value).startswith("big.mp4 is 3.0 MB, over the 1 MB upload limit")


def test_a_stream_longer_than_the_limit_gets_the_same_message(services, tmp_path):
    """Test that the limit enforced while streaming names the file and the limit like the check."""
    data = io.BytesIO(b"x" * (2 * 1024 * 1024 + 1))
    with pytest.raises(VideoError) as refused:
        ingest_video(services.engine, services.store, data, filename="big.mp4",
                     uploaded_by="ana", max_bytes=1024 * 1024)
    assert str(refused.value).startswith("big.mp4 is over the 1 MB upload limit")
    assert services.store.list() == []


def test_a_stored_video_gets_the_type_and_probe_checks_of_an_upload(services):
    """Test that registering a stored blob refuses a bad suffix and bad bytes like an upload."""
    services.store.write_bytes("videos/notes.txt", b"minutes of the meeting\n" * 100)
    services.store.write_bytes("videos/fake.mp4", b"not a video at all" * 100)
    with pytest.raises(VideoError) as by_type:
        register_stored_video(services.engine, services.store, "videos/notes.txt", "a")
    assert str(by_type.value).startswith("videos/notes.txt is not a video file; choose one of ")
    with pytest.raises(VideoError) as by_probe:
        ingest_video(services.engine, services.store, io.BytesIO(b"not a video at all" * 100),
                     filename="fake.mp4", uploaded_by="a")
    with pytest.raises(VideoError) as stored_probe:
        register_stored_video(services.engine, services.store, "videos/fake.mp4", "a")
    assert str(stored_probe.value) == "videos/" + str(by_probe.value)
    assert str(by_probe.value).startswith("fake.mp4 cannot be analysed: ")
    with Session(services.engine) as s:
        assert s.exec(select(Video)).all() == []
