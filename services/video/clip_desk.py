"""Who may download a clip: tickets the results page mints for one page session and one range.

A clip streams from ffmpeg straight to the browser through the clip route (server/clips.py),
so its length costs no memory; Streamlit's own download button would hold the whole file.
The route is not behind the pages' sign-in gate, so it serves only tickets: unguessable, made
by a signed-in page run, bound to that page session (the link stops working when the tab
closes) and to one video range, valid for TICKET_TTL_S. Kept in this process's memory: the
download reaches the instance that holds the session (App Service: session affinity).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

CLIP_PATH = "/api/clip"
TICKET_TTL_S = 600.0  # the page mints new links on each run: an open page stays usable


class ClipRefused(Exception):
    """No clip for this request; `status` is the HTTP answer, the message one line."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class ClipGrant:
    """One range of one video, as the page asked for it."""

    session_id: str
    source: Callable[[], str]  # ffmpeg's input, asked for when the download starts
    start_s: float
    end_s: float
    filename: str


class ClipDesk:
    """The clip tickets of every session in this process (thread-safe)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 ttl_s: float = TICKET_TTL_S):
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._tickets: dict[str, tuple[ClipGrant, float]] = {}

    def mint(self, grant: ClipGrant) -> str:
        """A ticket for this range, for this page session."""
        ticket = secrets.token_urlsafe(32)
        with self._lock:
            now = self._clock()
            for old in [t for t, (_, ends) in self._tickets.items() if now >= ends]:
                del self._tickets[old]
            self._tickets[ticket] = (grant, now + self._ttl_s)
        return ticket

    def redeem(self, ticket: str, is_live: Callable[[str], bool]) -> ClipGrant:
        """The grant of a valid ticket whose page is still open; ClipRefused otherwise. A ticket
        may be used again until it expires (a browser retries a download)."""
        with self._lock:
            found = self._tickets.get(ticket)
        if found is None:
            raise ClipRefused(403, "this clip link is unknown: open the results page again")
        grant, ends = found
        if self._clock() >= ends:
            raise ClipRefused(403, f"this clip link expired after {self._ttl_s / 60:g} minutes: "
                                   "open the results page again")
        if not is_live(grant.session_id):
            raise ClipRefused(403, "the results page that made this clip link is closed")
        return grant

    def __len__(self) -> int:
        with self._lock:
            return len(self._tickets)


def clip_url(ticket: str) -> str:
    """The link the page shows: relative, so it follows the app's own address."""
    return f"{CLIP_PATH}?ticket={ticket}"
