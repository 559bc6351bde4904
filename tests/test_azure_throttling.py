"""The Azure analyser under pushback: Retry-After honoured and shared by every thread, 429s
halving the rate, 5xx / dropped / slow answers retried, the give-up time, a stop that abandons a
wait, and the client-side rate limiter (on an injected clock where the timing is the subject,
on the real one where the emulator's sliding window judges it).
"""

from __future__ import annotations

import email.utils
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from services.vision.azure import retry_after
from services.vision.base import AnalyzerError, Cancelled, WaitState
from services.vision.ratelimit import RateLimiter
from services.vision.throttle import EndpointThrottle, endpoint_throttle
from tests.fixtures.azure_vision import PERSON, StartTimes, boxes
from tests.fixtures.azure_vision import make as make  # noqa: F401  (fixture)
from tests.fixtures.azure_vision import sample_frame as sample_frame  # noqa: F401  (fixture)
from tests.fixtures.clock import FakeClock, StoppableClock
from tests.fixtures.vision_faults import Fault


def test_throttling_is_retried_honouring_retry_after(make, vision_emulator, sample_frame):
    """Test that 429 with Retry-After, retry-after-ms and none are retried, each wait in full."""
    vision_emulator.script(
        Fault.throttle(retry_after="7"), Fault.throttle(retry_after_ms="2500"), Fault.throttle()
    )
    analyzer = make(features=["people"])
    result = analyzer.analyze(sample_frame)
    assert boxes(result, "person")[0][2:] == PERSON and result.transactions == 1
    assert analyzer.attempts == 4 and analyzer.retries == 3 and vision_emulator.requests == 4
    starts = analyzer.throttle.starts
    gaps = [round(b - a, 3) for a, b in zip(starts, starts[1:], strict=False)]
    assert gaps[0] >= 7.0 and gaps[1] >= 2.5  # the service's waits, honoured in full
    assert 0.9 <= gaps[2] <= 1.1  # no header: the next probe, one second on


def test_retry_after_reads_seconds_http_dates_and_milliseconds():
    """Test that Retry-After in seconds or as an HTTP date and retry-after-ms are understood."""
    now = 1_700_000_000.0

    def answer(**headers):
        return SimpleNamespace(headers={k.replace("_", "-"): v for k, v in headers.items()})

    date = email.utils.formatdate(now + 42, usegmt=True)
    assert retry_after(answer(**{"retry-after": "5"}), now) == 5.0
    assert retry_after(answer(**{"retry-after": date}), now) == pytest.approx(42.0)
    assert retry_after(answer(**{"retry-after-ms": "1500", "retry-after": "9"}), now) == 1.5
    assert retry_after(answer(**{"retry-after": "soon"}), now) is None
    assert retry_after(answer(), now) is None


def test_retry_after_holds_every_thread_of_the_endpoint():
    """Test that one caller's Retry-After keeps every other caller of the endpoint waiting."""
    clock = FakeClock()
    throttle = EndpointThrottle(10, clock=clock, wait=clock.wait)
    assert throttle.acquire()
    throttle.pushed_back("throttling", "429", retry_after=5)
    started = clock()
    other = threading.Thread(target=throttle.acquire)  # another analysis's thread
    other.start()
    other.join(5)
    assert clock() - started >= 5.0
    throttle.pushed_back("throttling", "429", retry_after=3600)  # capped at a sane maximum
    waited_from = clock()
    assert throttle.acquire()
    assert 59.0 <= clock() - waited_from <= 61.0


def test_a_429_halves_the_rate_which_recovers_gradually():
    """Test AIMD: a 429 halves the rate once a second at most, successes climb it back."""
    clock = FakeClock()
    throttle = EndpointThrottle(10, clock=clock, wait=clock.wait)
    throttle.pushed_back("throttling", "429")
    assert throttle.rate == 1.0  # probing while the service pushes back
    throttle.pushed_back("throttling", "429")  # the other requests in flight: no second cut
    throttle.succeeded()
    assert throttle.rate == pytest.approx(5.5)  # 10 halved, plus one step of recovery
    rates = []
    for _ in range(9):
        throttle.succeeded()
        rates.append(throttle.rate)
    assert rates == sorted(rates) and rates[-1] == pytest.approx(10.0)
    clock.wait(2.0)
    throttle.pushed_back("throttling", "429")
    throttle.succeeded()
    assert throttle.rate == pytest.approx(5.5)


