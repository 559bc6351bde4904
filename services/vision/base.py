"""The Analyzer protocol and the plain result types every analyser returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from services.video.frames import SampledFrame


@dataclass(frozen=True)
class Found:
    """One detection: kind as in models.DETECTION_KINDS; box in pixels of the analysed frame."""

    kind: str
    label: str | None
    confidence: float | None
    x: int | None = None
    y: int | None = None
    w: int | None = None
    h: int | None = None


@dataclass
class FrameResult:
    """What an analyser learned about one frame."""

    caption: str | None = None
    caption_confidence: float | None = None
    detections: list[Found] = field(default_factory=list)
    raw_json: bytes | None = None  # the service's answer, kept as an artefact
    transactions: int = 0  # billable service calls this frame cost
    stats: dict[str, float | int | bool] = field(default_factory=dict)


class AnalyzerError(RuntimeError):
    """The analyser cannot go on (bad credentials, a refused request, retries exhausted)."""


class Analyzer(Protocol):
    """Turns one sampled frame into a FrameResult; must be safe to call from several threads."""

    name: str

    def analyze(self, frame: SampledFrame) -> FrameResult: ...
