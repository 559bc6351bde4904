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
TICKET_TTL_S = 600.0  # the page asks for links on each run: an open page stays usable


class ClipRefused(Exception):
    """No clip for this request; `status` is the HTTP answer, the message one line."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class ClipGrant:
    """One range of one video, as the page asked for it."""

    session_id: str
    video: str  # the video's storage key: which video `source` reads
    source: Callable[[], str]  # ffmpeg's input, asked for when the download starts
    start_s: float
    end_s: float
    filename: str

    @property
    def range(self) -> tuple[str, str, float, float, str]:
        """What the link gives: equal ranges may share a ticket (`source` is a fresh callable)."""
        return self.session_id, self.video, self.start_s, self.end_s, self.filename


class ClipDesk:
    """The clip tickets of every session in this process (thread-safe)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 ttl_s: float = TICKET_TTL_S):
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._tickets: dict[str, tuple[ClipGrant, float]] = {}
        self._by_range: dict[tuple[str, str, float, float, str], str] = {}

    def mint(self, grant: ClipGrant) -> str:
        """A ticket for this range, for this page session: the one given before while it has
        at least half its life left (a page runs often and would otherwise pile them up)."""
        with self._lock:
            now = self._clock()
            for old in [t for t, (_, ends) in self._tickets.items() if now >= ends]:
                self._by_range.pop(self._tickets.pop(old)[0].range, None)
            given = self._by_range.get(grant.range)
            if given is not None and self._tickets[given][1] - now >= self._ttl_s / 2:
                return given
            ticket = secrets.token_urlsafe(32)
            self._tickets[ticket] = (grant, now + self._ttl_s)
            self._by_range[grant.range] = ticket
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
