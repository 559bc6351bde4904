"""Probe a video from its header with the ffmpeg binary that imageio-ffmpeg ships."""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

PROBE_TIMEOUT_S = 60
TEXT_DEMUXERS = ("tty",)  # ffmpeg decodes plain text as ANSI-art video
# Image demuxers and codecs: a .png or .jpg renamed .mp4 opens fine in ffmpeg but is no video.
IMAGE_CODECS = {"png", "mjpeg", "jpegls", "webp", "bmp", "tiff", "gif", "jpeg2000", "jpegxl"}


# What ffmpeg reads: a file, an http(s) URL (a blob read in place with range requests), or a
# function that gives a fresh URL for each ffmpeg started (a short-lived SAS that must not expire
# during a long analysis).
Source = str | Path | Callable[[], str]
_URL_QUERY = re.compile(r"(https?://[^\s?'\"]+)\?[^\s'\"]*")


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


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()  # the binary inside the wheel: no system ffmpeg


def is_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def input_args(source: Source) -> list[str]:
    """ffmpeg's input options for a file or a URL (reconnecting, so a dropped link resumes)."""
    target = source() if callable(source) else str(source)
    if not is_url(target):
        return ["-i", target]
    return ["-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "5",
            "-rw_timeout", "30000000", "-i", target]


def without_secrets(text: str) -> str:
    """ffmpeg's words with the query of any URL (a SAS signature) cut off, for logs."""
    return _URL_QUERY.sub(r"\1?…", text)


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


def tail_lines(text: str, lines: int = 5) -> str:
    return "\n".join(without_secrets(text).strip().splitlines()[-lines:])


def probe(source: Source) -> VideoInfo:
    """Read what a video is from its header, without decoding it; VideoError if it is no video.

    A URL is read in place: ffmpeg asks for the byte ranges the header needs, nothing more.
    """
    args = input_args(source)
    target = args[-1]
    if not is_url(target):
        try:
            size = Path(target).stat().st_size
        except OSError as exc:
            raise VideoError("The file could not be read.", str(exc)) from None
        if size == 0:
            raise VideoError("The file is empty.")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise VideoError("Reading the video's header took too long; is it damaged?") from None
    err = done.stderr.decode("utf-8", "replace")
    container = _INPUT.search(err)
    if not container:
        raise VideoError("This is not a video file, or it is too damaged to read.", tail_lines(err))
    lines = err.splitlines()
    found = _video_stream(lines)
    if found is None:
        if any((m := _STREAM.match(x)) and m.group(2) == "Audio" for x in lines):
            raise VideoError("This file holds only audio, no video.")
        raise VideoError("This file holds no video stream.", tail_lines(err))
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
        raise VideoError(f"This app cannot decode {name}.", tail_lines(err))
    if duration is None or not known:
        raise VideoError("The video's duration is unknown.")
    duration_s = sum(float(x) * u for x, u in zip(duration.groups(), (3600, 60, 1), strict=True))
    if duration_s <= 0:
        raise VideoError("The video has no duration (zero length).")
    dims = _SIZE.search(desc)
    if not dims:
        raise VideoError("The video's frame size could not be read.", tail_lines(err))
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


