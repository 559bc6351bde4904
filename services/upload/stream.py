"""A streamed upload into the BlobStore: the request body, chunk by chunk, through ingest.

The body arrives on the server's event loop; the BlobStore writes block. A worker thread runs
the ingest and pulls the body one chunk at a time from the loop, so at most one store block
(4 MB) per upload is in memory and a slow store slows the sender instead of filling memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from threading import BoundedSemaphore
from typing import Any

from starlette.requests import ClientDisconnect

from services.library import delete_video
from services.storage.base import StorageError
from services.upload.ingest import NotAVideoName, TooLarge, check_upload, display_name, ingest_video
from services.upload.sessions import UploadDesk, UploadOutcome, UploadRefused
from services.video.probe import VideoError

log = logging.getLogger(__name__)
STALL_S = 120.0  # no byte for this long: the connection is taken as broken
MAX_RUNNING = 4  # uploads at once per process; more are asked to try again
# How a body ends early: st.App serves the route through Starlette, whose request.stream()
# raises ClientDisconnect when the client closes or resets; a socket error; or the server
# cancelling the read as it shuts down. Anything else is a bug, not an interrupted upload.
BODY_BROKEN = (ClientDisconnect, OSError, CancelledError)


class UploadInterrupted(Exception):
    """The body stopped before its end: the browser cancelled, closed, or lost its connection."""


class BodyReader:
    """A blocking file-like `read(n)` over an async byte stream that lives on `loop`.

    Called from a worker thread only; each read waits for the next chunks of the stream.
    """

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop,
                 *, stall_s: float = STALL_S):
        self._chunks = chunks
        self._loop = loop
        self._stall_s = stall_s
        self._buffer = bytearray()
        self._ended = False
        self.received = 0

    async def _next(self) -> bytes | None:
        return await anext(self._chunks, None)

    def _pull(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
        try:
            chunk = future.result(timeout=self._stall_s)
        except FutureTimeout:
            future.cancel()
            raise UploadInterrupted(f"no data for {self._stall_s:g} s") from None
        except BODY_BROKEN as exc:
            raise UploadInterrupted(type(exc).__name__) from exc
        if chunk is None:
            self._ended = True
        else:
            self.received += len(chunk)
            self._buffer += chunk

    def read(self, n: int = -1) -> bytes:
        while not self._ended and (n < 0 or len(self._buffer) < n):
            self._pull()
        size = len(self._buffer) if n < 0 else min(n, len(self._buffer))
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


class Departure:
    """Whether the client closed its connection after sending its whole body.

    Once the body is in, the server's ASGI `receive` returns only when the client disconnects
    (or the answer has been sent): awaited in a task from the body's end, it is done by the time
    a probe is over if the client left meanwhile (Cancel while "storing and probing", a closed
    tab). Asking only after the probe is not enough: uvicorn may have paused reading the socket
    on the body's last bytes, and resumes only when `receive` is awaited, so it would not yet
    have seen the close.
    """

    def __init__(self, receive: Callable[[], Awaitable[Mapping[str, Any]]]):
        self._receive = receive
        self._task: asyncio.Future | None = None

    async def watch(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """The body's chunks; after the last one, starts waiting for the client to leave."""
        async for chunk in chunks:
            yield chunk
        self._task = asyncio.ensure_future(self._receive())

    def left(self) -> bool:
        task = self._task
        return (task is not None and task.done() and not task.cancelled()
                and task.exception() is None and task.result().get("type") == "http.disconnect")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


@dataclass(frozen=True)
class Answer:
    """The HTTP answer to an upload: status and a small JSON body."""

    status: int
    body: dict


class UploadReceiver:
    """Redeems the token, checks the file, and streams the body through ingest in a thread."""

    def __init__(self, desk: UploadDesk, *, max_running: int = MAX_RUNNING,
                 stall_s: float = STALL_S):
        self.desk = desk
        self._stall_s = stall_s
        self._slots = BoundedSemaphore(max_running)
        # Own threads: a long upload must not hold the threads Starlette serves files with.
        self._threads = ThreadPoolExecutor(max_running, thread_name_prefix="framewise-upload")
        # Uploads let in that have ended (stored, refused or interrupted), each counted when what
        # it wrote has been kept or removed and its outcome recorded. On the event loop only.
        self.ended = 0

    async def receive(
        self,
        *,
        token: str,
        session_id: str,
        filename: str,
        length: int | None,
        chunks: AsyncIterator[bytes],
        is_live: Callable[[str], bool],
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
    ) -> Answer:
        """Take one upload; `receive` is the server's ASGI receive (see Departure). A client that
        left after its last byte, before the answer, was told nothing is stored: the video it
        sent is deleted again."""
        try:
            grant = self.desk.redeem(token, session_id=session_id, is_live=is_live)
        except UploadRefused as refused:
            return Answer(refused.status, {"error": str(refused), "recorded": False})
        try:
            check_upload(filename, size=length, max_bytes=grant.max_bytes)
        except NotAVideoName as exc:
            return self._refuse(grant, 415, str(exc))
        except TooLarge as exc:
            return self._refuse(grant, 413, str(exc))
        if not self._slots.acquire(blocking=False):
            return Answer(503, {"error": "too many uploads at once on this server: try again "
                                         "in a minute", "recorded": False})
        departure = Departure(receive)
        try:
            reader = BodyReader(departure.watch(chunks), asyncio.get_running_loop(),
                                stall_s=self._stall_s)
            services = grant.services

            def ingest():
                return ingest_video(services.engine, services.store, reader, filename=filename,
                                    uploaded_by=grant.user, max_bytes=grant.max_bytes,
                                    size=length)

            loop = asyncio.get_running_loop()
            video = await loop.run_in_executor(self._threads, ingest)
            if departure.left():
                await loop.run_in_executor(self._threads, delete_video, services.engine,
                                           services.store, video.id)
                raise UploadInterrupted("the client left before the answer")
            self.desk.finish(grant, UploadOutcome(grant.user, video_id=video.id))
            return Answer(200, {"video_id": video.id, "recorded": True})
        except UploadInterrupted as exc:
            # ingest (or the delete above) removed what was written; nothing to show the page.
            log.info("upload of %s interrupted after %d bytes (%s): nothing stored",
                     display_name(filename), reader.received, exc)
            return Answer(400, {"error": "the upload was interrupted: nothing was stored",
                                "recorded": False})
        except TooLarge as exc:
            return self._refuse(grant, 413, str(exc))
        except VideoError as exc:
            return self._refuse(grant, 422, str(exc))
        except StorageError as exc:
            return self._refuse(grant, 503, str(exc))
        finally:
            departure.stop()
            self._slots.release()
            self.ended += 1

    def _refuse(self, grant, status: int, message: str) -> Answer:
        self.desk.finish(grant, UploadOutcome(grant.user, error=message))
        return Answer(status, {"error": message, "recorded": True})
