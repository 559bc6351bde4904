"""Benchmark videos, generated once with imageio-ffmpeg's ffmpeg and cached in bench/out/.

- `coded_video`: testsrc2 with its own frame number drawn as 15 black/white blocks along the top
  edge, so any decoded frame says which source frame it is (`read_code`).
- `big_video` / `doubled_video`: high-bitrate noisy footage (>= 1 GB), and the same twice over.
- `shots_video`: still or slow segments separated by hard cuts at known, non-integer times.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from bench.common import OUT, log

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
CODE_BITS = 15  # up to 32,767 frames: 18 minutes at 30 fps
CODE_CELL = 48  # pixels per bit at 1280 wide; the block is 36 px with a black margin
CODE_WIDTH = 1280  # the code is laid out for this frame width


def ffmpeg(*args: str) -> None:
    cmd = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{done.stderr[-2000:]}")


def wxh(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _cached(path: Path, make) -> Path:
    """Build `path` through a temporary name so an interrupted run never leaves half a file."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    log(f"generating {path.name} (cached for later runs)")
    make(tmp)
    os.replace(tmp, path)
    return path


def _code_filter(width: int = CODE_WIDTH) -> str:
    """drawbox filters writing the frame number n in binary: white block = bit set."""
    k = width / CODE_WIDTH  # the layout scales with the frame width
    cell, pad, box = round(CODE_CELL * k), round(6 * k), round(36 * k)
    parts = [f"drawbox=x=0:y=0:w={CODE_BITS * cell}:h={cell}:color=black:t=fill"]
    for bit in range(CODE_BITS):
        parts.append(
            f"drawbox=x={bit * cell + pad}:y={pad}:w={box}:h={box}:color=white:t=fill:"
            f"enable='mod(floor(n/pow(2\\,{bit}))\\,2)'"
        )
    return ",".join(parts)


def read_code(rgb: np.ndarray) -> int:
    """The source frame number drawn into a frame of `coded_video` (any width, same aspect)."""
    height, width = rgb.shape[:2]
    scale = width / CODE_WIDTH
    r = max(1, int(8 * scale))
    n = 0
    for bit in range(CODE_BITS):
        x, y = int((bit * CODE_CELL + 24) * scale), int(24 * scale)
        if rgb[max(0, y - r): y + r, max(0, x - r): x + r].mean() > 128:
            n |= 1 << bit
    return n


def coded_video(seconds: int = 600, size: tuple[int, int] = (1280, 720), fps: int = 30,
                out: Path = OUT) -> Path:
    """H.264 (x264 ultrafast, default GOP of 250) testsrc2 with the frame number drawn in."""
    path = out / f"coded-{seconds}s-{size[0]}x{size[1]}-{fps}fps.mp4"
    src = f"testsrc2=size={wxh(size)}:rate={fps}:duration={seconds},{_code_filter(size[0])}"
    return _cached(path, lambda tmp: ffmpeg(
        "-f", "lavfi", "-i", src, "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp)))


def big_video(seconds: int = 215, size: tuple[int, int] = (1280, 720), bitrate: str = "40M",
              out: Path = OUT) -> Path:
    """Noisy testsrc2 at a high bitrate: about 5.4 MB per second, so 215 s is over 1 GiB."""
    path = out / f"big-{seconds}s-{size[0]}x{size[1]}-{bitrate}.mp4"
    src = f"testsrc2=size={size[0]}x{size[1]}:rate=30:duration={seconds},noise=alls=25:allf=t"
    return _cached(path, lambda tmp: ffmpeg(
        "-f", "lavfi", "-i", src, "-c:v", "libx264", "-preset", "ultrafast",
        "-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "80M", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(tmp)))


def doubled_video(src: Path) -> Path:
    """`src` played twice, stream-copied (no re-encode): twice the bytes and the duration."""
    path = src.with_name(f"{src.stem}-x2{src.suffix}")

    def make(tmp: Path) -> None:
        listing = tmp.with_suffix(".txt")
        listing.write_text(f"file '{src.name}'\nfile '{src.name}'\n")
        try:
            ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
                   "-movflags", "+faststart", str(tmp))
        finally:
            listing.unlink(missing_ok=True)

    return _cached(path, make)


# (seconds, lavfi source or background colour): still pictures and slow moving boxes.
SHOT_PLAN: tuple[tuple[float, str], ...] = (
    (41.3, "smptebars"),
    (36.6, "red"),
    (2.7, "rgbtestsrc"),  # a short shot: adaptive sampling must not miss it
    (51.6, "blue"),
    (58.5, "pal75bars"),
    (51.7, "0x00a000"),
    (57.6, "yellow"),
)


def shot_bounds(plan: Sequence[tuple[float, str]] = SHOT_PLAN) -> list[tuple[float, float]]:
    """[start, end) of every shot in seconds."""
    bounds, t = [], 0.0
    for seconds, _ in plan:
        bounds.append((round(t, 3), round(t + seconds, 3)))
        t += seconds
    return bounds


def shots_video(plan: Sequence[tuple[float, str]] = SHOT_PLAN, size: tuple[int, int] = (960, 540),
                fps: int = 25, out: Path = OUT) -> Path:
    """Segments of `plan` joined by hard cuts; colour segments carry a slowly drifting box."""
    total = sum(s for s, _ in plan)
    path = out / f"shots-{len(plan)}x-{total:g}s-{size[0]}x{size[1]}-{fps}fps.mp4"
    wxh = f"{size[0]}x{size[1]}"
    parts, labels = [], ""
    for i, (seconds, what) in enumerate(plan):
        if what in ("smptebars", "rgbtestsrc", "pal75bars"):
            parts.append(f"{what}=size={wxh}:rate={fps}:duration={seconds}[s{i}]")
        else:  # a white box drifting 4 px per second: slow content, not a still
            box = f"{size[0] // 5}x{size[1] // 4}"
            parts.append(f"color=c={what}:size={wxh}:rate={fps}:duration={seconds}[b{i}];"
                         f"color=c=white:size={box}:rate={fps}:duration={seconds}[w{i}];"
                         f"[b{i}][w{i}]overlay=x='40+4*t':y=H/3:shortest=1[s{i}]")
        labels += f"[s{i}]"
    graph = ";".join(parts) + f";{labels}concat=n={len(plan)}:v=1:a=0[out0]"
    return _cached(path, lambda tmp: ffmpeg(
        "-f", "lavfi", "-i", graph, "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp)))


def warm(path: Path) -> None:
    """Read the file once so that every timed run starts from the page cache."""
    with open(path, "rb") as f:
        while f.read(16 << 20):
            pass
