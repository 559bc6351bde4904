"""Estimates before queueing: frames, Azure transactions, cost, adaptive sampling and the cache."""

from __future__ import annotations

from services.analysis.adaptive import ADAPTIVE_EVERY_S, AdaptivePolicy
from services.analysis.estimate import estimate
from services.storage.local import LocalBlobStore
from services.video.frames import SampledFrame
from services.video.probe import VideoInfo
from services.vision.azure import cache_identity, cached_azure_answers
from services.vision.base import FrameResult
from services.vision.cache import CachedAnalyzer, cached_answers

INFO = VideoInfo(duration_s=60.0, fps=30.0, width=640, height=360, codec="h264")


class Answering:
    """An analyser double with the cache protocol: one transaction per call."""

    name = "azure"
    concurrency = 1
    cache_identity = cache_identity(("tags", "people"), "en", True)

    def __init__(self):
        self.calls = 0

    def analyze(self, frame, stop=None):
        self.calls += 1
        return FrameResult(raw_json=b'{"modelVersion": "2023-10-01"}', transactions=1)

    def from_raw(self, raw, frame):
        return FrameResult(raw_json=raw, transactions=0)

    def share_rate(self, processes):
        pass

    def waiting(self):
        return None


def test_fixed_sampling_costs_one_transaction_per_frame():
    """Test that 1 fps over 60 s plans 60 frames, 60 transactions and their price."""
    plan = estimate(INFO, fps=1, max_frames=None, analyzer="azure", price_per_1000=1.5)
    assert (plan.frames, plan.transactions, plan.most, plan.cost) == (60, 60, 60, 0.09)
    assert estimate(INFO, fps=1, max_frames=None, analyzer="local", price_per_1000=1.5)\
        .transactions == 0


def test_adaptive_sampling_gives_a_range_from_one_per_interval():
    """Test that adaptive sampling estimates at least one frame per 10 s, at most every frame."""
    plan = estimate(INFO, fps=1, max_frames=None, analyzer="azure", price_per_1000=1.0,
                    adaptive=True)
    assert ADAPTIVE_EVERY_S == 10 and AdaptivePolicy().every_s == ADAPTIVE_EVERY_S
    assert (plan.transactions, plan.most) == (6, 60)


def test_cached_answers_lower_the_estimate(tmp_path, settings):
    """Test that answers cached by an earlier analysis are counted and lower the estimate."""
    store = LocalBlobStore(tmp_path)
    inner = Answering()
    cached = CachedAnalyzer(inner, store, "ab" * 32)
    frames = [SampledFrame(i, float(i), bytes([i]) * 100, 640, 360) for i in range(20)]
    for frame in frames:
        cached.analyze(frame)
    assert [cached.analyze(f).transactions for f in frames] == [0] * 20 and inner.calls == 20
    count = cached_answers(store, "ab" * 32, inner.cache_identity)
    assert count == 20
    assert cached_answers(store, "ab" * 32, cache_identity(("tags",), "en", True)) == 0
    # As the Upload page asks: the features chosen, language and captions from the settings.
    assert cached_azure_answers(store, settings, "ab" * 32, ("people", "tags")) == 20
    german = settings.model_copy(update={"vision_language": "de"})
    assert cached_azure_answers(store, german, "ab" * 32, ("people", "tags")) == 0
    plan = estimate(INFO, fps=1, max_frames=None, analyzer="azure", price_per_1000=1.0,
                    cached=count)
    assert (plan.transactions, plan.most, plan.cached) == (40, 60, 20)
