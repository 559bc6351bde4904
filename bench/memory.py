"""3. Memory: peak RSS of `python cli.py analyze` and of its ffmpeg children on >= 1 GB videos.

The Python peak is exact: a wrapper reads the process's own VmHWM at exit (atexit), then runs
cli.py unchanged with runpy. Each ffmpeg the app starts (probe, sampler) is started through a
second, tiny wrapper (IMAGEIO_FFMPEG_EXE, the variable imageio-ffmpeg reads) that spawns the real
binary and reads its ru_maxrss from wait4 when it exits: every ffmpeg is measured, however short
it lives (polling /proc missed a 0.1 s ffmpeg). Linux carries the high-water mark across exec,
so a child's ru_maxrss is at least its spawner's size: the wrapper is small (python -SE, ~9 MB)
and records its own size as the floor beside each figure.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PY, ROOT, Row, child_env, limit_row, log, scratch
from bench.videos import FFMPEG, big_video, doubled_video

SECTION = "3. Memory"
LIMIT_MB = 400
WRAPPER = """
import atexit, os, runpy, sys
def _hwm():
    with open('/proc/self/status') as f:
        peak = [l.split()[1] for l in f if l.startswith('VmHWM')][0]
    with open(os.environ['BENCH_HWM_FILE'], 'w') as out:
        out.write(peak)
atexit.register(_hwm)
sys.argv = ['cli.py'] + sys.argv[1:]
runpy.run_path('cli.py', run_name='__main__')
"""
# Spawns the real ffmpeg, passes SIGTERM on, appends "ffmpeg ru_maxrss KB, own VmHWM KB" at exit.
FFMPEG_WRAPPER = """#!{python} -SE
import os, signal, sys
pid = os.posix_spawn({ffmpeg!r}, [{ffmpeg!r}] + sys.argv[1:], os.environ)
signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGTERM))
_, status, usage = os.wait4(pid, 0)
with open('/proc/self/status') as f:
    own = [l.split()[1] for l in f if l.startswith('VmHWM')][0]
with open({log!r}, 'a') as out:
    out.write(f"{{usage.ru_maxrss}} {{own}}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass
class Peak:
    python_mb: float = 0.0
    ffmpeg_mb: float = 0.0  # the largest ffmpeg child
    ffmpeg_runs: int = 0
    ffmpeg_floor_mb: float = 0.0  # the spawning wrapper's own size: no figure can be below it
    tree_mb: float = 0.0  # os.wait4: max over the process and its waited-for children
    seconds: float = 0.0
    summary: dict = field(default_factory=dict)


def _ffmpeg_wrapper(data_dir: Path) -> tuple[Path, Path]:
    """An executable that runs the real ffmpeg and logs its peak; (wrapper, log)."""
    log_file, wrapper = data_dir / "ffmpeg-peaks.txt", data_dir / "ffmpeg-measured"
    wrapper.write_text(FFMPEG_WRAPPER.format(python=PY, ffmpeg=FFMPEG, log=str(log_file)))
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log_file


def run_cli(video: Path, fps: float, data_dir: Path) -> Peak:
    """`python cli.py analyze VIDEO --analyzer local --fps FPS`, peaks measured."""
    hwm_file = data_dir / "python-hwm.txt"
    wrapper, ffmpeg_log = _ffmpeg_wrapper(data_dir)
    # The CLI refuses files above the upload limit (1 GiB by default): raise it for these.
    env = child_env(FRAMEWISE_DATA_DIR=str(data_dir), BENCH_HWM_FILE=str(hwm_file),
                    FRAMEWISE_EMBEDDED_WORKER="0", FRAMEWISE_MAX_UPLOAD_MB="100000",
                    IMAGEIO_FFMPEG_EXE=str(wrapper))
    env.pop("AZURE_VISION_ENDPOINT", None)
    cmd = [PY, "-c", WRAPPER, "analyze", str(video), "--analyzer", "local", "--fps", f"{fps:g}"]
    started = time.perf_counter()
    with open(data_dir / "stderr.txt", "w+b") as errors:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        stdout = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        said = errors.read().decode("utf-8", "replace").strip().splitlines()
    peak = Peak(seconds=time.perf_counter() - started, tree_mb=usage.ru_maxrss / 1024)
    if proc.returncode != 0:
        tail = [x for x in said if x.startswith("error:")][-1:] or said[-1:]
        raise RuntimeError(f"cli.py analyze exited {proc.returncode}: {tail}")
    lines = stdout.decode().strip().splitlines()
    peak.summary = json.loads(lines[-1]) if lines else {}
    peak.python_mb = int(hwm_file.read_text()) / 1024
    runs = [line.split() for line in ffmpeg_log.read_text().splitlines()]
    peak.ffmpeg_runs = len(runs)
    peak.ffmpeg_mb = max(int(kb) for kb, _ in runs) / 1024
    peak.ffmpeg_floor_mb = max(int(own) for _, own in runs) / 1024
    return peak


def _gb(path: Path) -> str:
    return f"{path.stat().st_size / 1e9:.2f} GB"


def rows(fps: float = 0.2, video: Path | None = None, doubled: Path | None = None) -> list[Row]:
    video = video or big_video()
    doubled = doubled or doubled_video(video)
    found: dict[str, Peak] = {}
    for label, path in (("single", video), ("doubled", doubled)):
        log(f"3. memory: cli.py analyze {path.name} ({_gb(path)}) at fps={fps:g}")
        with scratch("mem-") as tmp:
            found[label] = run_cli(path, fps, Path(tmp))
        p = found[label]
        log(f"   python {p.python_mb:.0f} MB, ffmpeg {p.ffmpeg_mb:.0f} MB, {p.seconds:.0f} s")
    one, two = found["single"], found["doubled"]
    notes = (f"fps={fps:g} (not 1) to stay in the time budget; local analyser, no --max-frames; "
             "python VmHWM read at exit, ffmpeg ru_maxrss from wait4 in a spawning wrapper")
    out = []
    for label, path, p in (("", video, one), (" (doubled)", doubled, two)):
        out.append(limit_row(
            SECTION, f"cli.py analyze, {_gb(path)} video{label}: python + ffmpeg peak RSS",
            p.python_mb + p.ffmpeg_mb, LIMIT_MB, "MB",
            f"python {p.python_mb:.0f} MB, ffmpeg {p.ffmpeg_mb:.0f} MB (sum of the two peaks)"
            + f"; {p.ffmpeg_runs} ffmpeg runs, each measured at exit"
            + f" (floor {p.ffmpeg_floor_mb:.0f} MB)"
            + f"; {p.summary.get('frames')} frames in {p.seconds:.0f} s; "
            + notes, fmt=".0f"))
    for what, a, b in (("python", one.python_mb, two.python_mb),
                       ("ffmpeg", one.ffmpeg_mb, two.ffmpeg_mb)):
        ratio = b / a if a else float("inf")
        out.append(Row(SECTION, f"{what} peak RSS when the video doubles",
                       f"{a:.0f} MB -> {b:.0f} MB", "no growth (<= 1.10x)", ratio, ratio <= 1.10,
                       f"{_gb(video)} -> {_gb(doubled)}, twice the frames: {b - a:+.1f} MB"))
    return out
