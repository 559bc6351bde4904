"""Who may stream an upload: single-use tokens bound to one page session and its user.

The Upload page mints a token each time it draws the upload widget; the upload route redeems
it once, for that session only, within minutes. What became of each upload is kept for the
session's next run to show. Everything is in this process's memory (thread-safe): an upload
must reach the server instance that holds the page's session (App Service: session affinity).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from services.context import Services

TOKEN_TTL_S = 600.0  # a page left open longer mints a new token on its next run

# What the upload widget (browser) and the upload route (server) agree on.
UPLOAD_PATH = "/api/upload"
TOKEN_HEADER = "X-Framewise-Upload-Token"
SESSION_HEADER = "X-Framewise-Session"


class UploadRefused(Exception):
    """The upload is not let in; nothing was read or stored. `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class UploadGrant:
    """What a redeemed token lets one upload do: into these services, as this user."""

    session_id: str
    user: str
    services: Services
    max_bytes: int


@dataclass(frozen=True)
class UploadOutcome:
    """What became of one upload: the stored video, or the one-line reason it was refused."""

    user: str
    video_id: str | None = None
    error: str | None = None


@dataclass
class _Token:
    grant: UploadGrant
    expires_at: float
    used: bool = False


@dataclass
class _Outcomes:
    items: list[UploadOutcome] = field(default_factory=list)
    expires_at: float = 0.0


class UploadDesk:
    """Tokens and outcomes of the uploads of every session in this process."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 ttl_s: float = TOKEN_TTL_S):
        self._clock = clock
        self._ttl_s = ttl_s
        self._lock = threading.Lock()
        self._tokens: dict[str, _Token] = {}
        self._outcomes: dict[str, _Outcomes] = {}

    def mint(self, *, session_id: str, user: str, services: Services, max_bytes: int) -> str:
        """A fresh token for this session; the session's earlier unused tokens stop working."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._purge()
            for old in self._tokens.values():
                if old.grant.session_id == session_id:
                    old.used = True
            grant = UploadGrant(session_id, user, services, max_bytes)
            self._tokens[token] = _Token(grant, self._clock() + self._ttl_s)
        return token

    def redeem(self, token: str, *, session_id: str, is_live: Callable[[str], bool]) -> UploadGrant:
        """Use the token once for an upload from `session_id`; raises UploadRefused otherwise."""
        if not token:
            raise UploadRefused(401, "the upload carries no upload token: reload the page")
        with self._lock:
            found = self._tokens.get(token)
            if found is None or found.used:
                raise UploadRefused(403, "this upload token is unknown or was already used: "
                                         "reload the page")
            found.used = True  # whatever follows, this token never lets another upload in
            if self._clock() >= found.expires_at:
                raise UploadRefused(403, f"this upload token expired after "
                                         f"{self._ttl_s / 60:g} minutes: reload the page")
            if found.grant.session_id != session_id:
                raise UploadRefused(403, "this upload token belongs to another page session")
        if not is_live(session_id):
            raise UploadRefused(403, "the page that asked for this upload is closed")
        return found.grant

    def finish(self, grant: UploadGrant, outcome: UploadOutcome) -> None:
        """Keep an upload's outcome for its session's next run."""
        with self._lock:
            kept = self._outcomes.setdefault(grant.session_id, _Outcomes())
            kept.items.append(outcome)
            kept.expires_at = self._clock() + self._ttl_s

    def take(self, session_id: str, user: str) -> list[UploadOutcome]:
        """The outcomes of this session's uploads by this user since the last call."""
        with self._lock:
            kept = self._outcomes.pop(session_id, None)
        return [o for o in (kept.items if kept else []) if o.user == user]

    def _purge(self) -> None:
        now = self._clock()
        for token in [t for t, v in self._tokens.items() if now >= v.expires_at]:
            del self._tokens[token]
        for session in [s for s, v in self._outcomes.items() if now >= v.expires_at]:
            del self._outcomes[session]
