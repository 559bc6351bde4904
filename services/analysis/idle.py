"""When a server may go quiet, so that a serverless database (Azure SQL auto-pause) can pause.

Auto-pause needs no session and no CPU for its whole delay (DESIGN.md): a worker that claims
every second, or a pool that keeps a connection open, keeps the database billed all month. After
`idle_s` with nothing running in this process and no page visited, the server's worker rests: it
stops querying and closes the pool's connections. A page visit (or an analysis queued from a
page) wakes it at once; work queued from another machine is found at the next visit, or when the
rest ends after `recheck_s` (0: only a visit ends it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class IdleWatch:
    """The time of the last sign of life, and an event that wakes a resting worker."""

    def __init__(self, idle_s: float, recheck_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        self.idle_s = idle_s
        self.recheck_s = recheck_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._woken = threading.Event()
        self.rests = 0  # how many times the worker went quiet (for the page and the tests)

    @property
    def enabled(self) -> bool:
        return self.idle_s > 0

    def touch(self) -> None:
        """A sign of life (a page visit, work found or running): wake a resting worker."""
        with self._lock:
            self._last = self._clock()
        self._woken.set()

    def idle_for(self) -> float:
        """Seconds since the last sign of life."""
        with self._lock:
            return self._clock() - self._last

    def quiet_due(self) -> bool:
        """True when the worker should rest: enabled and idle for idle_s."""
        return self.enabled and self.idle_for() >= self.idle_s

    def interrupt(self) -> None:
        """End a rest without a sign of life (the worker is stopping)."""
        self._woken.set()

    def rest(self, stopped: Callable[[], bool], close_connections: Callable[[], None]) -> bool:
        """Hold no connection until woken, rechecked or stopped; True when woken by a visit.

        The pool is closed again every idle_s while resting: a page that read the database since
        (a fragment's rerun does not count as a visit) leaves connections in it.
        """
        self._woken.clear()
        if not self.quiet_due():  # a visit came after the caller looked
            return True
        self.rests += 1
        close_connections()
        started = self._clock()
        while not stopped():
            left = self.recheck_s - (self._clock() - started) if self.recheck_s > 0 else None
            if left is not None and left <= 0:
                self.touch()  # a look for work queued elsewhere: the idle time starts again
                return False
            if self._woken.wait(self.idle_s if left is None else min(self.idle_s, left)):
                return not stopped()
            if self.idle_for() >= self.idle_s:
                close_connections()
        return False
