"""The analysts' questions answered per frame by an Azure OpenAI vision deployment (v1 API).

One frame per request through the official `openai` client: base URL `{endpoint}/openai/v1/`,
`model` = the deployment, Entra ID by default (a bearer-token provider as the api key) or a key
for local development. Structured outputs in strict mode, the schema made from the question set;
`max_completion_tokens`, never `max_tokens`. The system prompt and the questions come before the
image, so every frame's prompt starts the same (the service can cache that prefix).

The client's own retries are off: every attempt passes through the endpoint's throttle
(services/vision/throttle.py), paced at the deployment's requests and tokens per minute (each
request budgeted at its estimate), and a 429 holds every thread for the time the service asks;
an answer whose x-ratelimit-remaining-* headers leave too little for the next request holds them
before the service has to answer 429 (services/vision/openai_limits.py).
A 429 asking for a longer wait than the SDK honours (60 s) means the deployment's quota is spent:
the analysis says so and waits (give-up time counted from the end of that wait), it is not lost.
A refusal of one frame (content filter, refusal, answer cut at the token limit) fails that frame
only; bad credentials or an unknown deployment fail the analysis at once, naming the setting.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.credentials import default_credential
from services.domain import AnalyzerKind
from services.questions import (
    Question,
    questions_prompt,
    questions_to_json,
    response_schema,
)
from services.video.frames import SampledFrame
from services.vision.base import (
    AnalyzerError,
    Cancelled,
    FrameRefused,
    FrameResult,
    WaitState,
)
from services.vision.openai_limits import (
    TOKENS_WINDOW_S,
    Readings,
    read_remaining,
    wait_for_room,
)
from services.vision.openai_results import (
    SERVICE,
    SYSTEM_PROMPT,
    data_url,
    parse_answer,
    prompt_text,
)
from services.vision.openai_tokens import FrameEstimate, estimate_frame, request_rate
from services.vision.ratelimit import share_rate
from services.vision.throttle import MAX_HOLD_S, EndpointThrottle, endpoint_throttle

log = logging.getLogger(__name__)

TOKEN_SCOPE = "https://cognitiveservices.azure.com/.default"
PROMPT_VERSION = "1"  # part of the result cache key: a changed prompt asks again
# Aim a little under the deployment's limits: they are enforced over short windows (1 to 10 s),
# and a thread scheduled late can bunch two requests.
HEADROOM = 0.95
# Azure OpenAI "evaluates the rate of incoming requests over a small period of time, typically 1
# or 10 seconds" (Microsoft Q&A 1336515, after the quota docs' "Understanding rate limits"), so
# the limiter checks ceil(rate) starts in 1 s windows, not Image Analysis's 1.05 s guard (which
# sends at most 19 per 1.05 s = 18.1/s of 19/s aimed): with HEADROOM no 1 s or 10 s holds more
# than 0.95 of the limit (rounded up to a whole request).
WINDOW_S = 1.0
NO_ANSWER = "no answer yet"
# The openai SDK waits out a retry-after of at most 60 s (as our throttle holds in full): one
# longer than that is no rate limit but a spent quota.
QUOTA_WAIT_S = MAX_HOLD_S
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class OpenAIOptions:
    """What a run asks the deployment, besides the frames."""

    deployment: str
    model: str  # for the token rule and the cache key, e.g. gpt-4.1-mini
    questions: tuple[Question, ...]
    caption: bool = True
    tags: bool = True
    max_side: int = 1280
    max_completion_tokens: int = 300
    tpm: int = 50_000
    rpm: int = 50
    concurrency: int = 4
    give_up_s: float = 600.0
    timeout_s: float = 60.0


class OpenAIAnalyzer:
    """The question set on each frame; thread-safe, `concurrency` callers at once."""

    name = AnalyzerKind.openai

    def __init__(self, endpoint: str, *, api_key: str | Callable[[], str],
                 options: OpenAIOptions, throttle: EndpointThrottle | None = None):
        import openai  # here: the client (and httpx2) load only when this analyser runs

        if not options.questions:
            raise AnalyzerError("an Azure OpenAI analysis needs at least one question")
        self.endpoint = endpoint.rstrip("/")
        self.options = options
        self.concurrency = options.concurrency
        self._openai = openai
        self._secret = api_key if isinstance(api_key, str) else None
        self._client = openai.OpenAI(base_url=f"{self.endpoint}/openai/v1/", api_key=api_key,
                                     max_retries=0, timeout=options.timeout_s)
        self._schema = response_schema(options.questions, caption=options.caption,
                                       tags=options.tags)
        self._prompt = questions_prompt(options.questions)
        self._prompt_text = prompt_text(options.questions, caption=options.caption,
                                        tags=options.tags)
        self._lock = threading.Lock()
        self._processes = 1
        self._paced_for: tuple[int, int] = (1280, 720)  # until the first frame says otherwise
        self._quota_until: float | None = None  # the end of the wait a spent quota asked for
        self._readings = Readings()
        self._seen: tuple[int | None, int | None] = (None, None)  # TPM, RPM the headers leave us
        self.throttle = throttle or endpoint_throttle(f"{self.endpoint}#{options.deployment}",
                                                      self._ceiling(), WINDOW_S)
        self.throttle.set_ceiling(self._ceiling())
        self._clock = self.throttle.clock
        self.attempts = 0

    @classmethod
    def from_settings(cls, settings: Any, questions: tuple[Question, ...], *,
                      caption: bool = True, tags: bool = True,
                      credential_factory: Callable[[], Any] = default_credential,
                      ) -> OpenAIAnalyzer:
        """Key from AZURE_OPENAI_API_KEY when set (local development), otherwise Entra ID."""
        if not settings.openai_endpoint:
            raise AnalyzerError("AZURE_OPENAI_ENDPOINT is not set; the Azure OpenAI analyser "
                                "needs it")
        api_key: str | Callable[[], str]
        if settings.openai_api_key:
            log.info("Azure OpenAI: authenticating with the key from AZURE_OPENAI_API_KEY")
            api_key = settings.openai_api_key
        else:
            from azure.identity import get_bearer_token_provider

            log.info("Azure OpenAI: no AZURE_OPENAI_API_KEY, authenticating with Entra ID")
            api_key = get_bearer_token_provider(credential_factory(), TOKEN_SCOPE)
        options = OpenAIOptions(
            deployment=settings.openai_deployment, model=settings.openai_model,
            questions=questions, caption=caption, tags=tags, max_side=settings.openai_max_side,
            max_completion_tokens=settings.openai_max_completion_tokens,
            tpm=settings.openai_tpm, rpm=settings.openai_rpm,
            concurrency=settings.openai_concurrency, give_up_s=settings.openai_give_up_seconds)
        return cls(settings.openai_endpoint, api_key=api_key, options=options)

    def _ceiling(self) -> float:
        """Requests per second this process may send: the deployment's TPM and RPM for requests
        of the size being sent (each budgeted at its estimate), shared between processes, and
        no more than the last answer's x-ratelimit-remaining-* leave this process."""
        budget = self.estimate(*self._paced_for).budget
        rate = request_rate(self.options.tpm, self.options.rpm, budget)
        rate = share_rate(rate, self._processes, HEADROOM)
        tpm, rpm = self._seen
        if tpm is None and rpm is None:
            return rate
        # What the headers leave this process already excludes the others' use: not shared again.
        seen = request_rate(self.options.tpm if tpm is None else tpm,
                            self.options.rpm if rpm is None else rpm, budget) * HEADROOM
        return min(rate, max(seen, 1.0 / TOKENS_WINDOW_S))

    def _pace_for(self, width: int, height: int) -> None:
        """Frames of another size cost other tokens: pace for the frames being sent."""
        with self._lock:
            if (width, height) == self._paced_for:
                return
            self._paced_for = (width, height)
            ceiling = self._ceiling()
        self.throttle.set_ceiling(ceiling)

    def close(self) -> None:
        self._client.close()

    @property
    def cache_identity(self) -> str:
        o = self.options
        return (f"openai|{PROMPT_VERSION}|{o.deployment}|{o.model}|{o.max_side}|"
                f"{o.caption}|{o.tags}|{questions_to_json(o.questions)}")

    def share_rate(self, processes: int) -> None:
        with self._lock:
            self._processes = max(1, processes)
            ceiling = self._ceiling()
        self.throttle.set_ceiling(ceiling)

    def waiting(self) -> WaitState | None:
        pushback = self.throttle.pushback()
        if pushback is None:
            return None
        now = self._clock()
        with self._lock:
            quota = self._quota_until
        if pushback.kind == "throttling" and quota is not None and quota > now:
            return WaitState(f"{SERVICE}'s quota is exhausted (it asks for a longer wait than "
                             "the SDK allows); the analysis waits for it, nothing is lost",
                             quota - now)
        seconds = None if pushback.until is None else max(0.0, pushback.until - now)
        words = {"throttling": "is throttling (tokens or requests per minute)",
                 "unavailable": "is unavailable", "unreachable": "is not answering"}
        return WaitState(f"{SERVICE} {words.get(pushback.kind, 'is refusing requests')}",
                         seconds or None)

    def estimate(self, width: int, height: int) -> FrameEstimate:
        return estimate_frame(width, height, model=self.options.model,
                              prompt_text=self._prompt_text, max_side=self.options.max_side,
                              max_completion_tokens=self.options.max_completion_tokens)

    def from_raw(self, raw: bytes, frame: SampledFrame) -> FrameResult:
        result = parse_answer(raw, self.options.questions)
        result.transactions = 0
        result.usage = None  # a stored answer costs nothing again
        return result

    def analyze(self, frame: SampledFrame, stop: threading.Event | None = None) -> FrameResult:
        self._pace_for(frame.width, frame.height)
        url, _, _ = data_url(frame, self.options.max_side)
        raw, headers = self._send(url, self.estimate(frame.width, frame.height).budget, stop)
        return parse_answer(raw, self.options.questions, headers)

    def _request(self, image_url: str) -> dict[str, Any]:
        o = self.options
        return {
            "model": o.deployment,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": [
                    {"type": "text", "text": "Questions:\n" + self._prompt},
                    {"type": "image_url", "image_url": {"url": image_url}},
                ]},
            ],
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "frame_answers", "strict": True, "schema": self._schema}},
            "max_completion_tokens": o.max_completion_tokens,
        }

    def _send(self, image_url: str, budget: int, stop: threading.Event | None
              ) -> tuple[bytes, Any]:
        """The body of the first successful answer, as sent, and its headers."""
        openai = self._openai
        request = self._request(image_url)
        started = self._clock()
        last = NO_ANSWER
        while True:
            with self._lock:
                quota = self._quota_until or started
            deadline = max(started, self.throttle.last_success() or started, quota) + \
                self.options.give_up_s
            if not self.throttle.acquire(stop, deadline):
                if stop is not None and stop.is_set():
                    raise Cancelled
                raise AnalyzerError(self._give_up_message(last))
            with self._lock:
                self.attempts += 1
            sent = self._readings.start(self._clock(), budget)
            try:
                response = self._client.chat.completions.with_raw_response.create(**request)
                raw = response.content
                json.loads(raw)  # a 200 must carry JSON
                self.throttle.succeeded()
                self._heed(response.headers, sent[0], budget)
                with self._lock:
                    self._quota_until = None
                if stop is not None and stop.is_set():
                    raise Cancelled  # cancelled while in flight: the answer is not stored
                return raw, response.headers
            except openai.APIStatusError as exc:
                self._readings.refused(sent)
                last = self._refused(exc)  # raises unless the service may answer later
                kind = "throttling" if exc.status_code == 429 else "unavailable"
                asked = retry_after(exc.response.headers)
                if kind == "throttling" and asked is not None and asked > QUOTA_WAIT_S:
                    with self._lock:
                        self._quota_until = max(self._quota_until or 0.0, self._clock() + asked)
                self.throttle.pushed_back(kind, last, asked)
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                self._readings.refused(sent)
                last = f"{type(exc).__name__}: {exc}"
                self.throttle.pushed_back("unreachable", last)
            except ValueError as exc:  # a 200 whose body is not JSON
                last = f"unreadable answer: {exc}"
            if stop is not None and stop.is_set():
                raise Cancelled
            log.warning("%s: %s; retrying", SERVICE, self._scrub(last))

    def _heed(self, headers: Any, started: float, budget: int) -> None:
        """Pace for what the answer's x-ratelimit-remaining-* leave this process, and wait before
        a 429 when they say the next request will not fit (services/vision/openai_limits.py)."""
        left = read_remaining(headers)
        seen = self._readings.limits(left, started)
        with self._lock:
            self._seen = seen
            ceiling = self._ceiling()
        self.throttle.set_ceiling(ceiling)
        # The shortfall frees at the rate the deployment allows: the lower of settings and seen.
        tpm, rpm = self.options.tpm, self.options.rpm
        hold = wait_for_room(left, budget, min(tpm, seen[0] if seen[0] is not None else tpm),
                             min(rpm, seen[1] if seen[1] is not None else rpm))
        if hold is not None:
            self.throttle.running_low(hold)

    def _refused(self, exc: Any) -> str:
        """Raise for an answer that will not change (credentials, deployment, a refused frame);
        otherwise return what the service said."""
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
        code = str(error.get("code") or "")
        inner = str((error.get("innererror") or {}).get("code") or "")
        message = str(error.get("message") or exc.message)[:300]
        last = f"{status} {inner or code}: {message}"
        if status in RETRY_STATUS:
            return last
        if status in (401, 403):
            hint = ("check AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT" if self._secret else
                    "the app's identity needs the 'Cognitive Services OpenAI User' role on the "
                    "Azure OpenAI resource; or set AZURE_OPENAI_API_KEY for local development")
            raise AnalyzerError(self._scrub(f"{SERVICE} refused the credentials ({status}): "
                                            f"{hint}")) from None
        if code in ("content_filter",) or inner == "ResponsibleAIPolicyViolation":
            raise FrameRefused(f"{SERVICE}'s content filter refused this frame") from None
        if code in ("unknown_model", "DeploymentNotFound") or status == 404:
            raise AnalyzerError(self._scrub(
                f"{SERVICE} has no deployment {self.options.deployment!r} at this endpoint: "
                "check AZURE_OPENAI_DEPLOYMENT and AZURE_OPENAI_ENDPOINT")) from None
        raise AnalyzerError(self._scrub(f"{SERVICE} refused the request ({last})")) from None

    def _give_up_message(self, last: str) -> str:
        pushback = self.throttle.pushback()
        if last == NO_ANSWER and pushback is not None:
            last = pushback.detail
        return self._scrub(f"{SERVICE} gave no successful answer for "
                           f"{self.options.give_up_s:g} s (AZURE_OPENAI_GIVE_UP_SECONDS); "
                           f"last: {last}. `cli.py retry` continues from the first missing frame")

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` (Azure OpenAI's own) or `retry-after`, if given."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name) if headers is not None else None
        try:
            if value is not None:
                return max(0.0, float(value) * scale)
        except ValueError:
            continue
    return None
