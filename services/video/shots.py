"""Shot boundaries at frame precision: every decoded frame, shrunk to a tiny grey image, in the
same ffmpeg decode that samples (a second output of its filter graph), or in a decode of its own.

Times come from the frames' timestamps (ffmpeg's, in microseconds), never from frame counts, so a
variable frame rate is fine. Transitions: `cut` (one frame to the next changes a lot, and much
more than the change before it), `fade` (through black: the new shot starts halfway through
the black frames; black cut to and cut from is a shot of its own) and `dissolve` (over a
stretch of frames the picture moves from one image to another along a straight blend: the
middle frame is the average of the two ends).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from subprocess import DEVNULL, Popen, TimeoutExpired
from typing import IO

import numpy as np

from services.video.probe import Source, VideoError, ffmpeg_exe, input_args

GREY_W, GREY_H = 64, 36  # area-averaged: noise and compression artefacts mostly average out
GREY_BYTES = GREY_W * GREY_H
CUT_SCORE = 20.0  # mean absolute change (0..255) above the change before it: a cut
BLACK_MEAN, BLACK_STD = 16.0, 6.0  # a black frame: dark and flat (ffmpeg's grey: black is 0)
DISSOLVE_CHANGE = 24.0  # the two ends of a dissolve differ at least this much
DISSOLVE_BLEND = 0.2  # the middle frame is within this share of that from the ends' average
DISSOLVE_HALF_WIDTHS = (3, 6, 10, 15, 22, 30)  # frames either side of a dissolve's middle
MIN_SHOT_S = 0.2  # a boundary closer than this to the previous one is the same transition
_PTS = re.compile(rb"pts:\s*(-?\d+)")


@dataclass(frozen=True)
class Shot:
    index: int
    start_s: float
    end_s: float
    transition: str  # how the shot began: cut, fade or dissolve (the first shot: cut or fade)

    @property
    def keyframe_s(self) -> float:
        """The moment that stands for the shot: its middle."""
        return (self.start_s + self.end_s) / 2


class ShotDetector:
    """Fed every decoded grey frame in order; `boundaries()` gives (frame number, transition).

    Memory is flat: a ring of the last frames a dissolve can span, plus one small record per
    boundary candidate.
    """

    def __init__(self) -> None:
        self.count = 0
        self._ring: deque[np.ndarray] = deque(maxlen=2 * max(DISSOLVE_HALF_WIDTHS) + 1)
        self._diffs: deque[float] = deque(maxlen=2 * max(DISSOLVE_HALF_WIDTHS) + 1)
        self._prev_diff = 0.0
        self._cuts: list[int] = []
        self._black: list[tuple[int, int]] = []  # [first, last] black frame numbers
        self._dissolves: list[tuple[int, int, float, float]] = []  # middle, half, change, blend

    def push(self, grey: np.ndarray) -> None:
        frame = grey.astype(np.float32)
        n = self.count
        self.count += 1
        if float(frame.mean()) < BLACK_MEAN and float(frame.std()) < BLACK_STD:
            if self._black and self._black[-1][1] == n - 1:
                self._black[-1] = (self._black[-1][0], n)
            else:
                self._black.append((n, n))
        diff = float(np.abs(frame - self._ring[-1]).mean()) if self._ring else 0.0
        if n and min(diff, diff - self._prev_diff) >= CUT_SCORE:
            self._cuts.append(n)
        self._prev_diff = diff
        self._ring.append(frame)
        self._diffs.append(diff)
        self._look_for_dissolves(n)

    def _look_for_dissolves(self, n: int) -> None:
        ring, diffs = self._ring, self._diffs
        for half in DISSOLVE_HALF_WIDTHS:
            if len(ring) < 2 * half + 1:
                return
            a, mid, b = ring[-1 - 2 * half], ring[-1 - half], ring[-1]
            change = float(np.abs(b - a).mean())
            if change < DISSOLVE_CHANGE:
                continue
            # Gradual: no single step inside is a cut.
            if max(list(diffs)[-2 * half:]) >= CUT_SCORE:
                continue
            blend = float(np.abs(mid - (a + b) / 2).mean()) / change
            if blend <= DISSOLVE_BLEND and not _scaled(a, b, change):
                self._dissolves.append((n - half, half, change, blend))

    def boundaries(self) -> list[tuple[int, str]]:
        """Frame numbers where a new shot starts, with the transition, in order."""
        found: dict[int, str] = {}
        near_black: set[int] = set()
        cuts = set(self._cuts)
        for first, last in self._black:
            near_black.update(range(first - 1, last + 2))
            if last + 1 >= self.count:
                continue  # the video ends black: no shot after it
            if last + 1 in cuts and (first == 0 or first in cuts):
                found[last + 1] = "cut"  # black cut to and cut from: a shot of its own
                if first:
                    found[first] = "cut"
            elif first:
                # As PySceneDetect's threshold detector: the boundary halfway through the black.
                found[(first + last + 1) // 2] = "fade"
        for n in self._cuts:
            if n not in near_black:
                found[n] = "cut"
        for middle, half in _best_dissolves(self._dissolves):
            span = range(middle - half, middle + half + 1)
            if not any(n in found or n in near_black for n in span):
                found[middle] = "dissolve"
        return sorted(found.items())

    def first_transition(self) -> str:
        """The first shot fades in when the video starts black and does not cut from it."""
        starts_black = bool(self._black) and self._black[0][0] == 0
        return "fade" if starts_black and self._black[0][1] + 1 not in self._cuts else "cut"


def _scaled(a: np.ndarray, b: np.ndarray, change: float) -> bool:
    """One end is the other darkened: a fade in from black or out to it, not a dissolve."""
    dark, bright = (a, b) if a.mean() < b.mean() else (b, a)
    k = float((dark * bright).sum()) / max(float((bright * bright).sum()), 1.0)
    return float(np.abs(dark - k * bright).mean()) < DISSOLVE_BLEND * change


def _best_dissolves(cands: list[tuple[int, int, float, float]]) -> list[tuple[int, int]]:
    """One dissolve per overlapping group of candidates: the straightest blend of the largest
    change (its middle is where the two pictures weigh the same)."""
    out: list[tuple[int, int]] = []
    group: list[tuple[int, int, float, float]] = []
    reach = -1
    for cand in sorted(cands, key=lambda c: c[0] - c[1]):
        if group and cand[0] - cand[1] > reach:
            out.append(_pick(group))
            group, reach = [], -1
        group.append(cand)
        reach = max(reach, cand[0] + cand[1])
    if group:
        out.append(_pick(group))
    return out


def _pick(group: list[tuple[int, int, float, float]]) -> tuple[int, int]:
    top = max(c[2] for c in group)
    middle, half, _, _ = min((c for c in group if c[2] >= 0.9 * top), key=lambda c: c[3])
    return middle, max(c[1] for c in group)


def shots_from(boundaries: list[tuple[int, str]], times: list[float], first: str,
               end_s: float) -> list[Shot]:
    """Shots from boundary frame numbers and every frame's time; close boundaries merge."""
    starts: list[tuple[float, str]] = [(times[0] if times else 0.0, first)]
    for n, transition in boundaries:
        if n < len(times) and times[n] - starts[-1][0] >= MIN_SHOT_S:
            starts.append((times[n], transition))
    ends = [s for s, _ in starts[1:]] + [max(end_s, starts[-1][0])]
    return [Shot(i, round(s, 6), round(e, 6), t)
            for i, ((s, t), e) in enumerate(zip(starts, ends, strict=True))]


