"""Clips: the asked range exactly (within one frame) from a start between keyframes, streamed
from storage; `cli.py clip`; bad ranges as one line; a clip stopped early leaves no ffmpeg."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from services.video.clips import ClipError, check_range, stream_clip
from tests.fixtures.cli import cli
from tests.fixtures.videos import CUT_COLOURS, FFMPEG, make_video

FPS = 25
BLUE = CUT_COLOURS[1]


def _frames(path: Path) -> tuple[list[float], np.ndarray]:
    """Every frame's time and its centre pixel's colour."""
    done = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path), "-vf", "scale=8:8,showinfo",
                           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True,
                          check=True)
    times = [float(t) for t in re.findall(rb"pts_time:([\d.]+)", done.stderr)]
    return times, np.frombuffer(done.stdout, np.uint8).reshape(-1, 8, 8, 3)[:, 4, 4]


def _is(colour, rgb) -> bool:
    return bool(np.abs(np.asarray(colour, int) - np.asarray(rgb, int)).max() < 40)


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> Path:
    """Red to 1.6 s, blue to 3.6 s, green to 6 s; x264's keyframes every 250 frames: none
    at either cut."""
    return make_video(tmp_path_factory.mktemp("clips") / "cuts.mp4", seconds=6, fps=FPS,
                      pattern="cuts", cuts=(1.6, 3.6))


def test_a_clip_is_the_asked_range_to_the_frame(cuts, tmp_path):
    """Test that 1.6 to 3.6 s (a start two seconds past the only keyframe) is the 50 blue
    frames and nothing of the red or green around them."""
    out = tmp_path / "blue.mp4"
    out.write_bytes(b"".join(stream_clip(str(cuts), 1.6, 3.6)))
    times, colours = _frames(out)
    assert len(times) == 50 and times[0] == 0.0
    assert all(_is(c, BLUE) for c in colours), colours


def test_cli_clip_writes_the_range_and_refuses_bad_ones(env, cuts, tmp_path):
    """Test that `cli.py clip` of an analysed video writes the range from storage, and that a
    reversed or out-of-video range is one error line, exit 2, with no file left."""
    done = cli(env, "analyze", str(cuts), "--fps", "1")
    assert done.returncode == 0, done.stderr
    aid = json.loads(done.stdout.strip().splitlines()[-1])["analysis_id"]
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "shot.mp4"
    done = cli(env, "clip", aid, "--start", "1.6", "--end", "2.6", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["clip"] == str(out)
    times, colours = _frames(out)
    assert len(times) == FPS and all(_is(c, BLUE) for c in colours)
    for start, end, says in (("3", "2", "must be after the start"),
                             ("7", "8", "past the end of the video"),
                             ("-1", "2", "must be 0 or more")):
        bad = folder / f"bad-{start}.mp4"
        done = cli(env, "clip", aid, "--start", start, "--end", end, "-o", str(bad))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith("error: --start/--end: ") and says in done.stderr
        assert not bad.exists()
    assert sorted(p.name for p in folder.iterdir()) == ["shot.mp4"]


def test_check_range_keeps_the_end_within_the_video():
    """Test that an end past the video is cut to it, and a start past it refused."""
    assert check_range(1, 99, 6.0) == (1.0, 6.0)
    with pytest.raises(ClipError, match="past the end"):
        check_range(6.0, 7.0, 6.0)


def _children() -> set[int]:
    me = os.getpid()
    found = set()
    for task in Path(f"/proc/{me}/task").iterdir():
        found.update(int(p) for p in (task / "children").read_text().split())
    return found


def test_a_clip_stopped_early_stops_its_ffmpeg(cuts):
    """Test that closing the stream after its first chunk (a cancelled download) ends and
    reaps the ffmpeg that made it."""
    before = _children()
    chunks = stream_clip(str(cuts), 0.0, 6.0)
    assert next(chunks)
    started = _children() - before
    assert len(started) == 1
    chunks.close()
    assert not (_children() & started)
    assert not Path(f"/proc/{started.pop()}").exists()


def test_cli_full_shot_pass_and_shots_export(env, tmp_path):
    """Test that `analyze --fps 0.1 --full-shot-pass` (sampling that seeks) stores shots at frame
    precision and `export --shots` writes them, where without the flag the samples tell none."""
    video = make_video(tmp_path / "long.mp4", seconds=12, fps=FPS, pattern="cuts", cuts=(4.0,))
    # Samples at 0 and 10 s: without the pass, the shots the samples tell (the cut at 10 s).
    for flags, expected in (([], [("0", "0.000000", "cut"), ("1", "10.000000", "cut")]),
                            (["--full-shot-pass"], [("0", "0.000000", "cut"),
                                                    ("1", "4.000000", "cut")])):
        done = cli(env, "analyze", str(video), "--fps", "0.1", *flags)
        assert done.returncode == 0, done.stderr
        aid = json.loads(done.stdout.strip().splitlines()[-1])["analysis_id"]
        out = tmp_path / f"shots{len(flags)}.csv"
        done = cli(env, "export", aid, "--shots", str(out))
        assert done.returncode == 0, done.stderr
        rows = [line.split(",") for line in out.read_text().split()[1:]]
        assert [tuple(r[:2]) + (r[3],) for r in rows] == expected
