"""What starts and stops with the Streamlit server: the st.App lifespan.

The embedded worker starts when the server starts, not at the first page visit, so an analysis
queued with `cli.py analyze --no-wait` while nobody has the app open is processed; when the
server stops (SIGTERM from App Service restarts and deploys) the worker stops claiming and hands
its running analyses back. FRAMEWISE_EMBEDDED_WORKER=0 leaves it off (run `cli.py worker`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from server.context import get_services
from services.analysis.worker import Worker
from services.config import SettingsError
from services.db import DatabaseUnavailable
from services.logmask import install_secret_masking
from services.storage.base import StorageError

log = logging.getLogger(__name__)


def start_embedded_worker() -> Worker | None:
    """Start the worker thread of this server process; None when it is off or cannot start."""
    try:
        services = get_services()
    except (SettingsError, DatabaseUnavailable, StorageError) as exc:
        # The pages show the same error to whoever opens the app; no traceback in the log.
        log.error("embedded worker not started: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return None
    install_secret_masking(services.settings.secrets())  # before the worker logs anything
    if not services.settings.embedded_worker:
        log.info("embedded worker off (FRAMEWISE_EMBEDDED_WORKER=0)")
        return None
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings)
    worker.start()  # its thread only touches services: never st.* (no script run context)
    log.info("embedded worker %s started with the server", worker.owner)
    return worker


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    """Before the first request: the worker running. At shutdown: stop it."""
    embedded = await asyncio.to_thread(start_embedded_worker)  # opens the database: blocking
    try:
        yield {"embedded_worker": embedded}
    finally:
        if embedded is not None:
            # SIGTERM (App Service restarts, deploys): stop claiming and hand the running
            # analyses back at once (lease released, queued, frames kept) for another worker.
            await asyncio.to_thread(embedded.stop, hand_back=True)
            log.info("embedded worker %s stopped with the server", embedded.owner)