class ShotTap:
    """The shot detector's share of an ffmpeg decode: a tiny grey copy of every frame, written
    raw to a pipe of its own, and each frame's timestamp printed to a temporary file.

    open() before starting ffmpeg (its fds go to the child: `pass_fds`), started() right after,
    finish() once ffmpeg has ended, close() always.
    """

    def __init__(self) -> None:
        self.detector = ShotDetector()
        self.shots: list[Shot] = []
        self.times: list[float] = []  # every decoded frame's time, once finished
        self._read_fd = self._write_fd = -1
        self._times: IO[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def open(self) -> tuple[int, ...]:
        self._read_fd, self._write_fd = os.pipe()
        self._times = tempfile.TemporaryFile()
        return self._write_fd, self._times.fileno()

    def filter(self) -> str:
        """The grey branch of the filter graph (timestamps in microseconds: settb=AVTB)."""
        assert self._times is not None, "open() first"
        return (f"scale={GREY_W}:{GREY_H}:flags=area,format=gray,settb=AVTB,"
                "metadata=mode=add:key=fw:value=1,"
                f"metadata=mode=print:file=/dev/fd/{self._times.fileno()}")

    def output_args(self, label: str) -> list[str]:
        return ["-map", label, "-fps_mode", "passthrough", "-f", "rawvideo",
                f"pipe:{self._write_fd}"]

    def started(self) -> None:
        """ffmpeg runs: our copy of its write end goes, and a thread drains the pipe."""
        os.close(self._write_fd)
        self._write_fd = -1
        self._thread = threading.Thread(target=self._drain, daemon=True, name="shot-tap")
        self._thread.start()

    def _drain(self) -> None:
        try:
            with os.fdopen(self._read_fd, "rb", buffering=0) as pipe:
                self._read_fd = -1
                for grey in _grey_frames(pipe):
                    self.detector.push(grey)
        except BaseException as exc:  # reported by finish(), in the caller's thread
            self._error = exc

    def finish(self, duration_s: float) -> list[Shot]:
        """The shots, once ffmpeg has ended (and so closed the pipe)."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._times is not None
        self._times.seek(0)
        times = [int(m) / 1e6 for m in _PTS.findall(self._times.read())]
        times = self.times = times[: self.detector.count]
        if not times:
            raise VideoError("The video could not be decoded; the file may be damaged.")
        step = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
        end_s = max(duration_s, times[-1] + step)
        self.shots = shots_from(self.detector.boundaries(), times,
                                self.detector.first_transition(), end_s)
        return self.shots

    def close(self) -> None:
        for fd in (self._write_fd, self._read_fd):
            if fd >= 0:
                os.close(fd)
        self._write_fd = -1
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._times is not None:
            self._times.close()
            self._times = None


def _grey_frames(pipe: IO[bytes]) -> Iterator[np.ndarray]:
    buf = bytearray(GREY_BYTES)
    view = memoryview(buf)
    while True:
        got = 0
        while got < GREY_BYTES:
            n = pipe.readinto(view[got:])  # type: ignore[attr-defined]
            if not n:
                return
            got += n
        yield np.frombuffer(buf, np.uint8).reshape(GREY_H, GREY_W)


def scan_shots(source: Source, duration_s: float,
               alive: Callable[[], bool] | None = None,
               tap: ShotTap | None = None) -> list[Shot] | None:
    """A decode of its own for shots only (what a sparse, seeking run adds with a full shot
    pass): every frame decoded once, shrunk to the grey image, nothing else kept.

    `alive` is asked twice a second (a run's heartbeat); False stops the decode: None. A `tap`
    given keeps every frame's time too (`tap.times`: shot-aware sampling picks from them)."""
    tap = tap or ShotTap()
    try:
        fds = tap.open()
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
               *input_args(source), "-an", "-sn", "-dn",
               "-filter_complex", f"[0:V:0]{tap.filter()}[g]", *tap.output_args("[g]")]
        with tempfile.TemporaryFile() as errfile:
            proc = Popen(cmd, stdin=DEVNULL, stdout=DEVNULL, stderr=errfile, pass_fds=fds)
            try:
                tap.started()
                while True:
                    try:
                        code = proc.wait(timeout=0.5)
                        break
                    except TimeoutExpired:
                        if alive is not None and not alive():
                            return None
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            if code != 0 and tap.detector.count == 0:
                errfile.seek(0)
                raise VideoError("The video could not be decoded; the file may be damaged.",
                                 errfile.read().decode("utf-8", "replace")[-2000:])
        return tap.finish(duration_s)
    finally:
        tap.close()
