"""The streaming upload route on a real uvicorn: tokens bound to a session, bodies streamed into
the store with bounded memory, and nothing left behind by a refusal or a broken connection."""

from __future__ import annotations

import socket
import time
import tracemalloc
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlmodel import Session, select
from starlette.applications import Starlette

from components.upload_route import SESSION_HEADER, TOKEN_HEADER, UPLOAD_PATH, upload_routes
from services.context import Services, open_services
from services.models import Video
from services.upload.sessions import UploadDesk
from services.upload.stream import UploadReceiver
from tests.fixtures.uploads import padded_video, post_upload, serve
from tests.fixtures.videos import make_video

MB = 1024 * 1024
SESSION = "session-a"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def services(settings) -> Services:
    return open_services(settings)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def live() -> set[str]:
    return {SESSION, "session-b"}


@pytest.fixture
def receiver(clock) -> UploadReceiver:
    return UploadReceiver(UploadDesk(clock=clock, ttl_s=600), stall_s=2.0)


@pytest.fixture
def url(receiver, live):
    with serve(Starlette(routes=upload_routes(receiver, is_live=live.__contains__))) as base:
        yield base


@pytest.fixture
def clip(tmp_path) -> Path:
    return make_video(tmp_path / "clip.mp4", seconds=2)


def mint(receiver: UploadReceiver, services: Services, *, session: str = SESSION,
         user: str = "ana@example.com", max_mb: int = 1024) -> str:
    return receiver.desk.mint(session_id=session, user=user, services=services,
                              max_bytes=max_mb * MB)


def nothing_stored(services: Services) -> bool:
    temp = list((services.settings.data_dir / "blobs").rglob(".upload-*"))
    with Session(services.engine) as s:
        rows = s.exec(select(Video)).all()
    return services.store.list() == [] and temp == [] and rows == []


def wait_idle(receiver: UploadReceiver, timeout: float = 30) -> None:
    """Until no upload runs (the server side of a broken connection has cleaned up)."""
    deadline = time.monotonic() + timeout
    while receiver.running:
        assert time.monotonic() < deadline, "the upload did not end"
        time.sleep(0.02)


def test_an_upload_is_stored_probed_and_kept_for_its_session(services, receiver, url, clip):
    """Test that a streamed upload becomes a Video of the token's user, reported to its session."""
    token = mint(receiver, services)
    status, body = post_upload(url, token=token, session_id=SESSION, name="my clip.mp4",
                               body=clip.read_bytes(), length=clip.stat().st_size)
    assert status == 200, body
    with Session(services.engine) as s:
        video = s.get(Video, body["video_id"])
    assert (video.original_filename, video.uploaded_by) == ("my clip.mp4", "ana@example.com")
    assert services.store.read_bytes(video.blob_key) == clip.read_bytes()
    assert receiver.desk.take(SESSION, "bob@example.com") == []  # another user sees nothing
    token = mint(receiver, services)
    post_upload(url, token=token, session_id=SESSION, name="b.mp4", body=clip.read_bytes(),
                length=clip.stat().st_size)
    [outcome] = receiver.desk.take(SESSION, "ana@example.com")
    assert outcome.video_id and outcome.error is None
    assert receiver.desk.take(SESSION, "ana@example.com") == []  # shown once


TOKEN_CASES = {
    "no token": (lambda r, s, c: "", SESSION, 401),
    "unknown token": (lambda r, s, c: "made-up-token", SESSION, 403),
    "used token": (lambda r, s, c: _used(r, s), SESSION, 403),
    "expired token": (lambda r, s, c: _expired(r, s, c), SESSION, 403),
    "replaced by a newer one": (lambda r, s, c: _replaced(r, s), SESSION, 403),
    "another session": (lambda r, s, c: mint(r, s), "session-b", 403),
    "closed session": (lambda r, s, c: mint(r, s, session="session-gone"), "session-gone", 403),
}


def _used(receiver, services) -> str:
    token = mint(receiver, services)
    receiver.desk.redeem(token, session_id=SESSION, is_live=lambda s: True)
    return token


def _expired(receiver, services, clock) -> str:
    token = mint(receiver, services)
    clock.now += 601
    return token


def _replaced(receiver, services) -> str:
    token = mint(receiver, services)
    mint(receiver, services)  # the page ran again
    return token


@pytest.mark.parametrize("case", list(TOKEN_CASES))
def test_an_upload_without_a_valid_token_is_refused_and_stores_nothing(
    services, receiver, clock, url, clip, case
):
    """Test that each bad token case is answered 4xx before any byte is stored."""
    make_token, session, expected = TOKEN_CASES[case]
    token = make_token(receiver, services, clock)
    status, body = post_upload(url, token=token, session_id=session, name="clip.mp4",
                               body=clip.read_bytes(), length=clip.stat().st_size)
    assert status == expected and ("token" in body["error"] or "closed" in body["error"])
    assert body["recorded"] is False
    assert nothing_stored(services)
    assert receiver.desk.take(session, "ana@example.com") == []


