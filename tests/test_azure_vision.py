"""The Azure analyser through the real SDK against the Image Analysis emulator."""

from __future__ import annotations

import email.utils
import io
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
from azure.core.credentials import AccessToken, AzureKeyCredential
from azure.core.exceptions import ClientAuthenticationError
from PIL import Image

from services.config import VISION_FEATURES, load_settings
from services.video.frames import SampledFrame
from services.vision.azure import AzureAnalyzer, retry_after
from services.vision.azure_results import MAX_BYTES, prepare_image
from services.vision.base import AnalyzerError, Cancelled, FrameRefused
from services.vision.ratelimit import RateLimiter
from services.vision.throttle import EndpointThrottle, endpoint_throttle
from tests.fixtures.clock import FakeClock
from tests.fixtures.vision_emulator import RESPONSES, Fault, compact, recording

KEY = "emulator-key"
PERSON = (395, 241, 261, 333)


class FakeTokenCredential:
    """A TokenCredential that hands out the emulator's token and records the scopes asked."""

    def __init__(self, token: str = "emulator-token", fail: bool = False):
        self.token, self.fail, self.scopes = token, fail, []

    def get_token(self, *scopes, **kwargs):
        self.scopes.extend(scopes)
        if self.fail:
            raise ClientAuthenticationError("no managed identity here")
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def sample_frame() -> SampledFrame:
    """The SDK's sample image as a sampled frame: JPEG bytes, 864x576."""
    img = Image.open(RESPONSES / "sample.png").convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return SampledFrame(index=0, timestamp_s=0.0, jpeg=buf.getvalue(), width=864, height=576)


def scaled_frame(size: tuple[int, int]) -> SampledFrame:
    img = Image.open(RESPONSES / "sample.png").convert("RGB").resize(size)
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return SampledFrame(0, 0.0, buf.getvalue(), *size)


