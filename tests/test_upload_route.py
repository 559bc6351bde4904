"""The streaming upload route on a real uvicorn, against each store the app can use (the local
folder and Azure Blob Storage on Azurite): tokens bound to a session, bodies streamed into the
store with bounded memory, and nothing left behind by a refusal or a broken connection: no blob,
no temp file, no uncommitted block, no row."""

from __future__ import annotations

import contextlib
import hashlib
import math
import socket
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import ResourceNotFoundError
from sqlmodel import Session, select
from starlette.applications import Starlette

from server.uploads import upload_routes
from services.config import load_settings
from services.context import Services, open_services
from services.models import Video
from services.storage.azure import AzureBlobStore
from services.storage.base import CHUNK
from services.upload.sessions import SESSION_HEADER, TOKEN_HEADER, UPLOAD_PATH, UploadDesk
from services.upload.stream import UploadReceiver
from tests.fixtures.azurite import unique_container
from tests.fixtures.tools import wait_for
from tests.fixtures.uploads import padded_video, post_upload, serve
from tests.fixtures.videos import make_video

MB = 1024 * 1024
SESSION = "session-a"
# The large upload per store: Azurite writes every block to its own disk, so a smaller body there
# (still 24 blocks of the production 4 MB) keeps the test quick on a shared machine. Python's
# memory must stay under a third of the smaller body.
LARGE_MB = {"local": 300, "azurite": 96}
MEMORY_BUDGET = 32 * MB


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "azurite"])
def services(request, tmp_path) -> Iterator[Services]:
    """The app's services on the local folder, or on a fresh Azurite container through the
    connection-string setting (the production AzureBlobStore with its 4 MB blocks)."""
    env = {"FRAMEWISE_DATA_DIR": str(tmp_path / "data")}
    if request.param == "azurite":
        azurite = request.getfixturevalue("azurite")
        env |= {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
                "AZURE_STORAGE_CONTAINER": unique_container()}
    opened = open_services(load_settings(env, dotenv=None))
    yield opened
    opened.engine.dispose()
    if isinstance(opened.store, AzureBlobStore):
        with contextlib.suppress(ResourceNotFoundError):
            opened.store.container.delete_container()


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


def leftovers(services: Services) -> list[str]:
    """Whatever the store holds, written in full or in part: in Azure every blob including those
    with uncommitted blocks only (staged, never committed); in the folder every file, the
    `.upload-*` temp files included."""
    store = services.store
    if isinstance(store, AzureBlobStore):
        blobs = store.container.list_blobs(include=["uncommittedblobs"])
        return sorted(blob.name for blob in blobs)
    root = services.settings.data_dir / "blobs"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def nothing_stored(services: Services) -> bool:
    with Session(services.engine) as s:
        rows = s.exec(select(Video)).all()
    return leftovers(services) == [] and rows == []


def wait_ended(receiver: UploadReceiver, count: int = 1, timeout: float = 30) -> None:
    """Until `count` uploads let in have ended, what they wrote kept or removed."""
    wait_for(lambda: receiver.ended >= count, "the upload to end", timeout=timeout)


class RawUpload:
    """An upload on a bare socket, so the test decides when bytes go and when the client quits."""

    def __init__(self, url: str, token: str, *, length: int | None, name: str = "a.mp4"):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port))
        size = (f"Content-Length: {length}" if length is not None
                else "Transfer-Encoding: chunked")
        self.chunked = length is None
        self.sock.sendall((f"POST {UPLOAD_PATH}?name={name} HTTP/1.1\r\nHost: x\r\n"
                           f"{TOKEN_HEADER}: {token}\r\n{SESSION_HEADER}: {SESSION}\r\n"
                           f"{size}\r\n\r\n").encode())

    def send(self, data: bytes) -> None:
        self.sock.sendall(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)

    def answer(self, timeout: float = 30) -> bytes:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096)

    def close(self, *, reset: bool = False) -> None:
        """Close the socket: a FIN (a tab closed), or with `reset` a RST (a network torn)."""
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


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


