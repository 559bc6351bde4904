"""The Azure OpenAI emulator itself (tests/fixtures/openai_emulator.py), driven by the real openai
client: it answers from the image by its documented rule, counts tokens by the model's rule,
refuses what the service refuses, enforces its limits and plays the scripted faults."""

from __future__ import annotations

import base64
import io
import json
import math
import socket
import time
import urllib.error
import urllib.request

import openai
import pytest
from PIL import Image

from services.questions import check_answers, parse_questions, questions_prompt, response_schema
from tests.fixtures import openai_faults as faults
from tests.fixtures.clock import FakeClock
from tests.fixtures.openai_emulator import PATH, OpenAIEmulator, image_tokens
from tests.fixtures.tools import wait_for

QUESTIONS = parse_questions([
    {"key": "standing", "text": "Is anyone standing?", "type": "yes_no"},
    {"key": "people", "text": "How many people?", "type": "count"},
    {"key": "posture", "text": "Posture of the nearest person", "type": "choice",
     "choices": ["standing", "sitting", "bending", "lying"]},
    {"key": "busy", "text": "How busy is the scene?", "type": "score"},
    {"key": "distance", "text": "Distance to the camera in metres", "type": "number"},
    {"key": "wall", "text": "What colour is the wall?", "type": "text"},
])
SYSTEM = "You answer questions about one video frame. Answer only what you can see."


def jpeg(level: int, size: tuple[int, int] = (1280, 720)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (level, level, level)).save(out, "JPEG", quality=90)
    return out.getvalue()


def request(image: bytes, *, schema: dict | None = None, **extra) -> dict:
    """The request our analyser sends: system text, questions then the frame, strict schema."""
    data_url = "data:image/jpeg;base64," + base64.b64encode(image).decode()
    return {"model": "gpt-4.1-mini", "max_completion_tokens": 400, "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": [
            {"type": "text", "text": questions_prompt(QUESTIONS)},
            {"type": "image_url", "image_url": {"url": data_url, "detail": "auto"}}]}],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "frame_answers", "strict": True,
            "schema": schema or response_schema(QUESTIONS, caption=True, tags=True)}}} | extra


def client(emulator: OpenAIEmulator, key: str | None = None, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{emulator.endpoint}/openai/v1/",
                         api_key=key or emulator.key, max_retries=retries)


def ask(emulator: OpenAIEmulator, image: bytes, **kwargs):
    return client(emulator).chat.completions.create(**request(image, **kwargs))


def test_answers_are_derived_from_the_image(openai_emulator):
    """Test that a bright and a dark frame get the answers of the documented rule, all valid."""
    bright = ask(openai_emulator, jpeg(230))
    dark = ask(openai_emulator, jpeg(30))
    assert bright.model == "gpt-4.1-mini-2025-04-14" and bright.object == "chat.completion"
    assert bright.choices[0].finish_reason == "stop" and bright.choices[0].message.refusal is None
    assert json.loads(bright.choices[0].message.content) == {
        "answers": {"standing": "yes", "people": 9, "posture": "lying", "busy": 9,
                    "distance": 90.2, "wall": "brightness 0.90"},
        "caption": "a frame of brightness 0.90", "tags": ["bright"]}
    values = json.loads(dark.choices[0].message.content)
    assert values == {
        "answers": {"standing": "no", "people": 1, "posture": "standing", "busy": 1,
                    "distance": 11.8, "wall": "brightness 0.12"},
        "caption": "a frame of brightness 0.12", "tags": ["dark"]}
    assert all(a.valid and not a.cannot_tell for a in check_answers(QUESTIONS, values["answers"]))
    first = openai_emulator.seen[0]
    assert first.status == 200 and first.image_size == (1280, 720)
    assert first.body["response_format"]["json_schema"]["strict"] is True
    assert openai_emulator.violations == [] and openai_emulator.requests == 2
    # The recorded shape: prompt filter results of an image prompt, singular.
    raw = client(openai_emulator).chat.completions.with_raw_response.create(**request(jpeg(90)))
    body = json.loads(raw.text)
    assert set(body["prompt_filter_results"][0]) == {"prompt_index", "content_filter_result"}
    assert raw.headers["x-ms-deployment-name"] == "gpt-4.1-mini"
    # Azure's remaining requests count a 10 s window (RPM / 6); no limit or reset headers.
    assert int(raw.headers["x-ratelimit-remaining-requests"]) == 5000 // 6 - 3
    assert "x-ratelimit-limit-requests" not in raw.headers


