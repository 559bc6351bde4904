"""Shot-aware sampling for the cloud analysers: at least one frame per shot, plus one every N
seconds in shots longer than N.

Planned before the run, without the cloud: a shot pass (services/video/shots.py: every frame
decoded once, shrunk to a tiny grey image) gives the shots and every frame's time; a shot of
length L gets k = ceil(L / N) samples, at the middles of its k equal parts (one shot: its
middle, the storyboard's keyframe), each moved to the nearest frame inside the shot, so a
stored frame's time is a real frame's. The plan (N, the shots, the times) is stored on the
analysis as JSON: a retry or resume samples exactly the same frames, with no second shot pass.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from services.domain import check_shot_every
from services.video.probe import Source
from services.video.shots import Shot, ShotTap, scan_shots


@dataclass(frozen=True)
class ShotScan:
    """What a shot pass found: the shots, and every decoded frame's time in order."""

    shots: tuple[Shot, ...]
    frame_times: tuple[float, ...]


@dataclass(frozen=True)
class ShotPlan:
    every_s: float
    shots: tuple[Shot, ...]
    times: tuple[float, ...]  # the frames to sample, in order: frame k is at times[k]

    @property
    def frames(self) -> int:
        return len(self.times)

    def to_json(self) -> str:
        return json.dumps({
            "every_s": self.every_s,
            "shots": [[s.start_s, s.end_s, s.transition] for s in self.shots],
            "times": list(self.times),
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ShotPlan:
        doc = json.loads(text)
        shots = tuple(Shot(i, float(start), float(end), str(transition))
                      for i, (start, end, transition) in enumerate(doc["shots"]))
        return cls(float(doc["every_s"]), shots, tuple(float(t) for t in doc["times"]))


def scan(source: Source, duration_s: float,
         alive: Callable[[], bool] | None = None) -> ShotScan | None:
    """The shot pass (about one decode of the video); None when `alive` stopped it."""
    tap = ShotTap()
    shots = scan_shots(source, duration_s, alive, tap=tap)
    if shots is None:
        return None
    return ShotScan(tuple(shots), tuple(tap.times))


def plan_times(shots: Sequence[Shot], every_s: float,
               frame_times: Sequence[float] = ()) -> list[float]:
    """The times to sample: ceil(L / N) per shot of length L, at the middles of its equal
    parts; with `frame_times` (sorted), each moved to the nearest frame inside its shot."""
    every_s = check_shot_every(every_s)
    times: list[float] = []
    for shot in shots:
        length = shot.end_s - shot.start_s
        parts = max(1, math.ceil(length / every_s - 1e-9))
        for i in range(parts):
            t = shot.start_s + (i + 0.5) * length / parts
            t = _nearest_frame(t, shot, frame_times) if frame_times else t
            if not times or t > times[-1] + 1e-6:  # two parts on one frame: sampled once
                times.append(round(t, 6))
    return times


def _nearest_frame(t: float, shot: Shot, frame_times: Sequence[float]) -> float:
    at = bisect.bisect_left(frame_times, t)
    inside = [frame_times[i] for i in (at - 1, at) if 0 <= i < len(frame_times)
              and shot.start_s - 1e-6 <= frame_times[i] < shot.end_s - 1e-6]
    return min(inside, key=lambda f: abs(f - t)) if inside else t


def plan(found: ShotScan, every_s: float, max_frames: int | None = None) -> ShotPlan:
    """The plan from a shot pass; `max_frames` keeps the first frames of it."""
    times = plan_times(found.shots, every_s, found.frame_times)
    if max_frames is not None:
        times = times[:max(0, max_frames)]
    return ShotPlan(float(every_s), found.shots, tuple(times))


def stored_plan(text: str | None) -> ShotPlan | None:
    """An analysis's stored plan (None: it samples at a fixed rate)."""
    return ShotPlan.from_json(text) if text else None


def mean_rate(shot_plan: ShotPlan, duration_s: float) -> float:
    """Frames per second on average: what the analysis's sample_fps says of a shot plan."""
    return round(shot_plan.frames / duration_s, 6) if duration_s > 0 else 0.0
