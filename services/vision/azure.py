"""Azure AI Vision Image Analysis 4.0 through the official SDK, with our own retries and rate limit.

azure-core's retry policy is switched off for this client: it would not retry a POST answered 429
without Retry-After, and its attempts are invisible to us. Instead every attempt passes through the
process-wide rate limiter of the endpoint and is counted, and backoff is ours.
"""

from __future__ import annotations

import email.utils
import io
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests
from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import ImageAnalysisResult, VisualFeatures
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from PIL import Image
from urllib3.util.retry import Retry

from services.config import VISION_FEATURES
from services.credentials import default_credential
from services.video.frames import SampledFrame
from services.vision.base import AnalyzerError, Found, FrameResult
from services.vision.ratelimit import shared_limiter

log = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024 - 1  # the service takes images under 20 MB
MIN_SIDE = 64  # the service needs more than 50x50 pixels; a margin above that
MAX_SIDE = 15_000  # ... and less than 16,000x16,000
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# The service counts arrivals in a sliding window; a thread scheduled late or network jitter can
# bunch two requests, so we aim a little under the configured maximum rather than exactly at it.
HEADROOM = 0.95
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
API_VERSION = "2023-10-01"  # what SDK 1.0 sends; part of the result cache key


def cache_identity(features, language: str, gender_neutral: bool) -> str:
    """The request settings that, with the pixels, decide the answer (the result cache's key)."""
    return f"{API_VERSION}|{','.join(sorted(features))}|{language}|{gender_neutral}"


@dataclass(frozen=True)
class Prepared:
    """The bytes we send, and how to turn the service's pixels back into the frame's."""

    data: bytes
    scale_x: float = 1.0  # frame pixels per sent pixel
    scale_y: float = 1.0


def prepare_image(frame: SampledFrame) -> Prepared:
    """Keep the frame within the service's limits: upscale/pad tiny ones, shrink huge ones."""
    w, h = frame.width, frame.height
    if min(w, h) > 50 and max(w, h) < 16_000 and len(frame.jpeg) <= MAX_BYTES:
        return Prepared(frame.jpeg)
    if frame.rgb is not None:
        img = Image.fromarray(frame.rgb).convert("RGB")
    else:
        img = Image.open(io.BytesIO(frame.jpeg)).convert("RGB")
    scale = max(1.0, MIN_SIDE / min(img.size))
    scale = min(scale, MAX_SIDE / max(img.size))
    while True:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        # A very thin frame cannot be upscaled enough without passing MAX_SIDE: pad it instead
        # (bottom/right, so the service's coordinates need no offset).
        canvas = Image.new("RGB", (max(size[0], MIN_SIDE), max(size[1], MIN_SIDE)))
        canvas.paste(img.resize(size, Image.Resampling.LANCZOS), (0, 0))
        buf = io.BytesIO()
        canvas.save(buf, format="JPEG", quality=90)
        if buf.tell() <= MAX_BYTES:
            return Prepared(buf.getvalue(), w / size[0], h / size[1])
        scale *= 0.7


def _retry_after(response) -> float | None:
    """Seconds the service asked us to wait: retry-after-ms, x-ms-retry-after-ms or Retry-After."""
    headers = response.headers if response is not None else {}
    for name, unit in (("retry-after-ms", 1e-3), ("x-ms-retry-after-ms", 1e-3), ("retry-after", 1)):
        value = headers.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value) * unit)
        except ValueError:
            try:  # Retry-After may also be an HTTP date
                when = email.utils.parsedate_to_datetime(value).timestamp()
                return max(0.0, when - time.time())
            except (TypeError, ValueError):
                continue
    return None


def _service_error(exc: HttpResponseError) -> tuple[str, str]:
    """(code, message) from the service's {"error": {...}} body or its x-ms-error-code header."""
    code = message = ""
    if exc.response is not None:
        code = exc.response.headers.get("x-ms-error-code") or ""  # type: ignore[attr-defined]
        try:
            err = json.loads(exc.response.text())["error"]
            code, message = str(err.get("code") or code), str(err.get("message") or "")
        except (ValueError, KeyError, TypeError):
            pass
    return code, message or (exc.reason or "no message")