def test_a_throttled_endpoint_gets_about_one_request_a_second(make, vision_emulator,
                                                               sample_frame):
    """Test that during 3 s of bare 429s, 4 threads send about one request a second."""
    analyzer = make(features=["tags"], real_time=True, max_tps=50, concurrency=4)
    stretch = vision_emulator.stretch(Fault.throttle(), seconds=3.0, after=2)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(analyzer.analyze, [sample_frame] * 10))
    assert all(len(boxes(r, "tag")) == 14 for r in results)
    during = vision_emulator.arrivals(stretch.started + 0.5, stretch.ended)  # after those in flight
    assert len(during) <= 4 and vision_emulator.statuses[429] <= 4 + 4
    assert vision_emulator.statuses[200] == 10


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(make, vision_emulator, sample_frame, status):
    """Test that a 5xx answer is retried and the next answer is used."""
    vision_emulator.script(Fault(status))
    analyzer = make(features=["people"])
    assert boxes(analyzer.analyze(sample_frame), "person")[0][2:] == PERSON
    assert analyzer.attempts == 2 and vision_emulator.requests == 2
    assert 1.0 <= sum(analyzer.waits) <= 1.1  # the next probe, about a second later


def test_dropped_connection_is_retried(make, vision_emulator, sample_frame):
    """Test that a connection closed without an answer is retried."""
    vision_emulator.script(Fault.dropped())
    analyzer = make(features=["people"])
    assert boxes(analyzer.analyze(sample_frame), "person")[0][2:] == PERSON
    assert analyzer.attempts == 2 and vision_emulator.requests == 2


def test_slow_answer_times_out_and_is_retried(make, vision_emulator, sample_frame):
    """Test that an answer slower than timeout_s is abandoned and the request retried."""
    vision_emulator.script(Fault.slow(3.0))
    analyzer = make(features=["people"], timeout_s=0.5)
    assert boxes(analyzer.analyze(sample_frame), "person")[0][2:] == PERSON
    # Had it waited for the slow answer, that first attempt would have been the only one.
    assert analyzer.attempts == 2 and vision_emulator.requests == 2


def test_no_successful_answer_for_the_give_up_time_fails(make, vision_emulator, sample_frame):
    """Test that an outage longer than give_up_s fails, saying so, after ~1 probe a second."""
    vision_emulator.stretch(Fault(503), seconds=3600)
    analyzer = make(features=["people"], give_up_s=30)
    with pytest.raises(AnalyzerError, match=r"no successful answer for 30 s.*last: 503"):
        analyzer.analyze(sample_frame)
    assert 29 <= vision_emulator.requests <= 32 and sum(analyzer.waits) <= 30.5


def test_an_answer_anywhere_keeps_a_long_caller_going(make, vision_emulator, sample_frame):
    """Test that give-up counts from the endpoint's last success, not from the caller's start."""
    clock = FakeClock()
    throttle = StartTimes(100, clock=clock, wait=clock.wait)
    analyzer = make(features=["people"], give_up_s=10, throttle=throttle)
    vision_emulator.script(*[Fault(503)] * 8)
    throttle.succeeded()  # another thread's success, just now
    assert boxes(analyzer.analyze(sample_frame), "person")[0][2:] == PERSON
    clock.wait(9.0)
    throttle.succeeded()
    vision_emulator.script(*[Fault(503)] * 5)
    assert analyzer.analyze(sample_frame).transactions == 1  # 14 s after its start: still fine


def test_a_stop_abandons_the_wait_and_sends_nothing_more(make, vision_emulator, sample_frame):
    """Test that setting the stop event wakes a caller held by Retry-After, with no request.

    On a clock whose waits end only when stopped: the caller is seen waiting out the 30 s, and
    a caller that missed the stop would still be waiting (alive) when the test looks.
    """
    vision_emulator.stretch(Fault.throttle(retry_after="30"), seconds=60)
    clock = StoppableClock()
    analyzer = make(features=["tags"], throttle=StartTimes(1000, clock=clock, wait=clock.wait))
    stop = threading.Event()
    outcome: list = []

    def call():
        try:
            analyzer.analyze(sample_frame, stop)
        except Cancelled as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    assert clock.waiting.wait(10), "the caller never waited"
    assert analyzer.waiting() == WaitState("Azure AI Vision is throttling", 30.0)
    stop.set()
    caller.join(10)
    assert not caller.is_alive() and len(outcome) == 1
    assert vision_emulator.requests == 1 and clock.waits == [30.0]


