"""A result cache in front of a paid analyser: the same frame content costs one transaction once.

Keyed by (video content hash, analyser settings, frame content hash) and stored in the BlobStore
under `cache/<video sha256>/`, so deleting the last copy of a video deletes its cache too.
"""

from __future__ import annotations

import logging
import threading

from services.storage.base import BlobStore, cache_key, cache_prefix
from services.video.frames import SampledFrame
from services.vision.base import Analyzer, FrameResult, WaitState

log = logging.getLogger(__name__)


def cached_answers(store: BlobStore, video_sha256: str, identity: str) -> int:
    """How many frames of this video are already answered for these settings (for estimates)."""
    return len(store.list(cache_prefix(video_sha256, identity)))


class CachedAnalyzer:
    """An Analyzer in front of another: answers stored for this video cost no request."""

    def __init__(self, inner: Analyzer, store: BlobStore, video_sha256: str):
        self.inner = inner
        self.store = store
        self.name = inner.name
        self.concurrency = inner.concurrency
        self._prefix = cache_prefix(video_sha256, inner.cache_identity)

    @property
    def cache_identity(self) -> str:
        return self.inner.cache_identity

    def from_raw(self, raw: bytes, frame: SampledFrame) -> FrameResult:
        return self.inner.from_raw(raw, frame)

    def share_rate(self, processes: int) -> None:
        self.inner.share_rate(processes)

    def waiting(self) -> WaitState | None:
        return self.inner.waiting()

    def analyze(self, frame: SampledFrame, stop: threading.Event | None = None) -> FrameResult:
        key = cache_key(self._prefix, frame.jpeg)
        try:
            raw = self.store.read_bytes(key)
        except FileNotFoundError:
            raw = None
        if raw is not None:
            try:
                return self.inner.from_raw(raw, frame)
            except ValueError:  # a damaged entry: analyse again and overwrite it
                log.warning("unreadable cache entry %s", key)
        result = self.inner.analyze(frame, stop)
        # A run that stopped meanwhile (cancelled, its video deleted) dropped this answer: keep
        # nothing, so a delete that already cleaned up finds no new blob behind it.
        if result.raw_json is not None and not (stop is not None and stop.is_set()):
            self.store.write_bytes(key, result.raw_json)
        return result
