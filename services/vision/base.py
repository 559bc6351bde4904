"""The Analyzer protocol and the plain result types every analyser returns.

The pipeline knows remote analysers only through `Analyzer`: it never names a backend nor imports
its constants. What a backend needs from the pipeline (its share of a rate shared by processes, a
stop event to abandon work on cancel) and what the pipeline needs from it (how many calls at once,
the result cache's key, rebuilding a result from a stored answer, why it is waiting) is here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from services.domain import AnalyzerKind, LabelKind
from services.questions import Answer
from services.video.frames import SampledFrame
from services.vision.ratelimit import Cancelled

__all__ = ["Analyzer", "AnalyzerError", "Cancelled", "Found", "FrameRefused", "FrameResult",
           "TokenUsage", "WaitState"]


@dataclass(frozen=True)
class Found:
    """One detection, its box in pixels of the analysed frame. kind: person, object, tag,
    dense_caption, text_line or smart_crop (Detection.kind)."""

    kind: LabelKind
    label: str | None
    confidence: float | None
    x: int | None = None
    y: int | None = None
    w: int | None = None
    h: int | None = None


@dataclass(frozen=True)
class TokenUsage:
    """The tokens a language-model service counted for one frame, and who answered."""

    prompt: int
    completion: int
    cached: int = 0  # of the prompt, served from the service's prompt cache
    reasoning: int = 0  # of the completion, spent thinking (billed as output)
    model: str | None = None
    region: str | None = None
    request_id: str | None = None


@dataclass
class FrameResult:
    """What an analyser learned about one frame."""

    caption: str | None = None
    caption_confidence: float | None = None  # None: the service gave none (a model's caption)
    detections: list[Found] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)  # the analysis's questions, if any
    raw_json: bytes | None = None  # the service's answer, kept as an artefact
    transactions: int = 0  # billable service calls this frame cost
    usage: TokenUsage | None = None  # tokens counted by the service (None: not billed by token)
    stats: dict[str, float | int | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class WaitState:
    """Why a remote analyser sends nothing right now, for progress messages."""

    message: str  # e.g. "Azure AI Vision is throttling"
    seconds: float | None = None  # how much longer the service asked us to wait, if it said


class AnalyzerError(RuntimeError):
    """The analyser cannot go on (bad credentials, a refused request, no answer for too long)."""


class FrameRefused(AnalyzerError):
    """The service refused this one frame (its image), not the request: the analysis goes on."""


class Analyzer(Protocol):
    """A remote analyser: one sampled frame in, a FrameResult out; safe to call from threads."""

    name: AnalyzerKind  # its Analysis.analyzer
    concurrency: int  # calls the pipeline may have in flight at once

    @property
    def cache_identity(self) -> str:
        """What, besides the frame's pixels, decides the answer (the result cache's key)."""
        ...

    def analyze(self, frame: SampledFrame, stop: threading.Event | None = None) -> FrameResult:
        """Analyse one frame; raises Cancelled soon after `stop` is set (no request leaves)."""
        ...

    def from_raw(self, raw: bytes, frame: SampledFrame) -> FrameResult:
        """Rebuild a result from a stored answer: no request, no transaction."""
        ...

    def share_rate(self, processes: int) -> None:
        """`processes` processes now call this backend: take this process's share of its rate."""
        ...

    def waiting(self) -> WaitState | None:
        """Why the backend holds requests back right now (throttled, unavailable), or None."""
        ...
