"""Adaptive sampling's one interval and its policy: a frame goes to the remote analyser on a new
shot, on strong motion, or at the latest every ADAPTIVE_EVERY_S seconds."""

from __future__ import annotations

import math

ADAPTIVE_EVERY_S = 10.0


def fewest_sent(frames: int, fps: float, every_s: float = ADAPTIVE_EVERY_S) -> int:
    """At least one frame per interval; cuts and motion add more, so this is a floor."""
    return min(frames, math.ceil(frames / max(1.0, every_s * fps)))


class AdaptivePolicy:
    """Send a frame to the remote analyser on a new shot, on strong motion, or every N seconds."""

    def __init__(self, every_s: float = ADAPTIVE_EVERY_S, motion_threshold: float = 0.08):
        self.every_s = every_s
        self.motion_threshold = motion_threshold
        self._last_t: float | None = None
        self._last_shot: int | None = None

    def should_send(self, timestamp_s: float, stats: dict) -> bool:
        shot = stats.get("shot_index")
        send = (
            self._last_t is None
            or shot != self._last_shot
            or float(stats.get("motion") or 0.0) > self.motion_threshold
            or timestamp_s - self._last_t >= self.every_s - 1e-6
        )
        if send:
            self._last_t, self._last_shot = timestamp_s, shot
        return send