def test_out_of_range_and_cannot_tell_answers_when_scripted(openai_emulator):
    """Test the scripted modes: out-of-range values are kept and marked, cannot-tell abstains."""
    openai_emulator.script(faults.OUT_OF_RANGE, faults.ABSTAINS)
    wild = json.loads(ask(openai_emulator, jpeg(230)).choices[0].message.content)["answers"]
    assert wild == {"standing": "maybe", "people": -1, "posture": "not_listed", "busy": 12,
                    "distance": 90.2, "wall": "brightness 0.90"}
    checked = {a.key: a.valid for a in check_answers(QUESTIONS, wild)}
    assert checked == {"standing": False, "people": False, "posture": False, "busy": False,
                       "distance": True, "wall": True}
    shy = json.loads(ask(openai_emulator, jpeg(230)).choices[0].message.content)["answers"]
    assert shy == {"standing": "cannot_tell", "people": None, "posture": "cannot_tell",
                   "busy": None, "distance": None, "wall": None}
    assert all(a.cannot_tell for a in check_answers(QUESTIONS, shy))


def test_prompt_tokens_follow_the_models_rule(openai_emulator):
    """Test usage against the documented image rule plus about four characters a text token,
    the schema counted as prompt (structured outputs put it there)."""
    answer = ask(openai_emulator, jpeg(128))
    text = SYSTEM + questions_prompt(QUESTIONS) + json.dumps(
        response_schema(QUESTIONS, caption=True, tags=True))
    assert answer.usage.prompt_tokens == 1491 + math.ceil(len(text) / 4)
    content = answer.choices[0].message.content
    assert answer.usage.completion_tokens == math.ceil(len(content) / 4)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens
    assert answer.usage.prompt_tokens_details.cached_tokens == 0
    assert answer.usage.completion_tokens_details.reasoning_tokens == 0
    seen = openai_emulator.seen[0]
    assert seen.charged == answer.usage.prompt_tokens + 400  # the estimate counted on arrival
    big = ask(openai_emulator, jpeg(128, (1800, 2400)))
    assert big.usage.prompt_tokens == 2353 + math.ceil(len(text) / 4)  # 1452 patches x 1.62


def test_image_tokens_by_model():
    """Test the pure rule: 32 px patches x multiplier, or 512 px tiles after fitting."""
    assert image_tokens(1280, 720) == 1491  # 40 x 23 patches x 1.62
    assert image_tokens(1280, 720, "gpt-4.1-nano") == 2264  # x 2.46
    assert image_tokens(320, 160) == 81  # 50 x 1.62 is 81 exactly, not 82 by float error
    assert image_tokens(1024, 1024, "gpt-4.1-mini") == math.ceil(1024 * 1.62)
    assert image_tokens(1800, 2400) == math.ceil(1452 * 1.62)  # scaled down to 1536 patches or less
    assert image_tokens(4000, 4000) == math.ceil(1521 * 1.62)  # 39 x 39 after scaling
    assert image_tokens(1280, 720, "gpt-4o") == 1105  # 3 x 2 tiles
    assert image_tokens(1024, 1024, "gpt-4o-2024-08-06") == 765  # short side to 768: 2 x 2
    assert image_tokens(2048, 4096, "gpt-4.1") == 1105  # 1024 x 2048, then 768 x 1536: 2 x 3
    assert image_tokens(1280, 720, "gpt-4o", "low") == 85
    assert image_tokens(1280, 720, "gpt-4o-mini", "low") == 2833
    with pytest.raises(ValueError):
        image_tokens(100, 100, "dall-e-3")


