"""The server's embedded worker: started with the server, tried again until it starts, rested
when the app is idle, and its state for the pages.

A first start can fail for minutes after a deployment (role assignments take a while to apply:
storage answers 403; a paused database answers 40613 until it resumes): the server then keeps
serving pages and tries again in the background with backoff, and the pages say so. A wrong
setting is not retried: it needs the settings fixed and a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

from server.context import get_services
from services.analysis.idle import IdleWatch
from services.analysis.worker import Worker
from services.config import SettingsError
from services.db import DatabaseError, DatabaseUnavailable
from services.logmask import install_secret_masking
from services.storage.base import StorageError

log = logging.getLogger(__name__)
FIRST_RETRY_S = 5.0
MAX_RETRY_S = 300.0


class WorkerState(StrEnum):
    not_started = "not started"  # no server lifespan ran (a script run under AppTest)
    running = "running"
    off = "off"  # FRAMEWISE_EMBEDDED_WORKER=0
    retrying = "retrying"  # a start failed; another try is due
    failed = "failed"  # a start failed on a setting: fix it and restart


@dataclass
class EmbeddedWorker:
    """What the pages may know about this process's worker."""

    state: WorkerState = WorkerState.not_started
    reason: str = ""
    next_try_at: float = 0.0  # time.monotonic() of the next try while retrying
    worker: Worker | None = None
    idle: IdleWatch | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    def retry_in(self) -> float:
        return max(0.0, self.next_try_at - time.monotonic())

    def page_visited(self) -> None:
        """A signed-in page run: wake a resting worker (and so the database) at once."""
        if self.idle is not None:
            self.idle.touch()

    def try_start(self) -> bool:
        """One attempt; True when it needs no other (started, off, or a setting to fix)."""
        try:
            services = get_services()
        except SettingsError as exc:
            self._failed(WorkerState.failed, exc)
            return True
        except (DatabaseUnavailable, DatabaseError, StorageError) as exc:
            self._failed(WorkerState.retrying, exc)
            return False
        install_secret_masking(services.settings.secrets())  # before the worker logs anything
        if not services.settings.embedded_worker:
            log.info("embedded worker off (FRAMEWISE_EMBEDDED_WORKER=0)")
            self.state = WorkerState.off
            return True
        settings = services.settings
        self.idle = IdleWatch(settings.db_idle_seconds, settings.db_idle_recheck_seconds)
        worker = Worker(engine=services.engine, store=services.store, settings=settings,
                        idle=self.idle)
        worker.start()  # its thread only touches services: never st.* (no script run context)
        self.worker, self.state, self.reason = worker, WorkerState.running, ""
        log.info("embedded worker %s started with the server", worker.owner)
        return True

    def _failed(self, state: WorkerState, exc: Exception) -> None:
        # The pages show the reason; one line in the log, no traceback.
        self.state = state
        self.reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        log.error("embedded worker not started: %s", self.reason)

    def keep_trying(self, first_delay_s: float = FIRST_RETRY_S) -> None:
        """After a failed first start: try again, with backoff, until it starts or the server
        stops."""
        delay = first_delay_s
        while self.state is WorkerState.retrying:
            self.next_try_at = time.monotonic() + delay
            if self._stopping.wait(delay) or self.try_start():
                return
            delay = min(MAX_RETRY_S, delay * 2)

    def stop(self) -> None:
        """At shutdown: no more tries; hand the running analyses back at once."""
        self._stopping.set()
        if self.worker is not None:
            # SIGTERM (App Service restarts, deploys): stop claiming and hand the running
            # analyses back (lease released, queued, frames kept) for another worker.
            self.worker.stop(hand_back=True)
            log.info("embedded worker %s stopped with the server", self.worker.owner)


_current = EmbeddedWorker()


def current() -> EmbeddedWorker:
    """The worker of this server process's lifespan (state `not started` outside a server)."""
    return _current


def begin() -> EmbeddedWorker:
    """A new lifespan's worker state, made the current one."""
    global _current
    _current = EmbeddedWorker()
    return _current
