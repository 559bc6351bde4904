"""The upload route, served by the same st.App as the pages: POST /api/upload streams one video
file into the BlobStore (services.upload.stream), let in by the page session's upload token.

Request: the raw file as the body (Content-Length), `?name=<file name>`, and the headers
X-Framewise-Upload-Token and X-Framewise-Session from the upload widget. Answer: JSON,
{"video_id"} or {"error"}, with 200, 401/403 (token), 413/415 (size, type), 422 (not a
video), 400 (interrupted) or 503 (busy, storage).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from streamlit.runtime import Runtime

from services.upload.sessions import SESSION_HEADER, TOKEN_HEADER, UPLOAD_PATH, UploadDesk
from services.upload.stream import UploadReceiver

# The process's tokens and outcomes: the page mints, the route redeems (same process).
DESK = UploadDesk()
RECEIVER = UploadReceiver(DESK)


def live_session(session_id: str) -> bool:
    """True while the Streamlit session (a browser tab's page) is connected to this server."""
    return Runtime.exists() and Runtime.instance().is_active_session(session_id)


def upload_routes(receiver: UploadReceiver = RECEIVER,
                  is_live: Callable[[str], bool] = live_session) -> list[Route]:
    """The routes to hand to st.App(routes=...)."""

    async def upload(request: Request) -> JSONResponse:
        length = request.headers.get("content-length", "")
        answer = await receiver.receive(
            token=request.headers.get(TOKEN_HEADER, ""),
            session_id=request.headers.get(SESSION_HEADER, ""),
            filename=request.query_params.get("name", ""),
            length=int(length) if length.isdigit() else None,
            chunks=request.stream(),
            is_live=is_live,
            receive=request.receive,
        )
        return JSONResponse(answer.body, status_code=answer.status,
                            headers={"Cache-Control": "no-store"})

    return [Route(UPLOAD_PATH, upload, methods=["POST"])]
