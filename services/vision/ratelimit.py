"""Client-side rate limits shared by every analysis in the process.

Azure AI Vision counts transactions per resource in a sliding window and answers 429 above the
limit, so all threads and all analyses that call the same endpoint must draw from one limiter.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# The service counts requests in a sliding second; we check our own starts over a window a little
# longer, so that a caller that woke up late cannot bunch with the callers after it.
WINDOW_S = 1.05


class RateLimiter:
    """Hands out evenly spaced start times, at most `max_per_second` of them per second.

    No burst: a sliding-window limiter on the server side punishes bunched requests even when the
    average rate is fine, so each caller gets the next free slot 1/rate after the previous one.
    And never more than ceil(rate) actual starts within WINDOW_S, whatever the thread scheduling.
    """

    def __init__(
        self,
        max_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0  # earliest start time of the next caller
        self._interval = 0.0
        self._cap = 1
        self._starts: deque[float] = deque()  # actual start times within the last WINDOW_S
        self.set_rate(max_per_second)

    @property
    def rate(self) -> float:
        return 1.0 / self._interval

    def set_rate(self, max_per_second: float) -> None:
        """Change the rate; slots already handed out keep their times."""
        if not max_per_second > 0:
            raise ValueError(f"max_per_second must be positive, got {max_per_second!r}")
        with self._lock:
            self._interval = 1.0 / float(max_per_second)
            self._cap = max(1, math.ceil(max_per_second - 1e-9))

    def acquire(self) -> float:
        """Block until this caller may start; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            # An idle limiter does not save up credit: max() drops the unused slots.
            slot = max(now, self._next)
            self._next = slot + self._interval
        waited = max(slot - now, 0.0)
        if waited:
            # Sleep outside the lock so that later callers can reserve the slots after ours.
            self._sleep(waited)
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= WINDOW_S:
                    self._starts.popleft()
                if len(self._starts) < self._cap:
                    self._starts.append(now)
                    return waited
                extra = self._starts[0] + WINDOW_S - now
            self._sleep(extra)
            waited += extra


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(key: str, rate: float) -> RateLimiter:
    """The one limiter of this process for `key` (an endpoint); the latest rate given wins."""
    norm = key.strip().rstrip("/").lower()
    with _registry_lock:
        limiter = _registry.get(norm)
        if limiter is None:
            limiter = _registry[norm] = RateLimiter(rate)
        elif limiter.rate != rate:
            limiter.set_rate(rate)
        return limiter


def share_rate(max_tps: float, processes: int, headroom: float = 1.0) -> float:
    """One process's rate when `processes` processes share `max_tps` against one endpoint.

    A limiter lets ceil(rate) requests start within a second, so with several processes each share
    is rounded down to whole requests: the shares' worst-case bursts then add up to at most
    max_tps in any second, not only on average. Below one request per second per process the
    split holds on average only.
    """
    processes = max(1, processes)
    if processes == 1:
        return max_tps * headroom
    share = max_tps * headroom / processes
    return float(math.floor(share)) if share >= 1 else share