class StartTimes(EndpointThrottle):
    """A throttle noting its clock's time at each start it grants."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.starts: list[float] = []

    def acquire(self, stop=None, deadline=None) -> bool:
        granted = super().acquire(stop, deadline)
        if granted:
            self.starts.append(self.clock())
        return granted


@pytest.fixture
def make(vision_emulator):
    """Build an analyser against the emulator with a throttle of its own.

    By default on a FakeClock: waits are recorded in `.waits` and cost no test time; with
    real_time=True the throttle runs on the real clock (for rate tests).
    """

    def build(credential=None, real_time=False, **kwargs) -> AzureAnalyzer:
        kwargs.setdefault("features", VISION_FEATURES)
        max_tps = kwargs.setdefault("max_tps", 1000)
        clock = None if real_time else FakeClock()
        timing = {} if clock is None else {"clock": clock, "wait": clock.wait}
        kwargs.setdefault("throttle", StartTimes(max_tps, **timing))
        analyzer = AzureAnalyzer(
            vision_emulator.endpoint, credential=credential or AzureKeyCredential(KEY), **kwargs
        )
        analyzer.waits = clock.waits if clock else []
        analyzer.clock = clock
        built.append(analyzer)
        return analyzer

    built: list[AzureAnalyzer] = []
    yield build
    for analyzer in built:
        analyzer.close()


def boxes(result, kind: str) -> list[tuple]:
    return [
        (d.label, d.confidence, d.x, d.y, d.w, d.h) for d in result.detections if d.kind == kind
    ]


def test_all_seven_features_are_mapped(make, vision_emulator, sample_frame):
    """Test that one frame with all 7 features yields every kind of detection with its box."""
    result = make(gender_neutral=False).analyze(sample_frame)

    people = boxes(result, "person")
    assert people[0][2:] == PERSON and people[0][1] == pytest.approx(0.9603, abs=1e-3)
    assert people[1][1] < 0.01  # the low-confidence person is kept too
    assert ("chair", 0.618, 603, 225, 152, 224) in boxes(result, "object")
    line = boxes(result, "text_line")[0]
    assert line[0] == "Sample text" and line[2:] == (721, 502, 122, 17)
    assert 0.98 < line[1] <= 1
    tags = {d.label: d.confidence for d in result.detections if d.kind == "tag"}
    assert tags["furniture"] == pytest.approx(0.9874, abs=1e-3) and len(tags) == 14
    assert all(d.x is None for d in result.detections if d.kind == "tag")
    dense = boxes(result, "dense_caption")
    assert len(dense) == 10 and dense[1][0] == "a person using a laptop"
    assert dense[1][2:] == (293, 383, 195, 100)
    assert boxes(result, "smart_crop") == [("1.23", None, 108, 24, 648, 528)]
    assert result.caption == "a woman wearing a mask sitting at a table with a laptop"
    assert result.caption_confidence == pytest.approx(0.8498, abs=1e-3)
    assert result.transactions == 1
    # The body exactly as the service sent it (compact JSON of the recording).
    assert result.raw_json == compact(recording("all_features_from_file_default_options.json"))
    seen = vision_emulator.seen[0]
    assert seen.headers["ocp-apim-subscription-key"] == KEY
    assert set(seen.query["features"].split(",")) == set(VISION_FEATURES)
    assert seen.query["language"] == "en" and seen.query["gender-neutral-caption"] == "false"
    assert vision_emulator.violations == []


def test_gender_neutral_caption_is_requested(make, vision_emulator, sample_frame):
    """Test that gender_neutral=True reaches the service and its caption comes back."""
    result = make(features=["caption", "people"], gender_neutral=True).analyze(sample_frame)
    assert result.caption == "a person wearing a mask sitting at a table with a laptop"
    assert vision_emulator.seen[0].query["gender-neutral-caption"] == "true"
    assert {d.kind for d in result.detections} == {"person"}
    assert json.loads(result.raw_json).keys() >= {"captionResult", "peopleResult", "metadata"}


def test_token_credential_sends_bearer_and_no_key(make, vision_emulator, sample_frame):
    """Test that a TokenCredential sends its token for the Cognitive Services scope, no key."""
    credential = FakeTokenCredential()
    result = make(credential, features=["people"]).analyze(sample_frame)
    assert boxes(result, "person")[0][2:] == PERSON
    headers = vision_emulator.seen[0].headers
    assert headers["authorization"] == "Bearer emulator-token"
    assert "ocp-apim-subscription-key" not in headers
    assert credential.scopes == ["https://cognitiveservices.azure.com/.default"]
    assert vision_emulator.violations == []


def test_from_settings_picks_the_credential(vision_emulator, sample_frame, caplog):
    """Test that from_settings uses AZURE_VISION_KEY when set and the token factory otherwise."""
    env = {"AZURE_VISION_ENDPOINT": vision_emulator.endpoint, "AZURE_VISION_FEATURES": "people"}
    caplog.set_level(logging.INFO)
    factory_calls = []

    def factory():
        factory_calls.append(1)
        return FakeTokenCredential()

    with_key = AzureAnalyzer.from_settings(
        load_settings({**env, "AZURE_VISION_KEY": KEY}, dotenv=None), factory
    )
    with_key.analyze(sample_frame)
    assert factory_calls == [] and "ocp-apim-subscription-key" in vision_emulator.seen[-1].headers
    with_token = AzureAnalyzer.from_settings(load_settings(env, dotenv=None), factory)
    with_token.analyze(sample_frame)
    assert factory_calls == [1] and "authorization" in vision_emulator.seen[-1].headers
    assert with_token.features == ("people",) and with_token.concurrency == 8
    overridden = AzureAnalyzer.from_settings(
        load_settings(env, dotenv=None), factory, features=("tags", "read"), give_up_s=2
    )
    assert overridden.features == ("tags", "read") and overridden.give_up_s == 2
    overridden.close()
    assert "AZURE_VISION_KEY" in caplog.text and KEY not in caplog.text
    with_key.close()
    with_token.close()


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
    started = time.monotonic()
    assert boxes(analyzer.analyze(sample_frame), "person")[0][2:] == PERSON
    assert analyzer.attempts == 2 and vision_emulator.requests == 2
    assert time.monotonic() - started < 2.5  # did not wait for the slow answer


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


def test_a_refused_image_is_a_frame_refusal_and_not_retried(make, vision_emulator,
                                                            sample_frame):
    """Test that a 400 InvalidImageFormat refuses that frame only, with the service's reason."""
    vision_emulator.script(Fault.refused("InvalidImageFormat"))
    analyzer = make(features=["people"])
    with pytest.raises(FrameRefused, match=r"InvalidImageFormat: Input data is not a valid"):
        analyzer.analyze(sample_frame)
    assert vision_emulator.requests == 1 and analyzer.waits == []
    assert analyzer.analyze(sample_frame).transactions == 1  # the next frame goes on


