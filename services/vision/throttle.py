"""How hard one process may press one endpoint: its rate share, the service's pushback, its health.

A throttled or failing service is a wait, not an error: a 429 lowers the shared rate (halved, at
most once a second) which climbs back over the next successes; a Retry-After holds every thread of
the process, not only the one that got it; and while the service pushes back, one request a second
at most goes out (a probe), so a stretch of 429s or 503s costs few requests and ends quickly.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from services.vision.ratelimit import WINDOW_S, Clock, RateLimiter, Wait, event_wait

PROBE_RATE = 1.0  # requests per second while the service pushes back
MAX_HOLD_S = 60.0  # the longest Retry-After honoured in full; longer ones are cut to this
DECREASE = 0.5  # a 429 halves the rate ...
DECREASE_EVERY_S = 1.0  # ... at most once a second: the requests in flight all get one
RECOVER_STEPS = 20  # successes that climb the rate from zero back to the ceiling


@dataclass(frozen=True)
class Pushback:
    """The service refuses work for now: in what way, and until when it asked us to wait."""

    kind: str  # "throttling" (429), "unavailable" (5xx), "unreachable" (timeouts, drops)
    detail: str  # the last answer, e.g. "503 ServiceUnavailable"
    until: float | None  # clock time a Retry-After ends, when the service gave one


class EndpointThrottle:
    """The limiter of one endpoint and what the service's answers taught us; thread-safe."""

    def __init__(self, rate: float, *, clock: Clock = time.monotonic, wait: Wait = event_wait,
                 window_s: float = WINDOW_S):
        self.limiter = RateLimiter(rate, clock=clock, wait=wait, window_s=window_s)
        self.clock = clock
        self._lock = threading.Lock()
        self._ceiling = rate  # what we may use: this process's share of the service's limit
        self._rate = rate  # what we use: lowered by 429s, recovering on successes
        self._pushback: Pushback | None = None
        self._last_ok: float | None = None
        self._last_decrease = -math.inf

    @property
    def rate(self) -> float:
        return self.limiter.rate

    def set_ceiling(self, rate: float) -> None:
        """This process's share changed (processes joined or left)."""
        with self._lock:
            self._rate = min(self._rate, rate) if self._rate < self._ceiling else rate
            self._ceiling = rate
            self._apply()

    def acquire(self, stop: threading.Event | None = None, deadline: float | None = None) -> bool:
        return self.limiter.acquire(stop, deadline)

    def succeeded(self) -> None:
        with self._lock:
            self._last_ok = self.clock()
            self._pushback = None
            self._rate = min(self._ceiling, self._rate + self._ceiling / RECOVER_STEPS)
            self._apply()

    def pushed_back(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        """The service answered 429 (kind "throttling"), 5xx, or not at all."""
        with self._lock:
            self._hold_and_slow(retry_after, slow=kind == "throttling")
            self._pushback = Pushback(kind, detail, self.limiter.held_until())
            self._apply()

    def running_low(self, seconds: float) -> None:
        """An answer said the next request will not fit what the service has left: hold every
        thread for `seconds` and lower the rate as a 429 does, before the service answers one."""
        with self._lock:
            self._hold_and_slow(seconds, slow=True)
            self._apply()

    def _hold_and_slow(self, seconds: float | None, *, slow: bool) -> None:
        """Under the lock: nobody starts for `seconds` (capped); a lower rate, at most once per
        DECREASE_EVERY_S."""
        now = self.clock()
        if seconds is not None:
            self.limiter.hold(now + min(max(seconds, 0.0), MAX_HOLD_S))
        if slow and now - self._last_decrease >= DECREASE_EVERY_S:
            self._rate = max(self._rate * DECREASE, min(PROBE_RATE, self._ceiling))
            self._last_decrease = now

    def last_success(self) -> float | None:
        with self._lock:
            return self._last_ok

    def pushback(self) -> Pushback | None:
        """What holds us back now, or None while the service answers."""
        with self._lock:
            if self._pushback is None:
                return None
            until = self.limiter.held_until()
            return Pushback(self._pushback.kind, self._pushback.detail, until)

    def _apply(self) -> None:
        rate = min(self._ceiling, self._rate)
        if self._pushback is not None:
            rate = min(rate, PROBE_RATE)
        self.limiter.set_rate(rate)


_registry: dict[str, EndpointThrottle] = {}
_registry_lock = threading.Lock()


def endpoint_throttle(endpoint: str, rate: float, window_s: float = WINDOW_S) -> EndpointThrottle:
    """The one throttle of this process for an endpoint; made with `rate` as its first ceiling
    and the limiter window the service's counting calls for (ratelimit.RateLimiter)."""
    norm = endpoint.strip().rstrip("/").lower()
    with _registry_lock:
        throttle = _registry.get(norm)
        if throttle is None:
            throttle = _registry[norm] = EndpointThrottle(rate, window_s=window_s)
        return throttle
