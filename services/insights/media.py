"""What the pages show straight from storage: frame thumbnails and the source video.

Both are read here, not in components, so a component only draws the bytes or URL it is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from services.storage.base import BlobStore, StorageError

URL_MINUTES = 60
URL_REUSE_S = 45 * 60  # a URL is handed out again for 45 of its 60 minutes: the player keeps it


@dataclass(frozen=True)
class Media:
    """Bytes or a source to show, or the one-line reason there is none."""

    content: bytes | str | None = None
    problem: str | None = None


@lru_cache(maxsize=256)
def _thumbnail(store: Hashable, key: str) -> bytes:
    # A thumbnail never changes under its key (keys carry the analysis id and frame index);
    # stores are cached by identity, one per process.
    return cast(BlobStore, store).read_bytes(key)


def thumbnail(store: BlobStore, key: str | None) -> Media:
    """A frame's thumbnail (kept in memory once read), or why it cannot be shown."""
    if not isinstance(key, str) or not key:  # a frame stored without one (NaN from pandas)
        return Media(problem="This frame has no thumbnail.")
    try:
        return Media(_thumbnail(cast(Hashable, store), key))
    except (OSError, StorageError) as exc:
        return Media(problem=f"The thumbnail cannot be read: {exc}")


class _Urls:
    """Playback URLs reused while they have URL_MINUTES - URL_REUSE_S left (one per video)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._made: dict[tuple[int, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def get(self, store: BlobStore, key: str) -> str | None:
        now, slot = self._clock(), (id(store), key)
        with self._lock:
            made = self._made.get(slot)
            if made is not None and now - made[0] < URL_REUSE_S:
                return made[1]
        url = store.url_for_playback(key, expires_minutes=URL_MINUTES)
        with self._lock:
            self._made[slot] = (now, url)
        return url


_urls = _Urls()


def playback(store: BlobStore, key: str) -> Media:
    """What st.video plays: a short-lived read-only URL the browser streams from storage (Azure),
    else the file itself (the local folder, whose path stays valid); or why it cannot play."""
    try:
        url = _urls.get(store, key)
        if url:
            return Media(url)
        return Media(store.ffmpeg_input(key))  # the local store gives the file itself
    except (OSError, StorageError) as exc:
        return Media(problem=f"The video cannot be played: {exc}")