def test_a_token_tried_from_another_session_is_spent(services, receiver, url, clip):
    """Test that a token refused for the wrong session no longer works for the right one."""
    token = mint(receiver, services)
    assert post_upload(url, token=token, session_id="session-b", name="clip.mp4",
                       body=clip.read_bytes(), length=clip.stat().st_size)[0] == 403
    status, _ = post_upload(url, token=token, session_id=SESSION, name="clip.mp4",
                            body=clip.read_bytes(), length=clip.stat().st_size)
    assert status == 403 and nothing_stored(services)


def test_a_300_mb_upload_streams_with_memory_far_below_its_size(services, receiver, url, clip):
    """Test that a 300 MB body is stored and probed while Python memory stays under 48 MB."""
    length, chunks = padded_video(clip, 300 * MB)
    token = mint(receiver, services)
    tracemalloc.start()
    try:
        status, body = post_upload(url, token=token, session_id=SESSION, name="big.mp4",
                                   body=chunks, length=length)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200, body
    with Session(services.engine) as s:
        video = s.get(Video, body["video_id"])
    assert video.size_bytes == length == services.store.size(video.blob_key)
    assert round(video.duration_s) == 2
    assert peak < 48 * MB, f"peak {peak / MB:.1f} MB for a {length / MB:.0f} MB upload"


def test_a_closed_connection_leaves_no_blob_no_temp_file_and_no_row(services, receiver, url,
                                                                    clip):
    """Test that a tab closed mid-upload (connection closed) leaves nothing behind."""
    length, chunks = padded_video(clip, 40 * MB)
    token = mint(receiver, services)
    assert post_upload(url, token=token, session_id=SESSION, name="big.mp4", body=chunks,
                       length=length, stop_after=9 * MB) is None
    wait_idle(receiver)
    assert nothing_stored(services)
    assert receiver.desk.take(SESSION, "ana@example.com") == []


def test_a_connection_gone_silent_is_dropped_and_leaves_nothing(services, receiver, url, clip):
    """Test that a body that stops arriving (no close: a broken network) is given up on."""
    token = mint(receiver, services)
    host, port = urlsplit(url).hostname, urlsplit(url).port
    with socket.create_connection((host, port)) as sock:
        sock.sendall((f"POST {UPLOAD_PATH}?name=a.mp4 HTTP/1.1\r\nHost: x\r\n"
                      f"{TOKEN_HEADER}: {token}\r\n{SESSION_HEADER}: {SESSION}\r\n"
                      f"Content-Length: {20 * MB}\r\n\r\n").encode() + bytes(5 * MB))
        sock.settimeout(30)
        answer = sock.recv(4096)  # the server gives up after stall_s (2 s) and answers
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    wait_idle(receiver)
    assert nothing_stored(services)


def test_sizes_and_types_are_refused_with_the_ingest_messages(services, receiver, url, clip):
    """Test that an announced size over the limit is refused before the body, a body longer than
    the limit while streaming, and a non-video name by its suffix, each with nothing stored."""
    token = mint(receiver, services, max_mb=1)
    status, body = post_upload(url, token=token, session_id=SESSION, name="big.mp4",
                               body=b"", length=3 * MB)
    assert status == 413
    assert body["error"].startswith("big.mp4 is 3.0 MB, over the 1 MB upload limit")
    token = mint(receiver, services, max_mb=1)
    length, chunks = padded_video(clip, 3 * MB)
    status, body = post_upload(url, token=token, session_id=SESSION, name="sneaky.mp4",
                               body=chunks, length=None)  # chunked: no length to check first
    assert status in (413, 0)  # the answer, or a reset if the server stopped reading first
    wait_idle(receiver)
    token = mint(receiver, services)
    status, body = post_upload(url, token=token, session_id=SESSION, name="notes.txt",
                               body=b"minutes\n" * 100, length=800)
    assert status == 415 and body["error"].startswith("notes.txt is not a video file")
    assert nothing_stored(services)
    errors = [o.error for o in receiver.desk.take(SESSION, "ana@example.com")]
    assert errors[0].startswith("big.mp4 is 3.0 MB") and errors[-1].startswith("notes.txt")
    assert any(e.startswith("sneaky.mp4 is over the 1 MB upload limit") for e in errors)


def test_bytes_that_are_not_a_video_are_refused_after_streaming_and_removed(
    services, receiver, url
):
    """Test that text named .mp4 is streamed, refused by the probe, and removed from storage."""
    token = mint(receiver, services)
    status, body = post_upload(url, token=token, session_id=SESSION, name="fake.mp4",
                               body=b"hello, not a video\n" * 5000, length=95000)
    assert status == 422 and body["error"].startswith("fake.mp4 cannot be analysed: ")
    assert nothing_stored(services)
