"""Sparse sampling: seek to each sampled time instead of decoding every frame of the video."""

from __future__ import annotations

import math
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from subprocess import DEVNULL, PIPE, Popen

from services.video.frames import FrameStream, SampledFrame, read_rgb, stdout_of
from services.video.probe import Source, VideoInfo, ffmpeg_exe, input_args

# Sparser than one sampled frame per this many source frames (5 s at 30 fps), seeking to each
# sampled time beats decoding every frame: a seek decodes half a keyframe interval on average
# (x264's default interval is 250 frames; phones and streaming use 1 to 2 seconds).
SEEK_MIN_GAP_FRAMES = 150
SEEK_PREFETCH = 2  # seeking ffmpeg processes at once: the next runs while this frame is read

class SeekingFrameStream(FrameStream):
    """Frames at a sparse rate, each from a short ffmpeg that seeks to its time.

    One ffmpeg with the fps filter decodes every frame of the video to keep a few; seeking
    decodes only from the keyframe before each sampled time. The frame yielded is the first at
    or after k/fps: the same as FrameStream's when k/fps falls on a source frame, otherwise at
    most one source frame later.
    """

    every_frame = False  # shots need a decode of their own (a full shot pass: scan_shots)

    def time_of(self, index: int) -> float:
        """The time sample `index` is taken at."""
        return float(index / self.rate)

    def command_at(self, t: float) -> list[str]:
        # -ss before -i jumps to the last keyframe at or before t and drops the frames before t.
        # Whole microseconds rounded down, so a frame or keyframe exactly at t is never skipped.
        return [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", "1",
            "-ss", f"{math.floor(t * 1e6) / 1e6:.6f}", *input_args(self.source),
            "-map", "0:V:0", "-an", "-sn", "-dn", "-vf", f"scale={self.width}:{self.height}",
            "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        ]  # fmt: skip

    def _frames(self) -> Iterator[SampledFrame]:
        if self.expected == 0:
            return
        self._queue: deque[Popen] = deque()
        with tempfile.TemporaryFile() as errfile:
            try:
                for index in range(self.expected):
                    while (len(self._queue) < SEEK_PREFETCH
                           and index + len(self._queue) < self.expected):
                        at = self.time_of(index + len(self._queue))
                        self._queue.append(Popen(self.command_at(at), stdin=DEVNULL, stdout=PIPE,
                                                 stderr=errfile, bufsize=0))
                    self._proc = self._queue.popleft()
                    self.pid = self._proc.pid
                    rgb = read_rgb(stdout_of(self._proc), self.width, self.height)
                    self.returncode = self._proc.wait()
                    stdout_of(self._proc).close()
                    if rgb is None:
                        break  # past the end of what decodes: the file is shorter than its header
                    yield self._frame(index, self.time_of(index), rgb)
                self._finish(errfile)
            finally:
                self._stop()

    def _stop(self) -> None:
        queue = getattr(self, "_queue", None)
        while queue:
            proc = queue.popleft()
            if proc.poll() is None:
                proc.kill()
            stdout_of(proc).close()
            proc.wait()
        super()._stop()


class PlannedFrameStream(SeekingFrameStream):
    """Frames at given times (shot-aware sampling's plan), in order, each from a seek to its
    time: a time that is a frame's timestamp gives exactly that frame."""

    def __init__(self, source: Source, info: VideoInfo, times: Sequence[float],
                 max_side: int) -> None:
        super().__init__(source, info, 1.0, None, max_side)
        self.times = tuple(times)
        self.expected = len(self.times)

    def time_of(self, index: int) -> float:
        return self.times[index]