@pytest.mark.parametrize("fault", [Fault.refused("NotSupportedFeature"), Fault(400)])
def test_a_400_for_the_whole_request_fails_fast(make, vision_emulator, sample_frame, fault):
    """Test that a 400 about the request (a feature the region lacks) is not a frame refusal."""
    vision_emulator.script(fault)
    with pytest.raises(AnalyzerError) as err:
        make(features=["caption"]).analyze(sample_frame)
    assert not isinstance(err.value, FrameRefused) and "refused the request" in str(err.value)
    assert vision_emulator.requests == 1


def test_a_wrong_endpoint_fails_fast_naming_the_setting(vision_emulator, sample_frame):
    """Test that a 404 (an endpoint that is no Vision resource) fails at once."""
    analyzer = AzureAnalyzer(f"{vision_emulator.endpoint}/not-vision",
                             credential=AzureKeyCredential(KEY), features=["tags"])
    with pytest.raises(AnalyzerError, match="AZURE_VISION_ENDPOINT"):
        analyzer.analyze(sample_frame)
    assert vision_emulator.requests == 1
    analyzer.close()


def test_a_stop_abandons_the_wait_and_sends_nothing_more(make, vision_emulator, sample_frame):
    """Test that setting the stop event wakes a caller held by Retry-After, with no request."""
    vision_emulator.stretch(Fault.throttle(retry_after="30"), seconds=60)
    analyzer = make(features=["tags"], real_time=True)
    stop = threading.Event()
    outcome: list = []

    def call():
        try:
            analyzer.analyze(sample_frame, stop)
        except Cancelled as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 10
    while vision_emulator.requests < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # it is now waiting out the Retry-After
    stop.set()
    stopped = time.monotonic()
    caller.join(5)
    assert not caller.is_alive() and len(outcome) == 1
    assert time.monotonic() - stopped < 1.0
    assert vision_emulator.requests == 1
    assert analyzer.waiting().message == "Azure AI Vision is throttling"
    assert 25 < analyzer.waiting().seconds <= 30


def test_401_with_key_fails_at_once(make, vision_emulator, sample_frame, caplog):
    """Test that a refused key fails on the first request, naming the settings, not the key."""
    secret = "wrong-key-0123456789abcdef"
    analyzer = make(AzureKeyCredential(secret), features=["people"])
    with pytest.raises(AnalyzerError) as err:
        analyzer.analyze(sample_frame)
    message = str(err.value)
    assert "AZURE_VISION_KEY" in message and "AZURE_VISION_ENDPOINT" in message
    assert "Access denied" in message and secret not in message and secret not in caplog.text
    assert vision_emulator.requests == 1 and analyzer.waits == []


def test_401_with_token_names_the_role(make, vision_emulator, sample_frame):
    """Test that a refused token fails at once and names the role the identity needs."""
    vision_emulator.script(Fault(401))
    with pytest.raises(AnalyzerError, match="Cognitive Services User"):
        make(FakeTokenCredential(), features=["people"]).analyze(sample_frame)
    assert vision_emulator.requests == 1


def test_token_that_cannot_be_had_fails_before_sending(make, vision_emulator, sample_frame):
    """Test that a credential failing to give a token is an AnalyzerError, with no request."""
    with pytest.raises(AnalyzerError, match="no managed identity here"):
        make(FakeTokenCredential(fail=True), features=["people"]).analyze(sample_frame)
    assert vision_emulator.requests == 0


def test_400_reports_the_service_message(make, vision_emulator, sample_frame):
    """Test that a 400 fails at once with the service's own code and message."""
    vision_emulator.script(Fault(400))
    analyzer = make(features=["people"])
    with pytest.raises(AnalyzerError, match=r"400 InvalidRequest.*image url is not accessible"):
        analyzer.analyze(sample_frame)
    assert vision_emulator.requests == 1 and analyzer.waits == []


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