def test_refusals_of_the_service(openai_emulator):
    """Test the recorded 401, unknown_model and unsupported max_tokens, and the modelled 400s."""
    with pytest.raises(openai.AuthenticationError) as bad_key:
        client(openai_emulator, key="wrong").chat.completions.create(**request(jpeg(100)))
    assert bad_key.value.body["message"].startswith("Access denied due to invalid subscription")
    with pytest.raises(openai.BadRequestError) as unknown:
        ask(openai_emulator, jpeg(100), model="gpt-4o")
    assert unknown.value.code == "unknown_model" and "Unknown model: gpt-4o" in str(unknown.value)
    with pytest.raises(openai.BadRequestError) as max_tokens:
        ask(openai_emulator, jpeg(100), max_tokens=400)
    assert max_tokens.value.code == "unsupported_parameter"
    assert max_tokens.value.param == "max_tokens"
    with pytest.raises(openai.BadRequestError) as not_an_image:
        c = client(openai_emulator)
        c.chat.completions.create(**request(b"\xff\xd8\xffnot a jpeg"))
    assert not_an_image.value.body["type"] == "invalid_request_error"
    assert [v[:3] for v in openai_emulator.violations] == ["401", "400", "400", "400"]
    assert openai_emulator.statuses == {401: 1, 400: 3}


def test_the_key_or_an_entra_token(openai_emulator):
    """Test that the key goes as api-key or bearer, an Entra token as bearer, no api-version."""
    assert client(openai_emulator, key=openai_emulator.token).chat.completions.create(
        **request(jpeg(100))).choices[0].finish_reason == "stop"

    def post(headers: dict, query: str = "") -> int:
        call = urllib.request.Request(
            f"{openai_emulator.endpoint}{PATH}{query}", method="POST",
            data=json.dumps(request(jpeg(100))).encode(),
            headers={"Content-Type": "application/json"} | headers)
        try:
            with urllib.request.urlopen(call, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code

    assert post({"api-key": openai_emulator.key}) == 200
    assert post({"api-key": "wrong"}) == 401 and post({}) == 401
    assert post({"api-key": openai_emulator.key}, "?api-version=2024-10-21") == 400


def test_the_strict_schema_is_checked_as_azure_does(openai_emulator):
    """Test that strict mode needs every property required and no additional ones, no ranges."""
    good = response_schema(QUESTIONS)
    open_ended = {**good, "additionalProperties": True}
    partly_required = {**good, "properties": {**good["properties"],
                                              "extra": {"type": "string"}}}
    ranged = json.loads(json.dumps(good))
    ranged["properties"]["answers"]["properties"]["busy"] |= {"minimum": 0, "maximum": 10}
    nested = json.loads(json.dumps(good))
    del nested["properties"]["answers"]["additionalProperties"]
    for schema, says in [(open_ended, "'additionalProperties' is required"),
                         (partly_required, "Missing 'extra'"),
                         (ranged, "'maximum' is not permitted"),
                         (nested, "context=('properties', 'answers')")]:
        with pytest.raises(openai.BadRequestError) as refused:
            ask(openai_emulator, jpeg(100), schema=schema)
        assert refused.value.body["type"] == "invalid_request_error", says
        assert refused.value.param == "response_format" and says in refused.value.message
    loose = request(jpeg(100), schema=ranged)
    loose["response_format"]["json_schema"]["strict"] = False  # not strict: taken as given
    assert client(openai_emulator).chat.completions.create(**loose).choices[0].message.content
    assert len(openai_emulator.violations) == 4


def test_content_filters_length_and_refusal(openai_emulator):
    """Test the recorded content-filter 400 and the 200s that carry no usable answer."""
    openai_emulator.script(faults.CONTENT_FILTER, faults.FILTERED, faults.TRUNCATED,
                           faults.REFUSED)
    with pytest.raises(openai.BadRequestError) as blocked:
        ask(openai_emulator, jpeg(100))
    assert blocked.value.code == "content_filter"
    assert blocked.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    filtered = ask(openai_emulator, jpeg(100)).choices[0]
    assert filtered.finish_reason == "content_filter" and filtered.message.content is None
    truncated = ask(openai_emulator, jpeg(100)).choices[0]
    assert truncated.finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.message.content)
    refused = ask(openai_emulator, jpeg(100)).choices[0]
    assert refused.message.refusal and refused.message.content is None
    short = ask(openai_emulator, jpeg(100), max_completion_tokens=10)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 10
    assert [s.finish_reason for s in openai_emulator.seen] == [
        None, "content_filter", "length", "stop", "length"]


def test_scripted_401_and_503(openai_emulator):
    """Test the scripted 401 and 503 as the SDK raises them."""
    openai_emulator.script(faults.UNAUTHORIZED, faults.UNAVAILABLE)
    with pytest.raises(openai.AuthenticationError):
        ask(openai_emulator, jpeg(100))
    with pytest.raises(openai.InternalServerError) as unavailable:
        ask(openai_emulator, jpeg(100))
    assert unavailable.value.status_code == 503
    assert openai_emulator.violations == []  # scripted, not the request's fault


