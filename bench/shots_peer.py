"""Shots against the peer, side by side in one run: PySceneDetect's CLI (ContentDetector, its
default) as the reference cuts and the speed to beat, ffmpeg's plain decode, Framewise's shot
scan alone and a whole local analysis at 1 fps (shots included, through `cli.py analyze`).

PySceneDetect is never a dependency of the app (it brings OpenCV): point --scenedetect at the
`scenedetect` command of a virtualenv of its own, e.g.
  python -m venv /tmp/sd && /tmp/sd/bin/pip install scenedetect==0.7.2 opencv-python-headless
  .venv/bin/python -m bench.shots_peer --scenedetect /tmp/sd/bin/scenedetect VIDEO...
Its test clips are on its repository's `resources` branch (tests/resources/*.mp4).

A cut matches a reference cut within --frames frames (2 by default), one to one; F1 over them.
Fades and dissolves are listed with their kind: the reference's ContentDetector sees no fades.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from services.video.probe import ffmpeg_exe, probe
from services.video.shots import scan_shots

ROOT = Path(__file__).resolve().parents[1]


def _timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - start, done


def frame_times(video: str) -> list[float]:
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", video, "-map", "0:V:0", "-vf",
                           "showinfo", "-f", "null", "-"], capture_output=True, text=True)
    return [float(t) for t in re.findall(r"pts_time:([\d.]+)", done.stderr)]


def reference_cuts(scenedetect: str, video: str) -> tuple[float, list[float]]:
    """PySceneDetect's cut times (its scene starts after the first) and its CLI's wall time."""
    with tempfile.TemporaryDirectory() as out:
        seconds, done = _timed([scenedetect, "-i", video, "-o", out, "detect-content",
                                "list-scenes", "-f", "scenes.csv"])
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-500:])
        text = (Path(out) / "scenes.csv").read_text()
    rows = list(csv.reader(io.StringIO(text)))
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Scene Number")
    col = rows[header].index("Start Time (seconds)")
    starts = [float(r[col]) for r in rows[header + 1:] if r]
    return seconds, starts[1:]


def f1(found: list[float], reference: list[float], times: list[float], frames: int) -> float:
    """F1 of found cuts against reference cuts, matched one to one within `frames` frames."""
    def index(t: float) -> int:
        return min(range(len(times)), key=lambda i: abs(times[i] - t))

    ref = [index(t) for t in reference]
    hits, used = 0, set()
    for n in (index(t) for t in found):
        match = next((i for i, r in enumerate(ref) if i not in used and abs(r - n) <= frames),
                     None)
        if match is not None:
            used.add(match)
            hits += 1
    if not found and not reference:
        return 1.0
    precision = hits / len(found) if found else 0.0
    recall = hits / len(reference) if reference else 0.0
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def analyse_1fps(video: str) -> float:
    """A whole local analysis at 1 fps through the CLI, on a fresh data folder; wall seconds."""
    with tempfile.TemporaryDirectory() as data:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("FRAMEWISE_", "AZURE_", "DATABASE_URL"))}
        env.update(FRAMEWISE_DATA_DIR=data, FRAMEWISE_ENV_FILE="", PYTHONPATH=str(ROOT))
        seconds, done = _timed([sys.executable, str(ROOT / "cli.py"), "analyze", video,
                                "--fps", "1"], env=env)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-500:])
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--scenedetect", required=True, help="PySceneDetect's CLI")
    parser.add_argument("--frames", type=int, default=2, help="match within N frames")
    args = parser.parse_args(argv)
    for video in args.videos:
        info = probe(video)
        decode_s, _ = _timed([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", video,
                              "-map", "0:V:0", "-f", "null", "-"])
        start = time.perf_counter()
        shots = scan_shots(video, info.duration_s) or []
        scan_s = time.perf_counter() - start
        analysis_s = analyse_1fps(video)
        peer_s, reference = reference_cuts(args.scenedetect, video)
        times = frame_times(video)
        cuts = [s.start_s for s in shots[1:] if s.transition == "cut"]
        print(json.dumps({
            "video": Path(video).name, "duration_s": round(info.duration_s, 3),
            "fps": round(info.fps, 3), "frames": len(times),
            "reference_cuts_s": reference,
            "framewise": [[s.start_s, s.transition] for s in shots[1:]],
            f"f1_cuts_within_{args.frames}_frames": round(f1(cuts, reference, times,
                                                              args.frames), 3),
            f"f1_all_boundaries_within_{args.frames}_frames": round(
                f1([s.start_s for s in shots[1:]], reference, times, args.frames), 3),
            "seconds": {"ffmpeg_decode": round(decode_s, 2), "framewise_scan": round(scan_s, 2),
                        "framewise_analysis_1fps": round(analysis_s, 2),
                        "pyscenedetect_cli": round(peer_s, 2)},
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
