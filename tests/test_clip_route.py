"""The clip route (server/clips.py) over real HTTP (uvicorn on loopback, the route as the st.App
serves it) with a real ffmpeg: a ticket minted for a live page streams exactly its range; no
ticket, an expired one, or a closed page gets 403 and starts nothing; a download cancelled
while ffmpeg waits on a slow storage (a stand-in HTTP server that stalls halfway through the
video, as a blob read can) kills and reaps that ffmpeg at once.
"""

from __future__ import annotations

import http.client
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette

from server.clips import clip_routes
from services.video.clip_desk import ClipDesk, ClipGrant, clip_url
from tests.fixtures.app_server import free_port
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video
from tests.test_clips import BLUE, FPS, _frames, _is


class Clock:
    def __init__(self) -> None:
        self.now = 0.0


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("route") / "cuts.mp4", seconds=6, fps=FPS,
                      size=(320, 240), pattern="cuts", cuts=(1.6, 3.6))


@pytest.fixture
def route() -> Iterator[tuple[ClipDesk, set[str], Clock, str]]:
    """The clip route alone in a uvicorn server: (desk, live sessions, desk clock, base URL)."""
    clock, live = Clock(), {"page-1"}
    desk = ClipDesk(clock=lambda: clock.now, ttl_s=600.0)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=clip_routes(desk, is_live=lambda s: s in live)), host="127.0.0.1",
        port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "uvicorn to listen")
    yield desk, live, clock, f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def _ffmpegs() -> set[int]:
    """This process's child processes (the route runs ffmpeg from uvicorn's thread here)."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def _get(base: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(base, timeout=60)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def test_a_ticket_streams_exactly_its_range(route, cuts, tmp_path):
    """Test that the blue shot's range comes back as an MP4 attachment holding that shot, to
    the frame."""
    desk, _, _, base = route
    ticket = desk.mint(ClipGrant("page-1", "cuts", lambda: str(cuts), 1.6, 3.6,
                                 "cuts_1.60-3.60s.mp4"))
    status, headers, body = _get(base, "/" + clip_url(ticket).lstrip("/"))
    assert status == 200 and headers["content-type"] == "video/mp4"
    assert headers["content-disposition"].startswith('attachment; filename="cuts_1.60-3.60s.mp4"')
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(body)
    times, colours = _frames(clip)
    assert len(times) == 50 and all(_is(c, BLUE) for c in colours)


def test_no_clip_without_a_valid_ticket_of_an_open_page(route, cuts):
    """Test that an unknown ticket, an expired one and one of a closed page get 403 and start
    no ffmpeg."""
    desk, live, clock, base = route
    before = _ffmpegs()
    assert _get(base, "/api/clip?ticket=made-up")[0] == 403
    expired = desk.mint(ClipGrant("page-1", "cuts", lambda: str(cuts), 0.0, 1.0, "a.mp4"))
    clock.now += 601.0
    assert _get(base, clip_url(expired))[0] == 403
    closed = desk.mint(ClipGrant("page-1", "cuts", lambda: str(cuts), 0.0, 1.0, "a.mp4"))
    live.clear()
    status, _, body = _get(base, clip_url(closed))
    assert status == 403 and b"closed" in body
    assert _ffmpegs() == before


class _StallingStorage(BaseHTTPRequestHandler):
    """Serves one file, byte ranges too, and stalls halfway through it until released."""

    data = b""
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        start = 0
        if (asked := self.headers.get("Range", "")).startswith("bytes="):
            start = int(asked[6:].split("-")[0] or 0)
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(self.data) - start))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        half = len(self.data) // 2
        try:
            if start < half:
                self.wfile.write(self.data[start:half])
                self.wfile.flush()
                self.release.wait(60)
            self.wfile.write(self.data[max(start, half):])
        except OSError:
            pass

    def log_message(self, *args) -> None:
        pass


def test_a_cancelled_download_kills_its_ffmpeg_at_once(route, cuts):
    """Test that closing the download while ffmpeg waits on stalled storage (so it cannot end
    by itself) ends and reaps that ffmpeg."""
    desk, _, _, base = route
    _StallingStorage.data = cuts.read_bytes()
    _StallingStorage.release.clear()
    storage = ThreadingHTTPServer(("127.0.0.1", 0), _StallingStorage)
    threading.Thread(target=storage.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{storage.server_address[1]}/cuts.mp4"
    try:
        before = _ffmpegs()
        ticket = desk.mint(ClipGrant("page-1", "cuts", lambda: url, 0.0, 6.0, "cuts.mp4"))
        conn = http.client.HTTPConnection(base, timeout=60)
        conn.request("GET", clip_url(ticket))
        assert conn.getresponse().status == 200
        started = _ffmpegs() - before
        assert len(started) == 1  # ffmpeg runs, waiting on the storage's second half
        conn.close()  # the browser's cancel
        # ffmpeg would give up on the stalled storage by itself after 30 s (-rw_timeout): a kill
        # must come well before.
        wait_for(lambda: not (_ffmpegs() & started), "the route to kill and reap its ffmpeg",
                 timeout=15)
        assert not Path(f"/proc/{started.pop()}").exists()
    finally:
        _StallingStorage.release.set()
        storage.shutdown()