def test_a_429_stretch_says_when_to_retry_and_the_sdk_waits_it_out(openai_emulator):
    """Test the modelled 429: retry-after-ms and retry-after, and two SDK retries outlast it."""
    stretch = openai_emulator.stretch(faults.Fault.throttle(), seconds=0.6)
    with pytest.raises(openai.RateLimitError) as throttled:
        ask(openai_emulator, jpeg(100))
    headers = throttled.value.response.headers
    assert 1 <= int(headers["retry-after-ms"]) <= 600 and headers["retry-after"] == "1"
    assert "Please retry after 1 seconds" in throttled.value.body["message"]
    time.sleep(0.7)  # stretch over
    openai_emulator.stretch(faults.Fault.throttle(), seconds=0.5, after=0)
    started = time.monotonic()
    answer = client(openai_emulator, retries=2).chat.completions.create(**request(jpeg(100)))
    assert answer.choices[0].finish_reason == "stop" and time.monotonic() - started >= 0.45
    assert [s.status for s in openai_emulator.seen] == [429, 429, 200]
    last = openai_emulator.seen
    assert last[2].at - last[1].at >= 0.45 and stretch.started == last[0].at


def test_limits_count_each_request_on_arrival():
    """Test RPM over 1 s windows at RPM/60 and TPM over 60 s, on an injected clock."""
    clock = FakeClock()
    with OpenAIEmulator(rpm=120, tpm=6000, clock=clock) as emulator:
        statuses = []
        for _ in range(3):
            try:
                ask(emulator, jpeg(100), max_completion_tokens=100)
                statuses.append(200)
            except openai.RateLimitError as err:
                statuses.append(429)
                assert err.response.headers["retry-after-ms"] == "1000"
                assert "call rate limit" in err.body["message"]
        assert statuses == [200, 200, 429] and emulator.throttled == 1
        clock.now += 1.0
        estimate = emulator.seen[0].charged  # prompt + max_completion_tokens
        assert estimate == emulator.seen[0].prompt_tokens + 100 and estimate > 1500
        ask(emulator, jpeg(100), max_completion_tokens=100)  # three estimates in the minute now
        clock.now += 30.0  # 31 s after the first two
        with pytest.raises(openai.RateLimitError) as tokens:
            ask(emulator, jpeg(100), max_completion_tokens=2000)
        assert "token rate limit" in tokens.value.body["message"]
        wait = int(tokens.value.response.headers["retry-after-ms"])
        assert wait == 29_000  # when the first two leave the minute: then it fits
        assert tokens.value.response.headers["retry-after"] == "29"
        assert emulator.seen[-1].charged == estimate + 1900


def test_identical_requests_are_counted(openai_emulator):
    """Test that a second request with the same image bytes and schema is counted as a repeat."""
    ask(openai_emulator, jpeg(100))
    ask(openai_emulator, jpeg(101))
    assert openai_emulator.repeats == 0
    ask(openai_emulator, jpeg(100))
    assert openai_emulator.repeats == 1
    ask(openai_emulator, jpeg(100), schema=response_schema(QUESTIONS[:2]))
    assert openai_emulator.repeats == 1
    assert len({s.key for s in openai_emulator.seen}) == 3


@pytest.mark.parametrize("cut", ["in the body", "in the headers"])
def test_a_request_cut_short_by_its_client_is_no_request(openai_emulator, cut):
    """Test that a client gone mid-request (killed, say) is neither counted nor answered."""
    body = json.dumps(request(jpeg(100))).encode()
    head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {openai_emulator.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    sent = head + body[: len(body) // 2] if cut == "in the body" else head[: len(head) - 30]
    port = int(openai_emulator.endpoint.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)  # what the client's kernel does when the client dies
        answer = b"".join(iter(lambda: sock.recv(65536), b""))  # until the emulator closes
    wait_for(lambda: openai_emulator.cut_short == 1, "the cut-short count", timeout=10)
    assert answer == b"" and openai_emulator.requests == 0 and not openai_emulator.statuses
    assert openai_emulator.limits.counted == [] and openai_emulator.violations == []
    assert ask(openai_emulator, jpeg(100)).choices[0].finish_reason == "stop"
    assert openai_emulator.requests == 1