def test_tiny_frame_is_upscaled_and_boxes_mapped_back(make, vision_emulator):
    """Test that a 48x32 frame is sent above 50x50 and boxes come back in the frame's pixels."""
    result = make(features=["people"]).analyze(scaled_frame((48, 32)))
    assert vision_emulator.violations == [] and min(vision_emulator.seen[0].image_size) > 50
    x, y, w, h = boxes(result, "person")[0][2:]
    expected = [v * 48 / 864 for v in PERSON]
    assert all(abs(a - b) <= 1.5 for a, b in zip((x, y, w, h), expected, strict=True))


def test_huge_frame_is_downscaled_and_boxes_mapped_back(make, vision_emulator):
    """Test that a 16200-wide frame is sent under 16000 and boxes scale back to its pixels."""
    size = (16200, 108)  # wide and short, so the test stays small in memory
    rgb = np.asarray(Image.open(RESPONSES / "sample.png").convert("RGB").resize(size))
    frame = SampledFrame(0, 0.0, b"\xff\xd8\xff" + bytes(64), *size, rgb=rgb)
    result = make(features=["people"]).analyze(frame)
    assert vision_emulator.violations == [] and max(vision_emulator.seen[0].image_size) < 16000
    x, y, w, h = boxes(result, "person")[0][2:]
    # The emulator scales the recorded boxes to the image it received; we scale them back.
    expected = (PERSON[0] * 16200 / 864, PERSON[1] * 108 / 576, PERSON[2] * 16200 / 864)
    assert abs(x - expected[0]) <= 3 and abs(y - expected[1]) <= 2 and abs(w - expected[2]) <= 3
    assert 0 < h <= 108


def test_oversized_bytes_are_reencoded():
    """Test that a frame over 20 MB is re-encoded under the limit at the same size."""
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    frame = SampledFrame(0, 0.0, b"\xff\xd8\xff" + bytes(MAX_BYTES + 10), 1600, 1200, rgb=noise)
    prepared = prepare_image(frame)
    assert len(prepared.data) <= MAX_BYTES
    assert Image.open(io.BytesIO(prepared.data)).size == (1600, 1200)
    assert (prepared.scale_x, prepared.scale_y) == (1.0, 1.0)


def test_frame_within_limits_is_sent_untouched(sample_frame):
    """Test that a frame already within the limits is sent as its own JPEG bytes."""
    assert prepare_image(sample_frame).data is sample_frame.jpeg


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


def test_analyzer_refuses_bad_setup():
    """Test that unknown features and a token over non-loopback http are refused up front."""
    with pytest.raises(ValueError, match="features"):
        AzureAnalyzer("https://x.example", credential=AzureKeyCredential("k"), features=["faces"])
    with pytest.raises(AnalyzerError, match="https"):
        AzureAnalyzer("http://x.example", credential=FakeTokenCredential(), features=["tags"])


def test_emulator_rejects_what_the_service_would(vision_emulator):
    """Test that the emulator answers bad requests with 400/401 and records the violations."""

    def post(query: str, body: bytes, headers: dict) -> int:
        url = f"{vision_emulator.endpoint}/computervision/imageanalysis:analyze?{query}"
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code

    png = (RESPONSES / "sample.png").read_bytes()
    good = {"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/octet-stream"}
    ok = "api-version=2023-10-01&features=people"
    assert post(ok, png, good) == 200
    assert post(ok, png, {**good, "Ocp-Apim-Subscription-Key": "nope"}) == 401
    assert post("api-version=2024-02-01&features=people", png, good) == 400
    assert post("api-version=2023-10-01&features=faces", png, good) == 400
    assert post(ok, b"not an image", good) == 400
    assert post(ok, png, {**good, "Content-Type": "image/png"}) == 400
    assert len(vision_emulator.violations) == 5


def test_emulator_enforces_its_rate_limit(vision_emulator, sample_frame):
    """Test that the emulator's sliding window answers 429 above its limit and counts them."""
    vision_emulator.rate_limit = 3
    png = sample_frame.jpeg
    url = f"{vision_emulator.endpoint}/computervision/imageanalysis:analyze"
    codes = []
    for _ in range(5):
        request = urllib.request.Request(
            f"{url}?api-version=2023-10-01&features=tags",
            data=png,
            headers={"Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/octet-stream"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                codes.append(answer.status)
        except urllib.error.HTTPError as err:
            codes.append(err.code)
            assert err.headers["Retry-After"] == "1"
    assert codes == [200, 200, 200, 429, 429] and vision_emulator.throttled == 2
