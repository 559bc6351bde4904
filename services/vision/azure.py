"""Azure AI Vision Image Analysis 4.0 through the official SDK, with our own retries and rate limit.

azure-core's retry policy is switched off for this client: it would not retry a POST answered 429
without Retry-After, and its attempts are invisible to us. Instead every attempt passes through the
process-wide throttle of the endpoint (services/vision/throttle.py) and is counted. Throttling and
outages are waits: an analysis gives up only when the service has given no successful answer for
AZURE_VISION_GIVE_UP_SECONDS. A 400 for one image refuses that frame only (FrameRefused).
"""

from __future__ import annotations

import email.utils
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from services.config import Settings
from services.credentials import default_credential
from services.domain import AnalyzerKind, Feature
from services.storage.base import BlobStore
from services.video.frames import SampledFrame
from services.vision.azure_results import prepare_image, to_result
from services.vision.base import AnalyzerError, Cancelled, FrameRefused, FrameResult, WaitState
from services.vision.cache import cached_answers
from services.vision.ratelimit import share_rate
from services.vision.throttle import EndpointThrottle, endpoint_throttle

if TYPE_CHECKING:
    from azure.core.exceptions import HttpResponseError

# The SDK, azure-core and requests are imported when an analyser is made or called, not with
# this module (about 0.15 s): the pages, the CLI and local analyses use it without calling Azure.

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Inner error codes (or codes) of a 400 that refuse the image, not the request: that frame is
# stored as not analysed and the analysis goes on. Any other 400 (a feature this region lacks, a
# bad parameter) is the same for every frame and fails the analysis at once.
IMAGE_CODES = frozenset({"InvalidImageFormat", "InvalidImageSize", "InvalidImageDimension",
                         "NotSupportedImage", "InvalidImage"})
# The service counts arrivals in a sliding window; a thread scheduled late or network jitter can
# bunch two requests, so we aim a little under the configured maximum rather than exactly at it.
HEADROOM = 0.95
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
API_VERSION = "2023-10-01"  # what SDK 1.0 sends; part of the result cache key
SERVICE = "Azure AI Vision"
NO_ANSWER = "no answer yet"
_WAIT_WORDS = {"throttling": "is throttling", "unavailable": "is unavailable",
               "unreachable": "is not answering"}


def cache_identity(features, language: str, gender_neutral: bool) -> str:
    """The request settings that, with the pixels, decide the answer (the result cache's key)."""
    return f"{API_VERSION}|{','.join(sorted(features))}|{language}|{gender_neutral}"


def cached_azure_answers(store: BlobStore, settings: Settings, video_sha256: str,
                         features: Sequence[str]) -> int:
    """Frames of this video the result cache already answers for an Azure analysis with these
    features and the settings' language and captions (they cost no transaction)."""
    identity = cache_identity(features, settings.vision_language, settings.vision_gender_neutral)
    return cached_answers(store, video_sha256, identity)


def retry_after(response, now: float | None = None) -> float | None:
    """Seconds the service asked us to wait: retry-after-ms, x-ms-retry-after-ms or Retry-After.

    Retry-After is whole seconds or an HTTP date (RFC 9110).
    """
    headers = response.headers if response is not None else {}
    for name, unit in (("retry-after-ms", 1e-3), ("x-ms-retry-after-ms", 1e-3), ("retry-after", 1)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value) * unit)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
            except (TypeError, ValueError, IndexError):
                continue
            return max(0.0, when - (time.time() if now is None else now))
    return None


def _service_error(exc: HttpResponseError) -> tuple[str, str, str]:
    """(code, inner code, message) from the service's {"error": {...}} body or its headers."""
    code = inner = message = ""
    if exc.response is not None:
        code = exc.response.headers.get("x-ms-error-code") or ""  # type: ignore[attr-defined]
        try:
            err = json.loads(exc.response.text())["error"]
            code, message = str(err.get("code") or code), str(err.get("message") or "")
            inner = str((err.get("innererror") or {}).get("code") or "")
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return code, inner, message or (exc.reason or "no message")


def refuses_image(code: str, inner: str, message: str) -> bool:
    """A 400 about this image (format, size, dimensions), not about the request."""
    if IMAGE_CODES & {code, inner}:
        return True
    # The size check answers InvalidRequest with no inner code: "The image size is not allowed…".
    return code == "InvalidRequest" and not inner and message.lower().startswith("the image ")


def _keep_raw(pipeline_response, deserialized, _headers):
    """The SDK's `cls` hook: keep the body exactly as received beside the parsed result."""
    return pipeline_response.http_response.read(), deserialized


class _GaveUp(Exception):
    """No start slot before the give-up deadline (raised inside the transport)."""


