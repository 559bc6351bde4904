"""Adaptive sampling's one interval: a frame goes to the remote analyser on a new shot, on strong
motion, or at the latest every ADAPTIVE_EVERY_S seconds (the pipeline's AdaptivePolicy)."""

from __future__ import annotations

import math

ADAPTIVE_EVERY_S = 10.0


def fewest_sent(frames: int, fps: float, every_s: float = ADAPTIVE_EVERY_S) -> int:
    """At least one frame per interval; cuts and motion add more, so this is a floor."""
    return min(frames, math.ceil(frames / max(1.0, every_s * fps)))
