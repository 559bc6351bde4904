"""Sampled frames of a video: one stream read sequentially from a single ffmpeg pipe."""

from __future__ import annotations

import io
import math
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from subprocess import DEVNULL, PIPE, Popen
from typing import IO

import numpy as np
from PIL import Image

from services.video.probe import (
    Source,
    VideoError,
    VideoInfo,
    ffmpeg_exe,
    input_args,
    tail_lines,
)
from services.video.shots import Shot, ShotTap

JPEG_QUALITY = 85


@dataclass(frozen=True)
class SampledFrame:
    index: int
    timestamp_s: float
    jpeg: bytes
    width: int
    height: int
    rgb: np.ndarray | None = field(default=None, repr=False, compare=False)


def sampling_rate(fps: float) -> Fraction:
    """The sampling rate as an exact fraction, so ffmpeg and our timestamps agree."""
    value = float(fps)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return Fraction(value).limit_denominator(1_000_000)


def planned_frames(info: VideoInfo, fps: float, max_frames: int | None = None) -> int:
    """How many frames sample_frames will yield: one at every k/fps inside the duration."""
    # The fps filter emits a frame at each k/fps < duration; round() absorbs float noise.
    n = max(1, math.ceil(round(info.duration_s * float(sampling_rate(fps)), 6)))
    return n if max_frames is None else max(0, min(n, max_frames))


def output_size(info: VideoInfo, max_side: int = 1280) -> tuple[int, int]:
    """Frame size as displayed, long side at most max_side, aspect kept, even, never upscaled."""
    scale = min(1.0, max_side / max(info.width, info.height))
    return _even(info.width * scale), _even(info.height * scale)


def _even(x: float) -> int:
    return max(2, int(round(x)) // 2 * 2)  # even sizes suit every encoder that sees them later


def encode_jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def read_rgb(pipe: IO[bytes], width: int, height: int) -> np.ndarray | None:
    """One rgb24 frame from the pipe, straight into a fresh array; None at end of stream."""
    rgb = np.empty((height, width, 3), np.uint8)  # fresh per frame: consumers may keep it
    view, got = rgb.data.cast("B"), 0
    while got < len(view):  # straight into the array: no intermediate bytes copy
        n = pipe.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            return None
        got += n
    return rgb


class FrameStream:
    """Frames of one video at a fixed rate, decoded lazily by one ffmpeg process.

    Iterate once. After iteration `produced`, `expected` and `truncated` tell whether the file
    held the frames its header promised. Leaving early (break, close(), `with`) kills ffmpeg.
    """

    every_frame = True  # decodes every frame of the video (so it can find shots on the way)

    def __init__(
        self, source: Source, info: VideoInfo, fps: float, max_frames: int | None, max_side: int
    ) -> None:
        self.source = source
        self.info = info
        self.rate = sampling_rate(fps)
        self.expected = planned_frames(info, fps, max_frames)
        self.width, self.height = output_size(info, max_side)
        self.produced = 0
        self.truncated = False
        self.returncode: int | None = None
        self.pid: int | None = None
        self._proc: Popen | None = None
        self._started = False
        # Weak: a consumer that just breaks out of its for loop drops the generator, and its
        # finalisation then stops ffmpeg; close() still reaches it while it lives.
        self._gen: weakref.ref | None = None
        # With shots on, the same decode also finds shot boundaries on every frame.
        self.shot_tap: ShotTap | None = None
        self.shots: list[Shot] | None = None

    def find_shots(self) -> None:
        """Find shots in this decode too (before iterating); `shots` holds them at the end."""
        self.shot_tap = ShotTap()

    def command(self) -> list[str]:
        r = self.rate
        # round=up: frame k is the picture on screen at k/fps, never a later one.
        # ffmpeg autorotates before our filters, so the target size is in display orientation.
        vf = f"fps={r.numerator}/{r.denominator}:round=up,scale={self.width}:{self.height}"
        sampled = ["-map", "0:V:0", "-vf", vf]
        tap = self.shot_tap
        if tap is not None:  # one decode, two outputs: the samples and the shot detector's
            graph = f"[0:V:0]split=2[s][g];[s]{vf}[v];[g]{tap.filter()}[t]"
            sampled = ["-filter_complex", graph, "-map", "[v]"]
        return [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
            *input_args(self.source), *sampled, "-an", "-sn", "-dn",
            "-frames:v", str(self.expected),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
            *(tap.output_args("[t]") if tap is not None else []),
        ]  # fmt: skip

    def __iter__(self) -> Iterator[SampledFrame]:
        if self._started:
            raise RuntimeError("a FrameStream can be iterated only once")
        self._started = True
        gen = self._frames()
        self._gen = weakref.ref(gen)
        return gen

    def _frames(self) -> Iterator[SampledFrame]:
        if self.expected == 0:
            return
        tap = self.shot_tap
        fds = tap.open() if tap is not None else ()
        # stderr goes to a file: an unread pipe fills up and deadlocks ffmpeg on broken input.
        with tempfile.TemporaryFile() as errfile:
            try:
                self._proc = Popen(
                    self.command(), stdin=DEVNULL, stdout=PIPE, stderr=errfile, bufsize=0,
                    pass_fds=fds,
                )
                self.pid = self._proc.pid
                if tap is not None:
                    tap.started()
                _grow_pipe(stdout_of(self._proc))
                yield from self._read(stdout_of(self._proc))
                self.returncode = self._proc.wait()
                self._finish(errfile)
                if tap is not None:
                    self.shots = tap.finish(self.info.duration_s)
            finally:
                self._stop()
                if tap is not None:
                    tap.close()

    def _read(self, pipe: IO[bytes]) -> Iterator[SampledFrame]:
        step = 1 / self.rate
        while self.produced < self.expected:
            rgb = read_rgb(pipe, self.width, self.height)
            if rgb is None:
                return  # end of stream; a partial last frame is dropped
            yield self._frame(self.produced, float(self.produced * step), rgb)

    def _frame(self, index: int, timestamp_s: float, rgb: np.ndarray) -> SampledFrame:
        self.produced += 1
        return SampledFrame(index, timestamp_s, encode_jpeg(rgb), self.width, self.height, rgb)

    def _finish(self, errfile) -> None:
        if self.produced >= self.expected:
            return  # ffmpeg stops by itself at -frames:v; nothing is missing
        errfile.seek(0)
        detail = tail_lines(errfile.read().decode("utf-8", "replace"))
        if self.produced == 0:
            raise VideoError("The video could not be decoded; the file may be damaged.", detail)
        # A frame short at the very end is rounding of the header's duration, not damage.
        self.truncated = self.produced < self.expected - 1

    def close(self) -> None:
        """Stop early: end the iteration, kill ffmpeg if it still runs and reap it."""
        ref, self._gen = self._gen, None
        gen = ref() if ref is not None else None
        if gen is not None:
            gen.close()  # runs the generator's finally, which stops ffmpeg
        self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        stdout_of(proc).close()
        code = proc.wait()
        if self.returncode is None:
            self.returncode = code

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def stdout_of(proc: Popen[bytes]) -> IO[bytes]:
    """The pipe of a process started with stdout=PIPE (subprocess types it as optional)."""
    assert proc.stdout is not None
    return proc.stdout


def _grow_pipe(pipe) -> None:
    """Let ffmpeg decode ahead while we encode JPEG: a bigger pipe buffer (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass


