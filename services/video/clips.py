"""Clips: any range of a video as an MP4, read in place (a file, or a blob's short-lived URL) and
streamed out of one ffmpeg, with nothing written to disk.

Frame exact: ffmpeg seeks to the keyframe before the start, decodes from there and drops the
frames before it, then re-encodes (H.264 + AAC), so the clip starts on the first frame at or
after `start` whatever the keyframes; a stream copy could only start on a keyframe. The MP4 is
fragmented (moov first, then fragments) so it can be written to a pipe and played as it comes.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Generator
from subprocess import DEVNULL, PIPE, Popen
from typing import IO

from services.video.probe import Source, VideoError, ffmpeg_exe, input_args, tail_lines

CHUNK = 256 * 1024
MAX_SIDE = 1280  # long side of the clip: what the app shows; the source may be bigger


class ClipError(ValueError):
    """The range asked for is not a range of this video; the message is one line."""


def check_range(start_s: float, end_s: float, duration_s: float) -> tuple[float, float]:
    """The range as floats, or ClipError saying what is wrong with it."""
    try:
        start, end = float(start_s), float(end_s)
    except (TypeError, ValueError):
        raise ClipError("the start and end must be numbers of seconds") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ClipError("the start and end must be numbers of seconds")
    if start < 0:
        raise ClipError(f"the start ({start:g} s) must be 0 or more")
    if end <= start:
        raise ClipError(f"the end ({end:g} s) must be after the start ({start:g} s)")
    if start >= duration_s:
        raise ClipError(f"the start ({start:g} s) is past the end of the video "
                        f"({duration_s:.3f} s)")
    return start, min(end, duration_s)


def clip_command(source: Source, start_s: float, end_s: float, audio: bool = True) -> list[str]:
    # Whole microseconds, rounded down, so a frame exactly at the start is kept.
    start = math.floor(start_s * 1e6) / 1e6
    scale = (f"scale='min({MAX_SIDE},iw)':'min({MAX_SIDE},ih)'"
             ":force_original_aspect_ratio=decrease:force_divisible_by=2")
    return [
        ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
        "-ss", f"{start:.6f}", *input_args(source), "-t", f"{end_s - start:.6f}",
        "-map", "0:V:0", *(["-map", "0:a:0?", "-c:a", "aac", "-b:a", "128k"] if audio else []),
        "-sn", "-dn", "-vf", scale, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
        "-pix_fmt", "yuv420p", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
        "-f", "mp4", "pipe:1",
    ]  # fmt: skip


class ClipProcess:
    """One ffmpeg making one clip. read() gives its next chunk (b"" at the end); stop() may be
    called from any thread (a cancelled download) and kills it; close() reaps it. Its only
    file, stderr's, is a temporary one that goes with it."""

    def __init__(self, source: Source, start_s: float, end_s: float, audio: bool = True):
        self._errors = tempfile.TemporaryFile()
        self._proc = Popen(clip_command(source, start_s, end_s, audio), stdin=DEVNULL,
                           stdout=PIPE, stderr=self._errors, bufsize=0)
        self._stopped = False
        self.sent = 0

    def read(self) -> bytes:
        out: IO[bytes] = self._proc.stdout  # type: ignore[assignment]
        chunk = out.read(CHUNK)
        self.sent += len(chunk)
        if not chunk and not self._stopped and (self._proc.wait() != 0 or not self.sent):
            self._errors.seek(0)
            raise VideoError("The clip could not be made from this video.",
                             tail_lines(self._errors.read().decode("utf-8", "replace")))
        return chunk

    def stop(self) -> None:
        self._stopped = True
        if self._proc.poll() is None:
            self._proc.kill()

    def close(self) -> None:
        self.stop()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._errors.close()


def stream_clip(source: Source, start_s: float, end_s: float, audio: bool = True
                ) -> Generator[bytes, None, None]:
    """The clip's bytes as ffmpeg writes them. Closing the iterator early (an interrupted
    `cli.py clip`) kills ffmpeg."""
    clip = ClipProcess(source, start_s, end_s, audio)
    try:
        while chunk := clip.read():
            yield chunk
    finally:
        clip.close()


def clip_name(title: str, start_s: float, end_s: float) -> str:
    """A download's file name: the video's name without its suffix, and the range."""
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in title.rsplit(".", 1)[0])
    return f"{stem[:60] or 'clip'}_{start_s:.2f}-{end_s:.2f}s.mp4"