class _Call(threading.local):
    """The calling thread's stop event and give-up deadline, read by the transport adapter."""

    stop: threading.Event | None = None
    deadline: float | None = None
    sent: int = 0


class AzureAnalyzer:
    """Image Analysis 4.0 on each frame; thread-safe, `concurrency` callers at once."""

    name = AnalyzerKind.azure

    def __init__(
        self,
        endpoint: str,
        *,
        credential,
        features: Sequence[str],
        language: str = "en",
        gender_neutral: bool = True,
        max_tps: float = 10.0,
        concurrency: int = 8,
        give_up_s: float = 600.0,
        timeout_s: float = 30.0,
        headroom: float = HEADROOM,
        throttle: EndpointThrottle | None = None,
    ):
        from azure.core.credentials import AzureKeyCredential

        from services.vision.azure_transport import paced_client

        unknown = [f for f in features if f not in set(Feature)]
        if not features or unknown:
            raise ValueError(f"features must be among {', '.join(Feature)}, got {list(features)}")
        self.endpoint = endpoint.rstrip("/")
        self.features = tuple(Feature(f) for f in features)
        self.language, self.gender_neutral = language, gender_neutral
        self.concurrency, self.give_up_s, self.timeout_s = concurrency, give_up_s, timeout_s
        self.max_tps, self.headroom = max_tps, headroom
        self._uses_key = isinstance(credential, AzureKeyCredential)
        self._secret = credential.key if self._uses_key else None
        # One throttle per endpoint in the process: every thread and every analysis shares it.
        self.throttle = throttle or endpoint_throttle(self.endpoint, max_tps * headroom)
        self.throttle.set_ceiling(max_tps * headroom)
        self._clock = self.throttle.clock
        self._call = _Call()
        self._lock = threading.Lock()
        self.attempts = 0  # HTTP requests sent, retries included
        self.retries = 0

        url = urlparse(self.endpoint)
        # azure-core refuses bearer tokens over plain HTTP; allow it only for a loopback emulator.
        self._extra: dict[str, Any] = {}
        if url.scheme == "http" and not self._uses_key:
            if url.hostname not in LOOPBACK:
                raise AnalyzerError("AZURE_VISION_ENDPOINT must be an https:// URL")
            self._extra = {"enforce_https": False}
        self._client = paced_client(self.endpoint, credential, start=self._start,
                                    pool_size=max(10, concurrency))

    @classmethod
    def from_settings(cls, settings, credential_factory=default_credential, **kwargs):
        """Key from AZURE_VISION_KEY when set, otherwise Entra ID through the factory."""
        from azure.core.credentials import AzureKeyCredential

        if not settings.vision_endpoint:
            raise AnalyzerError("AZURE_VISION_ENDPOINT is not set; the Azure analyser needs it")
        if settings.vision_key:
            log.info("Azure AI Vision: authenticating with the key from AZURE_VISION_KEY")
            credential = AzureKeyCredential(settings.vision_key)
        else:
            log.info("Azure AI Vision: no AZURE_VISION_KEY, authenticating with Entra ID")
            credential = credential_factory()
        options = dict(
            features=settings.vision_features,
            language=settings.vision_language,
            gender_neutral=settings.vision_gender_neutral,
            max_tps=settings.vision_max_tps,
            concurrency=settings.vision_concurrency,
            give_up_s=settings.vision_give_up_seconds,
        )
        # Keyword arguments win over the settings (the worker passes an analysis's features).
        return cls(settings.vision_endpoint, credential=credential, **{**options, **kwargs})

    def close(self) -> None:
        self._client.close()

    @property
    def cache_identity(self) -> str:
        """What, besides the frame's pixels, decides the service's answer (for the result cache)."""
        return cache_identity(self.features, self.language, self.gender_neutral)

    def share_rate(self, processes: int) -> None:
        """Take this process's share of AZURE_VISION_MAX_TPS when `processes` processes call."""
        self.throttle.set_ceiling(share_rate(self.max_tps, processes, self.headroom))

    def waiting(self) -> WaitState | None:
        pushback = self.throttle.pushback()
        if pushback is None:
            return None
        seconds = None if pushback.until is None else max(0.0, pushback.until - self._clock())
        return WaitState(f"{SERVICE} {_WAIT_WORDS.get(pushback.kind, 'is refusing requests')}",
                         seconds or None)

    def analyze(self, frame: SampledFrame, stop: threading.Event | None = None) -> FrameResult:
        prepared = prepare_image(frame)
        raw, result = self._send(prepared.data, stop)
        # Only a 200 is billed; throttled and failed attempts are not.
        return to_result(raw, result, prepared, frame, transactions=1)

    def from_raw(self, raw: bytes, frame: SampledFrame) -> FrameResult:
        """Rebuild a frame's result from a stored answer: no request, no transaction."""
        from azure.ai.vision.imageanalysis.models import ImageAnalysisResult

        result = ImageAnalysisResult(json.loads(raw))
        return to_result(raw, result, prepare_image(frame), frame, transactions=0)

    def _send(self, data: bytes, stop: threading.Event | None):
        from azure.ai.vision.imageanalysis.models import VisualFeatures
        from azure.core.exceptions import (
            HttpResponseError,
            IncompleteReadError,
            ServiceRequestError,
            ServiceResponseError,
        )

        started = self._clock()
        call = self._call
        call.stop, call.sent = stop, 0
        last = NO_ANSWER
        while True:
            # The deadline moves on with every success anywhere in the process: only an
            # endpoint silent for give_up_s fails a frame.
            quiet_since = max(started, self.throttle.last_success() or started)
            call.deadline = quiet_since + self.give_up_s
            try:
                answer = self._client.analyze(
                    image_data=data,
                    visual_features=[VisualFeatures(f) for f in self.features],
                    language=self.language,
                    gender_neutral_caption=self.gender_neutral,
                    cls=_keep_raw,
                    connection_timeout=self.timeout_s,
                    read_timeout=self.timeout_s,
                    **self._extra,
                )
                self.throttle.succeeded()
                return answer
            except _GaveUp:
                raise AnalyzerError(self._give_up_message(last)) from None
            except IncompleteReadError as exc:  # the connection dropped mid-answer
                last = f"incomplete answer: {exc.message}"
                self.throttle.pushed_back("unreachable", last)
            except HttpResponseError as exc:
                last = self._refused(exc)  # raises unless the service may answer later
                kind = "throttling" if exc.status_code == 429 else "unavailable"
                self.throttle.pushed_back(kind, last, retry_after(exc.response))
            except (ServiceRequestError, ServiceResponseError) as exc:  # timeouts, dropped links
                last = f"{type(exc).__name__}: {exc.message}"
                self.throttle.pushed_back("unreachable", last)
            except ValueError as exc:  # a 200 whose body is not the JSON it should be
                last = f"unreadable answer: {exc}"
            if stop is not None and stop.is_set():
                raise Cancelled
            if self._clock() >= call.deadline:
                raise AnalyzerError(self._give_up_message(last))
            log.warning("%s attempt %d: %s; retrying", SERVICE, call.sent, self._scrub(last))

    def _refused(self, exc: HttpResponseError) -> str:
        """Raise for an answer that will not change (credentials, endpoint, a 400); else say it."""
        from azure.core.exceptions import ClientAuthenticationError

        status = exc.status_code
        # A ClientAuthenticationError without status: the credential gave no token.
        if status in (401, 403) or isinstance(exc, ClientAuthenticationError):
            raise AnalyzerError(self._auth_message(exc)) from None
        code, inner, message = _service_error(exc)
        last = f"{status} {inner or code}: {message}"
        if status in RETRY_STATUS:
            return last
        if status == 400 and refuses_image(code, inner, message):
            raise FrameRefused(self._scrub(f"{SERVICE} refused the frame ({last})")) from None
        hint = "; check AZURE_VISION_ENDPOINT" if status == 404 else ""
        raise AnalyzerError(self._scrub(f"{SERVICE} refused the request ({last}){hint}")) from None

    def _give_up_message(self, last: str) -> str:
        pushback = self.throttle.pushback()
        if last == NO_ANSWER and pushback is not None:  # other threads met the service's answers
            last = pushback.detail
        return self._scrub(f"{SERVICE} gave no successful answer for {self.give_up_s:g} s "
                           f"(AZURE_VISION_GIVE_UP_SECONDS); last: {last}")

    def _auth_message(self, exc: HttpResponseError) -> str:
        status = exc.status_code or "no token"
        detail = _service_error(exc)[2] if exc.status_code else exc.message
        hint = (
            "check AZURE_VISION_KEY and AZURE_VISION_ENDPOINT (the key of that resource)"
            if self._uses_key
            else "the app's identity needs the 'Cognitive Services User' role on the Vision "
            "resource and AZURE_VISION_ENDPOINT must be its custom-domain endpoint; or set "
            "AZURE_VISION_KEY"
        )
        return self._scrub(f"{SERVICE} refused the credentials ({status}): {hint}. {detail}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _start(self) -> None:
        """The transport calls this right before each request: wait for the throttle's slot."""
        call = self._call
        if not self.throttle.acquire(call.stop, call.deadline):
            raise _GaveUp
        call.sent += 1
        with self._lock:
            self.attempts += 1
            self.retries += 1 if call.sent > 1 else 0