def _keep_raw(pipeline_response, deserialized, _headers):
    """The SDK's `cls` hook: keep the body exactly as received beside the parsed result."""
    return pipeline_response.http_response.read(), deserialized


class AzureAnalyzer:
    """Image Analysis 4.0 on each frame; thread-safe, `concurrency` callers at once."""

    name = "azure"

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
        max_attempts: int = 6,
        timeout_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        headroom: float = HEADROOM,
    ):
        unknown = [f for f in features if f not in VISION_FEATURES]
        if not features or unknown:
            raise ValueError(f"features must be among {VISION_FEATURES}, got {list(features)}")
        self.endpoint = endpoint.rstrip("/")
        self.features = tuple(features)
        self.language, self.gender_neutral = language, gender_neutral
        self.concurrency, self.max_attempts, self.timeout_s = concurrency, max_attempts, timeout_s
        self._sleep, self._backoff_base, self._backoff_max = sleep, backoff_base_s, backoff_max_s
        self._uses_key = isinstance(credential, AzureKeyCredential)
        self._secret = credential.key if self._uses_key else None
        self._limiter = shared_limiter(self.endpoint, max_tps * headroom)
        self._rng = random.Random()
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
        session = requests.Session()
        # A connection pool as large as our parallelism, and no hidden retries in urllib3.
        adapter = _PacedAdapter(
            self._limiter,
            pool_maxsize=max(10, concurrency),
            max_retries=Retry(total=False, redirect=False),
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._client = ImageAnalysisClient(
            self.endpoint,
            credential,
            retry_policy=RetryPolicy(retry_total=0),  # attempts are bounded and counted by us
            transport=RequestsTransport(session=session, session_owner=True),
        )

    @classmethod
    def from_settings(cls, settings, credential_factory=default_credential, **kwargs):
        """Key from AZURE_VISION_KEY when set, otherwise Entra ID through the factory."""
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
        )
        # Keyword arguments win over the settings (the worker passes an analysis's features).
        return cls(settings.vision_endpoint, credential=credential, **{**options, **kwargs})

    def close(self) -> None:
        self._client.close()

    @property
    def cache_identity(self) -> str:
        """What, besides the frame's pixels, decides the service's answer (for the result cache)."""
        return cache_identity(self.features, self.language, self.gender_neutral)

    def analyze(self, frame: SampledFrame) -> FrameResult:
        prepared = prepare_image(frame)
        raw, result = self._send(prepared.data)
        # Only a 200 is billed; throttled and failed attempts are not.
        return _to_result(raw, result, prepared, frame, transactions=1)

    def from_raw(self, raw: bytes, frame: SampledFrame) -> FrameResult:
        """Rebuild a frame's result from a stored answer: no request, no transaction."""
        result = ImageAnalysisResult(json.loads(raw))
        return _to_result(raw, result, prepare_image(frame), frame, transactions=0)

    def _send(self, data: bytes):
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            with self._lock:
                self.attempts += 1
                self.retries += 1 if attempt > 1 else 0
            delay = None
            try:
                return self._client.analyze(
                    image_data=data,
                    visual_features=[VisualFeatures(f) for f in self.features],
                    language=self.language,
                    gender_neutral_caption=self.gender_neutral,
                    cls=_keep_raw,
                    connection_timeout=self.timeout_s,
                    read_timeout=self.timeout_s,
                    **self._extra,
                )
            except IncompleteReadError as exc:  # the connection dropped mid-answer
                last = f"incomplete answer: {exc.message}"
            except HttpResponseError as exc:
                # A ClientAuthenticationError without status: the credential gave no token.
                if exc.status_code in (401, 403) or isinstance(exc, ClientAuthenticationError):
                    raise AnalyzerError(self._auth_message(exc)) from None
                code, message = _service_error(exc)
                last = f"{exc.status_code} {code}: {message}"
                if exc.status_code is not None and exc.status_code not in RETRY_STATUS:
                    refusal = self._scrub(f"Azure AI Vision refused the frame ({last})")
                    raise AnalyzerError(refusal) from None
                delay = _retry_after(exc.response)
            except (ServiceRequestError, ServiceResponseError) as exc:  # timeouts, dropped links
                last = f"{type(exc).__name__}: {exc.message}"
            except ValueError as exc:  # a 200 whose body is not the JSON it should be
                last = f"unreadable answer: {exc}"
            if attempt < self.max_attempts:
                delay = min(self._backoff(attempt) if delay is None else delay, self._backoff_max)
                log.warning(
                    "Azure AI Vision attempt %d: %s; retry in %.2fs",
                    attempt,
                    self._scrub(last),
                    delay,
                )
                self._sleep(delay)
        last = f"gave up after {self.max_attempts} attempts: {last}"
        raise AnalyzerError(self._scrub(f"Azure AI Vision {last}"))

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter, so parallel callers do not retry in step."""
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _auth_message(self, exc: HttpResponseError) -> str:
        status = exc.status_code or "no token"
        detail = _service_error(exc)[1] if exc.status_code else exc.message
        hint = (
            "check AZURE_VISION_KEY and AZURE_VISION_ENDPOINT (the key of that resource)"
            if self._uses_key
            else "the app's identity needs the 'Cognitive Services User' role on the Vision "
            "resource and AZURE_VISION_ENDPOINT must be its custom-domain endpoint; or set "
            "AZURE_VISION_KEY"
        )
        return self._scrub(f"Azure AI Vision refused the credentials ({status}): {hint}. {detail}")

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _to_result(raw: bytes, result, prepared: Prepared, frame: SampledFrame, transactions: int):
    """All seven features as rows, boxes in pixels of the frame as we analysed it."""
    to_box = _Boxes(prepared, frame.width, frame.height)
    found: list[Found] = []
    for p in result.people.list if result.people else []:
        found.append(Found("person", "person", p.confidence, *to_box(p.bounding_box)))
    for o in result.objects.list if result.objects else []:
        tag = o.tags[0] if o.tags else None
        label, conf = (tag.name, tag.confidence) if tag else (None, None)
        found.append(Found("object", label, conf, *to_box(o.bounding_box)))
    for t in result.tags.list if result.tags else []:
        found.append(Found("tag", t.name, t.confidence))
    for d in result.dense_captions.list if result.dense_captions else []:
        found.append(Found("dense_caption", d.text, d.confidence, *to_box(d.bounding_box)))
    for block in result.read.blocks if result.read else []:
        for line in block.lines:
            # Lines carry no confidence of their own; their words' mean stands in for it.
            conf = [w.confidence for w in line.words or []]
            mean = sum(conf) / len(conf) if conf else None
            found.append(Found("text_line", line.text, mean, *to_box.polygon(line)))
    for c in result.smart_crops.list if result.smart_crops else []:
        found.append(Found("smart_crop", f"{c.aspect_ratio:g}", None, *to_box(c.bounding_box)))
    caption = result.caption
    return FrameResult(
        caption=caption.text if caption else None,
        caption_confidence=caption.confidence if caption else None,
        detections=found,
        raw_json=raw,
        transactions=transactions,
    )


class _PacedAdapter(requests.adapters.HTTPAdapter):
    """Takes the rate limiter's slot right before each request goes on the wire.

    Every attempt, retries included, passes here; waiting this late keeps the SDK's own work
    (and any thread stalls in it) from bunching requests that the limiter had spaced out.
    """

    def __init__(self, limiter, **kwargs):
        super().__init__(**kwargs)
        self._limiter = limiter

    def send(self, request, *args, **kwargs):
        self._limiter.acquire()
        return super().send(request, *args, **kwargs)


class _Boxes:
    """Maps the service's boxes (pixels of the image we sent) to pixels of the frame."""

    def __init__(self, prepared: Prepared, width: int, height: int):
        self.sx, self.sy = prepared.scale_x, prepared.scale_y
        self.width, self.height = width, height

    def _clip(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        x0, x1 = (min(max(round(v * self.sx), 0), self.width) for v in (x0, x1))
        y0, y1 = (min(max(round(v * self.sy), 0), self.height) for v in (y0, y1))
        return x0, y0, x1 - x0, y1 - y0

    def __call__(self, box) -> tuple[int, int, int, int]:
        return self._clip(box.x, box.y, box.x + box.width, box.y + box.height)

    def polygon(self, line) -> tuple[int, int, int, int]:
        xs = [p.x for p in line.bounding_polygon]
        ys = [p.y for p in line.bounding_polygon]
        return self._clip(min(xs), min(ys), max(xs), max(ys))
