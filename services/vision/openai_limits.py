"""What an Azure OpenAI answer says is left of the deployment's limits, read conservatively.

Azure OpenAI's chat completions carry two such headers and no limit or reset ones ("the only
headers that are available are x-ratelimit-remaining-requests and x-ratelimit-remaining-tokens":
Azure/azure-rest-api-specs#26884; the headers dumped in EvolvingPrograms/oaib#11 agree):
- x-ratelimit-remaining-requests: what is left of RPM / 6 over the last 10 s (a 120 RPM deployment
  reads 19 after one request: clemenssiebler.com, "Understanding Azure OpenAI's
  x-ratelimit-remaining-tokens and x-ratelimit-remaining-requests headers"; 300 RPM reads 45
  after five: Microsoft Q&A 2156987);
- x-ratelimit-remaining-tokens: what is left of TPM, each request counted at its estimate on
  arrival (50,000 TPM reads 46,760 after five requests, the same Q&A).
What is left plus what this process sent in the span a count covers is what the deployment lets
it use: others' use is in neither, so the figure is never above the real limit, and a deployment
that allows less than the settings claim is paced for what it allows after its first answer
(Readings). When what is left will not take the next request, the endpoint waits before the
service has to answer 429; without a reset header the wait is the time the shortfall frees at the
deployment's configured rate, re-read on every answer.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

REQUESTS_WINDOW_S = 10.0  # the span x-ratelimit-remaining-requests counts
TOKENS_WINDOW_S = 60.0  # the span of TPM: a count that old has freed whatever it held


@dataclass(frozen=True)
class Remaining:
    """What the service said is left; None where it said nothing readable."""

    requests: int | None
    tokens: int | None


def read_remaining(headers: Any) -> Remaining:
    return Remaining(_count(headers, "x-ratelimit-remaining-requests"),
                     _count(headers, "x-ratelimit-remaining-tokens"))


def _count(headers: Any, name: str) -> int | None:
    value = headers.get(name) if headers is not None else None
    try:
        count = int(str(value).strip()) if value is not None else None
    except ValueError:
        return None
    # -1 has been sent for "unknown" (openai/openai-dotnet#838): no reading, not a shortfall.
    return count if count is not None and count >= 0 else None


def wait_for_room(left: Remaining, budget: int, tpm: int, rpm: int) -> float | None:
    """None while the next request (estimated at `budget` tokens) fits what is left; otherwise the
    seconds until its shortfall frees at the deployment's rate (tpm, rpm), at most the span the
    count covers."""
    waits = []
    if left.requests is not None and left.requests < 1 and rpm > 0:
        waits.append(min(REQUESTS_WINDOW_S, 60.0 / rpm))
    if left.tokens is not None and left.tokens < budget and tpm > 0:
        waits.append(min(TOKENS_WINDOW_S, (budget - left.tokens) * 60.0 / tpm))
    return max(waits) if waits else None


class Readings:
    """This process's requests to one deployment against what the answers say is left; thread-safe.

    A request counts from its start at its estimate, as the service counts it on arrival; one not
    answered 200 is taken out again (a 429 is not counted against the limits), which errs low.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: deque[list[float]] = deque()  # [start, budget], in start order

    def start(self, at: float, budget: int) -> list[float]:
        entry = [at, float(budget)]
        with self._lock:
            while self._sent and self._sent[0][0] <= at - TOKENS_WINDOW_S:
                self._sent.popleft()
            self._sent.append(entry)
        return entry

    def refused(self, entry: list[float]) -> None:
        with self._lock:
            for i, sent in enumerate(self._sent):
                if sent is entry:
                    del self._sent[i]
                    return

    def limits(self, left: Remaining, at: float) -> tuple[int | None, int | None]:
        """(TPM, RPM) the answer to the request started `at` leaves this process: what is left
        plus our requests the service had counted by then (those started by `at` in the span)."""
        with self._lock:
            mine = [(t, b) for t, b in self._sent if t <= at]
        tpm = rpm = None
        if left.tokens is not None:
            tpm = left.tokens + int(sum(b for t, b in mine if t > at - TOKENS_WINDOW_S))
        if left.requests is not None:
            recent = sum(1 for t, _ in mine if t > at - REQUESTS_WINDOW_S)
            rpm = int((left.requests + recent) * 60.0 / REQUESTS_WINDOW_S)
        return tpm, rpm
