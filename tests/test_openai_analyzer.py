"""The Azure OpenAI question analyser against the chat-completions emulator, through the real
`openai` client: requests as the service wants them, answers checked, faults met."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from services.questions import parse_questions
from services.storage.local import LocalBlobStore
from services.video.frames import SampledFrame
from services.vision.base import AnalyzerError, Cancelled, FrameRefused
from services.vision.cache import CachedAnalyzer
from services.vision.openai_chat import OpenAIAnalyzer, OpenAIOptions
from services.vision.openai_tokens import image_tokens
from services.vision.throttle import EndpointThrottle
from tests.fixtures import openai_faults as faults
from tests.fixtures.clock import FakeClock
from tests.fixtures.tools import wait_for

QUESTIONS = parse_questions([
    {"key": "bright", "text": "Is the frame bright?", "type": "yes_no"},
    {"key": "people", "text": "How many people?", "type": "count"},
    {"key": "level", "text": "Rate the light", "type": "score"},
    {"key": "mood", "text": "Mood", "type": "choice", "choices": ["dark", "dim", "light"]},
    {"key": "board", "text": "What is on the board?", "type": "text"},
])


def frame(grey: int, size: tuple[int, int] = (1920, 1080), index: int = 0) -> SampledFrame:
    buf = io.BytesIO()
    Image.new("RGB", size, (grey, grey, grey)).save(buf, format="JPEG", quality=90)
    return SampledFrame(index, index / 2, buf.getvalue(), *size)


def analyzer(emulator, *, key: str | None = None, deployment: str | None = None,
             **options) -> OpenAIAnalyzer:
    limits = {"tpm": 5_000_000, "rpm": 5_000}  # the emulator's: pacing never waits here
    opts = OpenAIOptions(deployment=deployment or emulator.deployment, model="gpt-4.1-mini",
                         questions=QUESTIONS, **{**limits, **options})
    # Its own throttle: no test shares pacing or pushback with another.
    return OpenAIAnalyzer(emulator.endpoint, api_key=key or emulator.key, options=opts,
                          throttle=EndpointThrottle(100.0))


def test_a_frame_is_answered_with_a_strict_schema_and_no_max_tokens(openai_emulator):
    """Test the request (deployment as model, max_completion_tokens, strict schema, the frame
    downscaled to 1280 px as JPEG) and the answers derived from the picture."""
    bright = analyzer(openai_emulator).analyze(frame(230))
    dark = analyzer(openai_emulator).analyze(frame(20))
    seen = openai_emulator.seen[0]
    assert seen.status == 200 and seen.image_size == (1280, 720)
    assert "max_tokens" not in seen.body and seen.body["max_completion_tokens"] == 300
    assert seen.body["model"] == openai_emulator.deployment
    assert seen.body["response_format"]["json_schema"]["strict"] is True
    # The system prompt and the questions come before the image, the same for every frame.
    system, user = seen.body["messages"]
    assert system["role"] == "system" and [p["type"] for p in user["content"]] == \
        ["text", "image_url"]
    assert user["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    other = openai_emulator.seen[1].body["messages"]
    assert other[0] == system and other[1]["content"][0] == user["content"][0]
    by_key = {a.key: a for a in bright.answers}
    assert (by_key["bright"].text, by_key["people"].number, by_key["level"].number) == \
        ("yes", 9.0, 9.0)
    assert by_key["mood"].text == "light" and by_key["board"].text == "brightness 0.90"
    assert {a.key: a.text for a in dark.answers}["bright"] == "no"
    assert all(a.valid for a in bright.answers + dark.answers)
    assert bright.caption == "a frame of brightness 0.90" and bright.caption_confidence is None
    assert [(d.kind, d.label, d.confidence) for d in bright.detections] == [("tag", "bright",
                                                                             None)]


def test_the_usage_the_service_counted_is_kept_with_who_answered(openai_emulator):
    """Test tokens, model, region and request id from the answer, and the image tokens the
    estimate predicts equal what the service counted by the documented rule."""
    result = analyzer(openai_emulator).analyze(frame(128))
    seen = openai_emulator.seen[0]
    assert result.usage is not None and result.transactions == 1
    assert result.usage.prompt == seen.prompt_tokens
    assert result.usage.completion == seen.completion_tokens
    assert result.usage.model == openai_emulator.model and result.usage.region
    assert result.usage.request_id
    assert analyzer(openai_emulator).estimate(1920, 1080).image_tokens == \
        image_tokens(1280, 720, "gpt-4.1-mini") == 1491


def test_out_of_range_answers_are_kept_and_marked_invalid(openai_emulator):
    """Test a count of -1, a score of 12, an unlisted choice and "maybe": kept, invalid."""
    openai_emulator.script(faults.OUT_OF_RANGE)
    answers = {a.key: a for a in analyzer(openai_emulator).analyze(frame(200)).answers}
    assert (answers["people"].number, answers["people"].valid) == (-1.0, False)
    assert (answers["level"].number, answers["level"].valid) == (12.0, False)
    assert (answers["mood"].text, answers["mood"].valid) == ("not_listed", False)
    assert (answers["bright"].text, answers["bright"].valid) == ("maybe", False)


def test_cannot_tell_is_an_answer(openai_emulator):
    openai_emulator.script(faults.ABSTAINS)
    answers = analyzer(openai_emulator).analyze(frame(200)).answers
    assert all(a.cannot_tell for a in answers if a.key != "board")


@pytest.mark.parametrize("fault", [faults.CONTENT_FILTER, faults.FILTERED, faults.TRUNCATED,
                                   faults.REFUSED], ids=lambda f: f.kind)
def test_a_refusal_of_one_frame_refuses_that_frame_only(openai_emulator, fault):
    """Test the content filter (400 and finish_reason), a cut answer and a refusal: the frame
    is refused with a reason; the next frame is answered."""
    openai_emulator.script(fault)
    chat = analyzer(openai_emulator)
    with pytest.raises(FrameRefused) as info:
        chat.analyze(frame(100))
    assert "\n" not in str(info.value)
    assert chat.analyze(frame(100, index=1)).answers


def test_bad_credentials_and_an_unknown_deployment_fail_fast_naming_the_setting(
        openai_emulator):
    with pytest.raises(AnalyzerError, match="AZURE_OPENAI_API_KEY") as info:
        analyzer(openai_emulator, key="wrong-key").analyze(frame(100))
    assert "wrong-key" not in str(info.value)
    with pytest.raises(AnalyzerError, match="AZURE_OPENAI_DEPLOYMENT"):
        analyzer(openai_emulator, deployment="gpt-nope").analyze(frame(100))
    assert len(openai_emulator.seen) == 2  # one request each: no retries


def test_a_429_holds_the_endpoint_for_the_time_asked_then_answers(openai_emulator):
    """Test that 429s with retry-after-ms are waited out (the SDK's own retries are off:
    each attempt is ours) and the frame is answered."""
    openai_emulator.script(faults.Fault.throttle(0.2), faults.Fault.throttle(0.2))
    chat = analyzer(openai_emulator)
    assert chat.analyze(frame(100)).answers
    assert [s.status for s in openai_emulator.seen] == [429, 429, 200]
    assert chat.attempts == 3
    gaps = [b.at - a.at for a, b in zip(openai_emulator.seen, openai_emulator.seen[1:],
                                        strict=False)]
    assert min(gaps) >= 0.19


def test_a_spent_quota_is_waited_for_and_said_not_given_up(openai_emulator):
    """Test 429s asking for 2 h (longer than the SDK's 60 s): the analyser says the quota is
    exhausted, keeps waiting past its give-up time (counted from the end of the wait asked for)
    and answers once the service does."""
    clock, said = FakeClock(), []

    def wait(seconds, stop):
        said.append(chat.waiting())
        return clock.wait(seconds, stop)

    opts = OpenAIOptions(deployment=openai_emulator.deployment, model="gpt-4.1-mini",
                         questions=QUESTIONS, tpm=5_000_000, rpm=5_000, give_up_s=100.0)
    chat = OpenAIAnalyzer(openai_emulator.endpoint, api_key=openai_emulator.key, options=opts,
                          throttle=EndpointThrottle(100.0, clock=clock, wait=wait))
    openai_emulator.script(*[faults.Fault.throttle(7200.0)] * 3)
    assert chat.analyze(frame(100)).answers
    assert [s.status for s in openai_emulator.seen] == [429, 429, 429, 200]
    assert clock.now - 1000.0 >= 180.0  # three holds of 60 s: past the 100 s give-up time
    quota = [w for w in said if w is not None and "quota is exhausted" in w.message]
    assert quota and all(w.seconds is not None and w.seconds > 7000 for w in quota)
    assert chat.waiting() is None


def test_a_cancel_sends_nothing_more(openai_emulator):
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        analyzer(openai_emulator).analyze(frame(100), stop)
    assert openai_emulator.seen == []


def test_a_cancel_abandons_the_request_in_flight(openai_emulator):
    """Test a cancel while the frame's request is at the service: its answer, when it comes,
    is dropped (Cancelled, nothing returned to store) and nothing more is sent."""
    # The answer is held until the cancel has been sent: it lands in flight however loaded the
    # machine (a 0.5 s delay could pass before the cancel went out).
    release = threading.Event()
    openai_emulator.script(faults.Fault.held_until(release))
    stop, outcome = threading.Event(), []
    chat = analyzer(openai_emulator)

    def run() -> None:
        try:
            outcome.append(chat.analyze(frame(100), stop))
        except Cancelled as exc:
            outcome.append(exc)

    caller = threading.Thread(target=run)
    caller.start()
    wait_for(lambda: openai_emulator.requests == 1, "the request to arrive")
    stop.set()
    release.set()
    caller.join(timeout=30)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert [s.status for s in openai_emulator.seen] == [200]


def test_the_result_cache_answers_the_same_frame_and_questions_at_no_cost(openai_emulator,
                                                                           tmp_path):
    """Test that an identical frame with identical questions and model costs one request, and
    that other questions ask again."""
    store = LocalBlobStore(tmp_path)
    cached = CachedAnalyzer(analyzer(openai_emulator), store, "a" * 64)
    first, again = cached.analyze(frame(180)), cached.analyze(frame(180))
    assert first.answers == again.answers and again.transactions == 0 and again.usage is None
    assert len(openai_emulator.seen) == 1
    other = OpenAIOptions(deployment=openai_emulator.deployment, model="gpt-4.1-mini",
                          questions=QUESTIONS[:2], tpm=5_000_000, rpm=5_000)
    fresh = OpenAIAnalyzer(openai_emulator.endpoint, api_key=openai_emulator.key,
                           options=other, throttle=EndpointThrottle(100.0))
    CachedAnalyzer(fresh, store, "a" * 64).analyze(frame(180))
    assert len(openai_emulator.seen) == 2


def test_requests_are_paced_for_the_size_of_the_frames_sent(openai_emulator):
    """Test that the rate follows the deployment's TPM for the frames actually sent: 4:3
    frames cost more image tokens than 16:9 ones, so fewer go out a second."""
    chat = analyzer(openai_emulator, tpm=600_000, rpm=100_000)
    wide = chat.estimate(1280, 720).budget
    chat.analyze(frame(100, size=(1280, 720)))
    assert chat.throttle.rate == pytest.approx(0.95 * 600_000 / wide / 60)
    tall = chat.estimate(1280, 960).budget
    chat.analyze(frame(100, size=(1280, 960), index=1))
    assert tall > wide
    assert chat.throttle.rate == pytest.approx(0.95 * 600_000 / tall / 60)


class TokenSource:
    """Stands in for DefaultAzureCredential: hands out the token the emulator accepts and
    records the scopes asked for."""

    def __init__(self, token: str):
        self.token, self.scopes = token, []

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, 4_102_444_800)


def test_without_a_key_the_analyser_signs_in_with_entra_id(openai_emulator, tmp_path):
    """Test the settings' branch without AZURE_OPENAI_API_KEY: a bearer token for the
    Cognitive Services scope from the credential, sent as the client's key; with a key, the
    key is sent and the credential is never asked."""
    from services.config import load_settings

    env = {"FRAMEWISE_DATA_DIR": str(tmp_path), "AZURE_OPENAI_ENDPOINT": openai_emulator.endpoint,
           "AZURE_OPENAI_TPM": "5000000", "AZURE_OPENAI_RPM": "5000"}
    credential = TokenSource(openai_emulator.token)
    chat = OpenAIAnalyzer.from_settings(load_settings(env, dotenv=None), QUESTIONS,
                                        credential_factory=lambda: credential)
    assert chat.analyze(frame(100)).answers
    assert openai_emulator.seen[-1].headers["authorization"] == f"Bearer {openai_emulator.token}"
    assert credential.scopes == [("https://cognitiveservices.azure.com/.default",)]
    unused = TokenSource("never")
    keyed = OpenAIAnalyzer.from_settings(
        load_settings({**env, "AZURE_OPENAI_API_KEY": openai_emulator.key}, dotenv=None),
        QUESTIONS, credential_factory=lambda: unused)
    assert keyed.analyze(frame(100, index=1)).answers and unused.scopes == []