def test_rate_limit_spaces_requests(make, vision_emulator, sample_frame):
    """Test that 30 parallel calls at 20 TPS never exceed 21 arrivals in any second."""
    vision_emulator.rate_limit = 21
    analyzer = make(features=["people"], max_tps=20, concurrency=8, real_time=True)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(analyzer.analyze, [sample_frame] * 30))
    assert all(boxes(r, "person")[0][2:] == PERSON for r in results)
    assert vision_emulator.max_in_window(1.0) <= 21
    assert vision_emulator.throttled == 0 and analyzer.attempts == 30
    assert vision_emulator.violations == []


def test_retries_pass_through_the_rate_limiter(make, vision_emulator, sample_frame):
    """Test that retried attempts are spaced by the limiter like first attempts."""
    vision_emulator.script(Fault(503))
    analyzer = make(features=["people"], max_tps=5, real_time=True)
    analyzer.analyze(sample_frame)
    arrivals = [s.at for s in vision_emulator.seen]
    assert len(arrivals) == 2 and arrivals[1] - arrivals[0] > 0.9  # a probe, a second on


def test_parallel_callers(make, vision_emulator, sample_frame):
    """Test that 8 threads share one analyser and the service sees them in parallel."""
    vision_emulator.response_delay_s = 0.2
    analyzer = make(features=["people", "objects"], concurrency=8)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(analyzer.analyze, [sample_frame] * 16))
    assert all(boxes(r, "person")[0][2:] == PERSON for r in results)
    assert vision_emulator.peak_in_flight >= 4 and vision_emulator.violations == []


def test_random_faults_are_absorbed(make, vision_emulator, sample_frame):
    """Test that a seeded 30% fault rate still gives every frame, each attempt counted."""
    vision_emulator.fault_rate = 0.3
    analyzer = make(features=["tags"])
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(analyzer.analyze, [sample_frame] * 20))
    assert all(len(boxes(r, "tag")) == 14 for r in results)
    assert analyzer.attempts == vision_emulator.requests > 20
    assert vision_emulator.statuses[429] > 0 and vision_emulator.statuses[200] == 20


def test_rate_limiter_spaces_evenly_without_burst():
    """Test that the limiter hands out slots 1/rate apart and saves no credit while idle."""
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(10, clock=clock, wait=clock.wait)
    starts = []
    for _ in range(4):
        limiter.acquire()
        starts.append(round(clock(), 3))
    assert starts == [0.0, 0.1, 0.2, 0.3]
    clock.now = 100.0  # long idle: the next two are spaced again, no burst
    limiter.acquire()
    limiter.acquire()
    assert round(clock(), 3) == 100.1


def test_rate_limiter_absorbs_a_late_wake_up():
    """Test that a caller waking 60 ms late does not let 11 starts fall within one second."""
    clock = FakeClock(start=0.0, late={1: 0.06})  # the 2nd caller's wait overruns
    limiter = RateLimiter(10, clock=clock, wait=clock.wait)
    starts = []
    for _ in range(15):
        limiter.acquire()
        starts.append(clock())
    assert starts[1] == pytest.approx(0.16)
    assert all(b - a >= 1.0 for a, b in zip(starts, starts[10:], strict=False))


def test_rate_limiter_deadline_and_stop():
    """Test that acquire gives up at its deadline and raises Cancelled once stop is set."""
    clock = FakeClock(start=0.0)
    limiter = RateLimiter(1, clock=clock, wait=clock.wait)
    limiter.hold(50.0)
    assert limiter.acquire(deadline=20.0) is False and clock() == 20.0
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        limiter.acquire(stop)
    assert limiter.acquire() is True and clock() == 50.0


def test_the_azure_rate_share_divides_max_tps_between_processes(make):
    """Test that the analyser takes floor(max_tps * headroom / processes) when processes share."""
    analyzer = make(features=["tags"], max_tps=10)
    assert analyzer.throttle.rate == pytest.approx(9.5)
    analyzer.share_rate(2)
    assert analyzer.throttle.rate == 4.0
    analyzer.share_rate(1)
    assert analyzer.throttle.rate == pytest.approx(9.5)


def test_endpoint_throttle_is_one_per_endpoint():
    """Test that the same endpoint, however written, gets the same throttle in a process."""
    a = endpoint_throttle("https://x.cognitiveservices.azure.com/", 10)
    b = endpoint_throttle("HTTPS://X.cognitiveservices.azure.com", 5)
    assert a is b
    assert endpoint_throttle("https://y.cognitiveservices.azure.com", 5) is not a
