"""Choose how to read a video's sampled frames: one sequential pipe, or a seek per sample."""

from __future__ import annotations

from collections.abc import Sequence

from services.video.frames import FrameStream, sampling_rate
from services.video.probe import Source, VideoInfo, probe
from services.video.seek import SEEK_MIN_GAP_FRAMES, PlannedFrameStream, SeekingFrameStream


def sample_frames(
    source: Source,
    *,
    fps: float,
    max_frames: int | None = None,
    max_side: int = 1280,
    info: VideoInfo | None = None,
) -> FrameStream:
    """Stream frames at `fps` (frame k at k/fps seconds) as JPEG plus RGB; probes if no info.

    `source` is a file, a URL read in place, or a function giving a fresh URL per ffmpeg.
    """
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be 0 or more, got {max_frames}")
    if max_side < 2:
        raise ValueError(f"max_side must be at least 2, got {max_side}")
    info = info or probe(source)
    sparse = info.fps > 0 and info.fps / float(sampling_rate(fps)) >= SEEK_MIN_GAP_FRAMES
    return (SeekingFrameStream if sparse else FrameStream)(source, info, fps, max_frames, max_side)


def sample_at(source: Source, times: Sequence[float], *, max_side: int = 1280,
              info: VideoInfo | None = None) -> FrameStream:
    """Stream the frames at `times` (in order; frame k at times[k]), each by a seek."""
    if max_side < 2:
        raise ValueError(f"max_side must be at least 2, got {max_side}")
    return PlannedFrameStream(source, info or probe(source), times, max_side)
