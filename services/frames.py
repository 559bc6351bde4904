"""Probe a video and stream sampled frames with the ffmpeg binary that imageio-ffmpeg ships."""

from __future__ import annotations

import functools
import io
import math
import re
import subprocess
import tempfile
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from subprocess import DEVNULL, PIPE, Popen

import imageio_ffmpeg
import numpy as np
from PIL import Image

JPEG_QUALITY = 85
PROBE_TIMEOUT_S = 60
TEXT_DEMUXERS = ("tty",)  # ffmpeg decodes plain text as ANSI-art video
# Image demuxers and codecs: a .png or .jpg renamed .mp4 opens fine in ffmpeg but is no video.
IMAGE_CODECS = {"png", "mjpeg", "jpegls", "webp", "bmp", "tiff", "gif", "jpeg2000", "jpegxl"}


class VideoError(ValueError):
    """The file is not a video this app can analyse; the message is one line for the user."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail  # ffmpeg's own words, for logs only; never shown to the user


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    fps: float
    width: int  # as displayed, after rotation
    height: int
    codec: str
    rotation: int = 0  # degrees clockwise a player turns the stored picture (phone convention)


@dataclass(frozen=True)
class SampledFrame:
    index: int
    timestamp_s: float
    jpeg: bytes
    width: int
    height: int
    rgb: np.ndarray | None = field(default=None, repr=False, compare=False)


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()  # the binary inside the wheel: no system ffmpeg


_INPUT = re.compile(r"^Input #0, (.+?), from ", re.M)
_DURATION = re.compile(r"Duration: (?:(\d+):(\d\d):(\d\d(?:\.\d+)?)|N/A)")
# "Stream #0:1[0x2](und): Video: ..." ; the id and language parts are optional.
_STREAM = re.compile(r"^(\s*)Stream #0:\d+\S*?: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
_SIZE = re.compile(r"\b([1-9]\d*)x([1-9]\d*)\b")  # [1-9]: skips codec tags such as 0x31637661
_SAR = re.compile(r"SAR (\d+):(\d+)")
_RATE = re.compile(r"([\d.]+)(k?) (fps|tbr)\b")
_MATRIX = re.compile(r"rotation of (-?[\d.]+) degrees", re.I)
_ROTATE_TAG = re.compile(r"^\s*rotate\s*:\s*(-?\d+)", re.M)


@functools.lru_cache(maxsize=1)
def _decodable_codecs() -> frozenset[str]:
    """Codec names this ffmpeg build can decode (decoder names and the codecs they serve)."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-decoders"], capture_output=True, text=True
    ).stdout
    names: set[str] = set()
    for line in out.splitlines():
        m = re.match(r"^ V\S{5} (\S+)\s.*?(?:\(codec (\S+)\))?\s*$", line)
        if m:
            names.update(n for n in m.groups() if n)
    return frozenset(names)


def _video_stream(lines: list[str]) -> tuple[str, list[str]] | None:
    """The first real video stream (not cover art): its description and its indented block."""
    for i, line in enumerate(lines):
        m = _STREAM.match(line)
        if not m or m.group(2) != "Video" or "(attached pic)" in line:
            continue
        indent = len(m.group(1))
        block = []
        for sub in lines[i + 1 :]:
            if len(sub) - len(sub.lstrip()) <= indent:
                break
            block.append(sub)
        return m.group(3), block
    return None


