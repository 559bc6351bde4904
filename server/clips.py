"""The clip route, served by the same st.App as the pages: GET /api/clip?ticket=... streams one
clip from ffmpeg to the browser as it is encoded (services.video.clips), so memory stays flat
whatever its length. However the response ends (done, failed, or the download cancelled in the
browser), ffmpeg is killed and reaped: nothing is left running or written. Tickets are minted by
the results page (services.video.clip_desk): without one, nothing is served.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from server.uploads import live_session
from services.video.clip_desk import CLIP_PATH, ClipDesk, ClipRefused
from services.video.clips import ClipProcess
from services.video.probe import VideoError

log = logging.getLogger(__name__)
DESK = ClipDesk()  # the page mints, the route redeems (same process)


class ClipResponse(StreamingResponse):
    """The clip's chunks, read off the event loop; ffmpeg stopped however the response ends."""

    def __init__(self, clip: ClipProcess, filename: str):
        self.clip = clip
        super().__init__(self._chunks(), media_type="video/mp4", headers={
            "Content-Disposition": _disposition(filename), "Cache-Control": "no-store"})

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            # abandon_on_cancel: a cancelled download (the client went away while ffmpeg waits
            # on slow storage) must not wait for the blocked read; __call__ then kills ffmpeg,
            # which ends that read.
            while chunk := await anyio.to_thread.run_sync(self.clip.read, abandon_on_cancel=True):
                yield chunk
        except VideoError as exc:  # the answer has started: the browser sees a failed download
            log.warning("clip failed: %s", exc)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.clip.stop()  # a kill from this thread: a read blocked in another one ends
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self.clip.close)


def _disposition(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def clip_routes(desk: ClipDesk = DESK,
                is_live: Callable[[str], bool] = live_session) -> list[Route]:
    """The routes to hand to st.App(routes=...)."""

    async def clip(request: Request) -> Response:
        try:
            grant = desk.redeem(request.query_params.get("ticket", ""), is_live)
            source = await anyio.to_thread.run_sync(grant.source)
        except ClipRefused as exc:
            return PlainTextResponse(str(exc), status_code=exc.status)
        except FileNotFoundError:
            return PlainTextResponse("the video of this analysis is no longer stored",
                                     status_code=404)
        clip = ClipProcess(source, grant.start_s, grant.end_s)
        return ClipResponse(clip, grant.filename)

    return [Route(CLIP_PATH, clip, methods=["GET"])]