def test_a_large_upload_streams_into_one_blob_with_memory_far_below_its_size(
    request, services, receiver, url, clip
):
    """Test that a large body (300 MB to the folder, 96 MB to Azurite) is stored as one blob of
    its exact bytes (size and SHA-256; in Azure one committed block per 4 MB, none uncommitted)
    and probed, while Python memory (tracemalloc: the server thread, the route, the SDK) peaks
    under 32 MB."""
    size_mb = LARGE_MB[request.node.callspec.params["services"]]
    length, chunks = padded_video(clip, size_mb * MB)
    expected = hashlib.sha256()
    for chunk in padded_video(clip, length)[1]:
        expected.update(chunk)
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
    assert leftovers(services) == [video.blob_key]
    assert video.size_bytes == length == services.store.size(video.blob_key)
    stored = hashlib.sha256()
    with services.store.open_read(video.blob_key) as blob:
        while piece := blob.read(CHUNK):
            stored.update(piece)
    assert video.sha256 == stored.hexdigest() == expected.hexdigest()
    if isinstance(services.store, AzureBlobStore):
        blob_client = services.store.container.get_blob_client(video.blob_key)
        committed, uncommitted = blob_client.get_block_list("all")
        assert (len(committed), uncommitted) == (math.ceil(length / CHUNK), [])
    assert round(video.duration_s) == 2
    assert peak < MEMORY_BUDGET, f"peak {peak / MB:.1f} MB for a {length / MB:.0f} MB upload"


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_closed_connection_leaves_no_blob_no_temp_file_and_no_row(services, receiver, url,
                                                                    reset):
    """Test that a connection closed mid-upload (the client closes its socket after 9 MB, two
    blocks already in the store), or reset, leaves no blob, no temp file, no uncommitted block
    and no row."""
    upload = RawUpload(url, mint(receiver, services), length=40 * MB)
    upload.send(bytes(9 * MB))
    wait_for(lambda: leftovers(services), "the first part of the upload in the store")
    upload.close(reset=reset)
    wait_ended(receiver)
    assert nothing_stored(services), leftovers(services)
    assert receiver.desk.take(SESSION, "ana@example.com") == []


def test_a_client_that_leaves_while_its_video_is_probed_keeps_nothing(services, receiver, url,
                                                                      clip):
    """Test that a client closing its socket after the last byte (Cancel while the page says
    "storing and probing", a closed tab), before the answer, leaves no blob and no row: it was
    told nothing was stored."""
    length, chunks = padded_video(clip, 9 * MB)
    upload = RawUpload(url, mint(receiver, services), length=length)
    upload.send(b"".join(chunks))
    upload.close()
    wait_ended(receiver)
    assert nothing_stored(services), leftovers(services)
    assert receiver.desk.take(SESSION, "ana@example.com") == []


def test_a_connection_gone_silent_is_dropped_and_leaves_nothing(services, receiver, url):
    """Test that a body that stops arriving (no close: a broken network) is given up on."""
    upload = RawUpload(url, mint(receiver, services), length=20 * MB)
    try:
        upload.send(bytes(5 * MB))
        wait_for(lambda: leftovers(services), "the first part of the upload in the store")
        answer = upload.answer()  # the server gives up after stall_s (2 s) and answers
    finally:
        upload.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert nothing_stored(services), leftovers(services)


def test_sizes_and_types_are_refused_with_the_ingest_messages(services, receiver, url):
    """Test that an announced size over the limit is refused before the body, and a non-video
    name by its suffix, each with the ingest message and nothing stored."""
    token = mint(receiver, services, max_mb=1)
    status, body = post_upload(url, token=token, session_id=SESSION, name="big.mp4",
                               body=b"", length=3 * MB)
    assert status == 413
    assert body["error"].startswith("big.mp4 is 3.0 MB, over the 1 MB upload limit")
    token = mint(receiver, services)
    status, body = post_upload(url, token=token, session_id=SESSION, name="notes.txt",
                               body=b"minutes\n" * 100, length=800)
    assert status == 415 and body["error"].startswith("notes.txt is not a video file")
    assert nothing_stored(services)
    errors = [o.error for o in receiver.desk.take(SESSION, "ana@example.com")]
    assert errors[0].startswith("big.mp4 is 3.0 MB") and errors[1].startswith("notes.txt")


def test_a_body_over_the_limit_is_refused_mid_stream_and_leaves_nothing(
    services, receiver, url, clip
):
    """Test that a chunked body (no length to check first) is refused once it passes the limit,
    after two full blocks are in the store, and that nothing of it stays."""
    assert CHUNK == 4 * MB  # the 9 MB limit lies between two and three store blocks
    upload = RawUpload(url, mint(receiver, services, max_mb=9), length=None, name="sneaky.mp4")
    try:
        # Two blocks are stored, the third passes the limit. The body ends there, so the server
        # has read every byte sent when it refuses, and its answer is not lost to a reset.
        upload.send(b"".join(padded_video(clip, 3 * CHUNK)[1]))
        answer = upload.answer()
    finally:
        upload.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert nothing_stored(services), leftovers(services)
    [outcome] = receiver.desk.take(SESSION, "ana@example.com")
    assert outcome.error and outcome.error.startswith("sneaky.mp4 is over the 9 MB upload limit")


def test_bytes_that_are_not_a_video_are_refused_after_streaming_and_removed(
    services, receiver, url
):
    """Test that 6 MB of text named .mp4 is stored (two blocks in Azure), refused by the probe,
    and removed from storage."""
    token = mint(receiver, services)
    text = b"hello, not a video\n" * (6 * MB // 19)
    status, body = post_upload(url, token=token, session_id=SESSION, name="fake.mp4",
                               body=text, length=len(text))
    assert status == 422 and body["error"].startswith("fake.mp4 cannot be analysed: ")
    assert nothing_stored(services), leftovers(services)
