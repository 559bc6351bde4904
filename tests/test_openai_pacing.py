"""Pacing against an Azure OpenAI deployment's limits: the limiter's 1 s window (the service
evaluates requests per minute over 1 or 10 s), with an injected clock."""

from __future__ import annotations

import pytest

from services.vision import openai_chat
from services.vision.openai_chat import OpenAIAnalyzer, OpenAIOptions
from services.vision.ratelimit import WINDOW_S, RateLimiter
from services.vision.throttle import EndpointThrottle
from tests.fixtures.clock import FakeClock
from tests.test_openai_analyzer import QUESTIONS


def starts(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    out = []
    for _ in range(n):
        limiter.acquire()
        out.append(clock())
    return out


def most_in_a_second(times: list[float]) -> int:
    # 1 us of float noise (ratelimit._EPSILON): 19 intervals of 1/19 s sum to just under 1.0.
    return max(sum(1 for u in times if t <= u < t + 1.0 - 1e-6) for t in times)


def test_a_one_second_window_sends_at_the_rate_aimed():
    """Test 600 starts at 19/s (0.95 of RPM 1200): with a 1 s window they take 599/19 s, every
    second holds at most 19; the default 1.05 s window sends 19 per 1.05 s (the bench's miss)."""
    clock = FakeClock(start=0.0)
    one = starts(RateLimiter(19, clock=clock, wait=clock.wait, window_s=1.0), clock, 600)
    assert one[-1] - one[0] == pytest.approx(599 / 19, abs=1e-6)
    assert most_in_a_second(one) == 19
    clock = FakeClock(start=0.0)
    guard = starts(RateLimiter(19, clock=clock, wait=clock.wait), clock, 600)
    assert guard[-1] - guard[0] > 31 * WINDOW_S  # 31 full windows of 19 before the last 11


def test_a_one_second_window_absorbs_late_wake_ups():
    """Test that callers waking 60 to 90 ms late never put 11 starts (at 10/s) in one second."""
    clock = FakeClock(start=0.0, late={1: 0.06, 5: 0.09, 12: 0.07})
    times = starts(RateLimiter(10, clock=clock, wait=clock.wait, window_s=1.0), clock, 40)
    assert all(b - a >= 1.0 - 1e-6 for a, b in zip(times, times[10:], strict=False))
    assert most_in_a_second(times) == 10


def test_a_window_under_a_second_is_refused():
    """Test that a window shorter than a second, which would let ceil(rate) start in it more
    than once a second (share_rate's guarantee), is refused; the throttle passes it on."""
    with pytest.raises(ValueError, match="at least 1 s"):
        RateLimiter(10, window_s=0.5)
    assert EndpointThrottle(10, window_s=1.0).limiter.window_s == 1.0
    assert EndpointThrottle(10).limiter.window_s == WINDOW_S


def test_the_openai_analyser_paces_in_one_second_windows():
    """Test that the analyser's own throttle (none injected) counts starts in 1 s windows."""
    opts = OpenAIOptions(deployment="d-window-test", model="gpt-4.1-mini", questions=QUESTIONS,
                         tpm=5_000_000, rpm=1200)
    chat = OpenAIAnalyzer("http://127.0.0.1:9/window-test", api_key="k", options=opts)
    try:
        assert chat.throttle.limiter.window_s == openai_chat.WINDOW_S == 1.0
        assert chat.throttle.rate == pytest.approx(19.0)
    finally:
        chat.close()
