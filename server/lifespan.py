"""What starts and stops with the Streamlit server: the st.App lifespan.

The embedded worker starts when the server starts, not at the first page visit, so an analysis
queued with `cli.py analyze --no-wait` while nobody has the app open is processed; a first start
that fails is tried again in the background (server/embedded.py). When the server stops (SIGTERM
from App Service restarts and deploys) the worker stops claiming and hands its running analyses
back. FRAMEWISE_EMBEDDED_WORKER=0 leaves it off (run `cli.py worker`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from server import embedded as embedded_worker


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    """Before the first request: the worker running (or retrying). At shutdown: stop it."""
    embedded = embedded_worker.begin()
    retries: threading.Thread | None = None
    if not await asyncio.to_thread(embedded.try_start):  # opens the database: blocking
        retries = threading.Thread(target=embedded.keep_trying, name="framewise-worker-start",
                                   daemon=True)
        retries.start()
    try:
        yield {"embedded": embedded}
    finally:
        await asyncio.to_thread(embedded.stop)
        if retries is not None:
            await asyncio.to_thread(retries.join)
