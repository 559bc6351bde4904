"""Client-side rate limits shared by every analysis in the process.

Azure AI Vision counts transactions per resource in a sliding window and answers 429 above the
limit, so all threads and all analyses that call the same endpoint must draw from one limiter.
Waits go through an injected `wait(seconds, stop)` so that a cancel wakes them at once and unit
tests need no sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

# Image Analysis counts requests in a sliding second; by default we check our own starts over a
# window a little longer, so that a caller that woke up late cannot bunch with the callers after it.
# A limiter may be given another window of at least a second (see RateLimiter).
WINDOW_S = 1.05
_EPSILON = 1e-6  # float noise: a gap this small is no gap (else a wait could never end it)

Clock = Callable[[], float]
# wait(seconds, stop) -> True when stop was set (the wait ended early), False when it timed out.
Wait = Callable[[float, "threading.Event | None"], bool]


class Cancelled(Exception):
    """The caller's stop event was set while it waited: it abandoned the work."""


def event_wait(seconds: float, stop: threading.Event | None) -> bool:
    """The real wait: on the stop event when there is one, so that setting it wakes the caller."""
    if stop is None:
        time.sleep(max(0.0, seconds))
        return False
    return stop.wait(max(0.0, seconds))


class RateLimiter:
    """Evenly spaced starts, at most `max_per_second` per second, and holds for everyone.

    No burst: a sliding-window limiter on the server side punishes bunched requests even when the
    average rate is fine, so a caller starts 1/rate after the previous start. And never more than
    ceil(rate) actual starts within `window_s` (WINDOW_S unless given), whatever the thread
    scheduling. The window is at least a second, so no second ever holds more than ceil(rate)
    starts (share_rate relies on it); a longer one costs throughput: at most
    ceil(rate) / window_s starts a second. Nothing is reserved ahead: a waiting caller looks again
    when it wakes, so a new rate or a hold (the service's Retry-After) applies at once to every
    waiting thread.
    """

    def __init__(self, max_per_second: float, *, clock: Clock = time.monotonic,
                 wait: Wait = event_wait, window_s: float = WINDOW_S):
        if not window_s >= 1.0:
            raise ValueError(f"window_s must be at least 1 s, got {window_s!r}")
        self._lock = threading.Lock()
        self._clock = clock
        self._wait = wait
        self._window = float(window_s)
        self._last: float | None = None  # the latest start
        self._hold_until = -math.inf
        self._interval = 0.0
        self._cap = 1
        self._starts: deque[float] = deque()  # actual start times within the last window
        self.set_rate(max_per_second)

    @property
    def rate(self) -> float:
        return 1.0 / self._interval

    @property
    def window_s(self) -> float:
        return self._window

    @property
    def clock(self) -> Clock:
        return self._clock

    def set_rate(self, max_per_second: float) -> None:
        """Change the rate; callers already waiting see it when they wake."""
        if not max_per_second > 0:
            raise ValueError(f"max_per_second must be positive, got {max_per_second!r}")
        with self._lock:
            self._interval = 1.0 / float(max_per_second)
            self._cap = max(1, math.ceil(max_per_second - 1e-9))

    def hold(self, until: float) -> None:
        """Let nobody start before `until` (on this limiter's clock); an earlier hold is kept."""
        with self._lock:
            self._hold_until = max(self._hold_until, until)

    def held_until(self) -> float | None:
        with self._lock:
            return self._hold_until if self._hold_until > self._clock() else None

    def acquire(self, stop: threading.Event | None = None, deadline: float | None = None) -> bool:
        """Block until this caller may start: True; False if `deadline` comes first.

        Raises Cancelled as soon as `stop` is set.
        """
        while True:
            if stop is not None and stop.is_set():
                raise Cancelled
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self._window - _EPSILON:
                    self._starts.popleft()
                # An idle limiter does not save up credit: the next start is 1/rate after the
                # last one, or now, whichever is later.
                after_last = -math.inf if self._last is None else self._last + self._interval
                gap = max(self._hold_until, after_last) - now
                if gap <= _EPSILON:
                    if len(self._starts) < self._cap:
                        self._starts.append(now)
                        self._last = now
                        return True
                    gap = self._starts[0] + self._window - now
            if deadline is not None and now + gap > deadline:
                if deadline > now and self._wait(deadline - now, stop):
                    raise Cancelled
                return False
            if self._wait(gap, stop):
                raise Cancelled


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