def _rotation(block: list[str]) -> int:
    """Clockwise display rotation from a display matrix (counter-clockwise) or a rotate tag."""
    text = "\n".join(block)
    if m := _MATRIX.search(text):
        degrees = -float(m.group(1))
    elif m := _ROTATE_TAG.search(text):
        degrees = float(m.group(1))
    else:
        return 0
    return int(round(degrees / 90.0)) * 90 % 360


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def probe(path: str | Path) -> VideoInfo:
    """Read what a video is from its header, without decoding it; VideoError if it is no video."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise VideoError("The file could not be read.", str(exc)) from None
    if size == 0:
        raise VideoError("The file is empty.")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise VideoError("Reading the video's header took too long; is it damaged?") from None
    err = done.stderr.decode("utf-8", "replace")
    container = _INPUT.search(err)
    if not container:
        raise VideoError("This is not a video file, or it is too damaged to read.", _tail(err))
    lines = err.splitlines()
    found = _video_stream(lines)
    if found is None:
        if any((m := _STREAM.match(x)) and m.group(2) == "Audio" for x in lines):
            raise VideoError("This file holds only audio, no video.")
        raise VideoError("This file holds no video stream.", _tail(err))
    desc, block = found
    codec = desc.split(",")[0].split()[0]
    demuxer = container.group(1)
    if demuxer in TEXT_DEMUXERS:  # ffmpeg renders any text file as "video": refuse it
        raise VideoError("This is not a video file, or it is too damaged to read.")
    duration = _DURATION.search(err)
    known = duration is not None and duration.group(1) is not None
    if demuxer == "image2" or demuxer.endswith("_pipe") or (codec in IMAGE_CODECS and not known):
        raise VideoError("This is an image, not a video.")
    if codec == "none" or codec not in _decodable_codecs():
        name = "this video's codec" if codec == "none" else f"the video codec '{codec}'"
        raise VideoError(f"This app cannot decode {name}.", _tail(err))
    if not known:
        raise VideoError("The video's duration is unknown.")
    duration_s = sum(float(x) * u for x, u in zip(duration.groups(), (3600, 60, 1), strict=True))
    if duration_s <= 0:
        raise VideoError("The video has no duration (zero length).")
    dims = _SIZE.search(desc)
    if not dims:
        raise VideoError("The video's frame size could not be read.", _tail(err))
    width, height = int(dims.group(1)), int(dims.group(2))
    sar = _SAR.search(desc)
    if sar and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
        # Non-square pixels: a player stretches the width, so do we.
        width = max(1, round(width * int(sar.group(1)) / int(sar.group(2))))
    rates = {kind: float(v) * (1000 if k else 1) for v, k, kind in _RATE.findall(desc)}
    fps = rates.get("fps") or rates.get("tbr") or 0.0
    rotation = _rotation(block)
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(duration_s, fps, width, height, codec, rotation)


def _rate(fps: float) -> Fraction:
    """The sampling rate as an exact fraction, so ffmpeg and our timestamps agree."""
    value = float(fps)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return Fraction(value).limit_denominator(1_000_000)


def planned_frames(info: VideoInfo, fps: float, max_frames: int | None = None) -> int:
    """How many frames sample_frames will yield: one at every k/fps inside the duration."""
    # The fps filter emits a frame at each k/fps < duration; round() absorbs float noise.
    n = max(1, math.ceil(round(info.duration_s * float(_rate(fps)), 6)))
    return n if max_frames is None else max(0, min(n, max_frames))


def output_size(info: VideoInfo, max_side: int = 1280) -> tuple[int, int]:
    """Frame size as displayed, long side at most max_side, aspect kept, even, never upscaled."""
    scale = min(1.0, max_side / max(info.width, info.height))
    return _even(info.width * scale), _even(info.height * scale)


def _even(x: float) -> int:
    return max(2, int(round(x)) // 2 * 2)  # even sizes suit every encoder that sees them later


def _encode_jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


class FrameStream:
    """Frames of one video at a fixed rate, decoded lazily by one ffmpeg process.

    Iterate once. After iteration `produced`, `expected` and `truncated` tell whether the file
    held the frames its header promised. Leaving early (break, close(), `with`) kills ffmpeg.
    """

    def __init__(
        self, path: Path, info: VideoInfo, fps: float, max_frames: int | None, max_side: int
    ) -> None:
        self.path = path
        self.info = info
        self.rate = _rate(fps)
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

    def command(self) -> list[str]:
        r = self.rate
        # round=up: frame k is the picture on screen at k/fps, never a later one.
        # ffmpeg autorotates before our filters, so the target size is in display orientation.
        vf = f"fps={r.numerator}/{r.denominator}:round=up,scale={self.width}:{self.height}"
        return [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
            "-i", str(self.path), "-map", "0:V:0", "-an", "-sn", "-dn",
            "-vf", vf, "-frames:v", str(self.expected),
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
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
        # stderr goes to a file: an unread pipe fills up and deadlocks ffmpeg on broken input.
        with tempfile.TemporaryFile() as errfile:
            self._proc = Popen(
                self.command(), stdin=DEVNULL, stdout=PIPE, stderr=errfile, bufsize=0
            )
            self.pid = self._proc.pid
            _grow_pipe(self._proc.stdout)
            try:
                yield from self._read(self._proc.stdout)
                self.returncode = self._proc.wait()
                self._finish(errfile)
            finally:
                self._stop()

    def _read(self, pipe) -> Iterator[SampledFrame]:
        w, h = self.width, self.height
        step = 1 / self.rate
        while self.produced < self.expected:
            rgb = np.empty((h, w, 3), np.uint8)  # fresh per frame: consumers may keep it
            view, got = memoryview(rgb).cast("B"), 0
            while got < len(view):  # straight into the array: no intermediate bytes copy
                n = pipe.readinto(view[got:])
                if not n:
                    return  # end of stream; a partial last frame is dropped
                got += n
            index = self.produced
            self.produced += 1
            yield SampledFrame(index, float(index * step), _encode_jpeg(rgb), w, h, rgb)

    def _finish(self, errfile) -> None:
        if self.produced >= self.expected:
            return  # ffmpeg stops by itself at -frames:v; nothing is missing
        errfile.seek(0)
        detail = _tail(errfile.read().decode("utf-8", "replace"))
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
        proc.stdout.close()
        code = proc.wait()
        if self.returncode is None:
            self.returncode = code

    def __enter__(self) -> FrameStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _grow_pipe(pipe) -> None:
    """Let ffmpeg decode ahead while we encode JPEG: a bigger pipe buffer (Linux only)."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass


def sample_frames(
    path: str | Path,
    *,
    fps: float,
    max_frames: int | None = None,
    max_side: int = 1280,
    info: VideoInfo | None = None,
) -> FrameStream:
    """Stream frames at `fps` (frame k at k/fps seconds) as JPEG plus RGB; probes if no info."""
    path = Path(path)
    if max_frames is not None and max_frames < 0:
        raise ValueError(f"max_frames must be 0 or more, got {max_frames}")
    if max_side < 2:
        raise ValueError(f"max_side must be at least 2, got {max_side}")
    info = info or probe(path)
    from services.frames_seek import SEEK_MIN_GAP_FRAMES, SeekingFrameStream

    sparse = info.fps > 0 and info.fps / float(_rate(fps)) >= SEEK_MIN_GAP_FRAMES
    return (SeekingFrameStream if sparse else FrameStream)(path, info, fps, max_frames, max_side)
