"""What an analysis will cost before it is queued: frames, Azure transactions, dollars."""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.frames import VideoInfo, planned_frames


@dataclass(frozen=True)
class Estimate:
    frames: int
    transactions: int  # an upper bound with adaptive sampling: at most one per frame
    cost: float


def estimate(
    info: VideoInfo,
    *,
    fps: float,
    max_frames: int | None,
    analyzer: str,
    price_per_1000: float,
    adaptive_every_s: float | None = None,
) -> Estimate:
    """Frames planned; for Azure one transaction per frame sent (all of them, or adaptively)."""
    frames = planned_frames(info, fps, max_frames)
    if analyzer == "local":
        return Estimate(frames, 0, 0.0)
    sent = frames
    if adaptive_every_s:
        # At least one frame per interval; cuts and motion add more, so this is a floor.
        sent = min(frames, math.ceil(frames / max(1.0, adaptive_every_s * fps)))
    return Estimate(frames, sent, round(sent * price_per_1000 / 1000, 4))
