"""3. Memory: peak RSS of `python cli.py analyze` and of its ffmpeg children on >= 1 GB videos.

The Python peak is exact: a wrapper reads the process's own VmHWM at exit (atexit), then runs
cli.py unchanged with runpy. The children (ffmpeg probe and sampler) are polled every 50 ms via
/proc (VmHWM is a high-water mark, so a late poll still sees the peak reached before it).
Not ru_maxrss (getrusage / wait4): Linux carries the high-water mark across exec, so a child
forked from this (large) benchmark process reports the parent's size before it exec'd.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PY, ROOT, Row, child_env, limit_row, log, scratch
from bench.videos import big_video, doubled_video

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


@dataclass
class Peak:
    python_mb: float = 0.0
    ffmpeg_mb: float = 0.0  # the largest ffmpeg child
    tree_mb: float = 0.0  # os.wait4: max over the process and its waited-for children
    seconds: float = 0.0
    summary: dict = field(default_factory=dict)
    others: dict[str, float] = field(default_factory=dict)


def _children(pid: int) -> list[int]:
    """Every descendant of pid (via /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    kids = [int(x) for x in f.read().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def _status(pid: int) -> tuple[str, float] | None:
    """(name, VmHWM in MB) of a live process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return fields["Name"].strip(), int(fields.get("VmHWM", "0 kB").split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return None


def run_cli(video: Path, fps: float, data_dir: Path) -> Peak:
    """`python cli.py analyze VIDEO --analyzer local --fps FPS`, peaks measured."""
    hwm_file = data_dir / "python-hwm.txt"
    # The CLI refuses files above the upload limit (1 GiB by default): raise it for these.
    env = child_env(FRAMEWISE_DATA_DIR=str(data_dir), BENCH_HWM_FILE=str(hwm_file),
                    FRAMEWISE_EMBEDDED_WORKER="0", FRAMEWISE_MAX_UPLOAD_MB="100000")
    env.pop("AZURE_VISION_ENDPOINT", None)
    cmd = [PY, "-c", WRAPPER, "analyze", str(video), "--analyzer", "local", "--fps", f"{fps:g}"]
    peaks: dict[int, tuple[str, float]] = {}
    started = time.perf_counter()
    errors = open(data_dir / "stderr.txt", "w+b")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors)
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            for kid in _children(proc.pid):
                got = _status(kid)
                if got and got[1] >= peaks.get(kid, ("", 0.0))[1]:
                    peaks[kid] = got
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    poller.join()
    peak = Peak(seconds=time.perf_counter() - started, tree_mb=usage.ru_maxrss / 1024)
    lines = stdout.decode().strip().splitlines()
    peak.summary = json.loads(lines[-1]) if lines else {}
    errors.seek(0)
    said = errors.read().decode("utf-8", "replace").strip().splitlines()
    tail = [x for x in said if x.startswith("error:")][-1:] or said[-1:]
    errors.close()
    if proc.returncode != 0:
        raise RuntimeError(f"cli.py analyze exited {proc.returncode}: {tail}")
    peak.python_mb = int(hwm_file.read_text()) / 1024
    for name, mb in peaks.values():
        if name == "ffmpeg" or name.startswith("ffmpeg"):
            peak.ffmpeg_mb = max(peak.ffmpeg_mb, mb)
        else:
            peak.others[name] = max(peak.others.get(name, 0.0), mb)
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
             "python VmHWM read at exit, ffmpeg VmHWM polled every 50 ms")
    out = []
    for label, path, p in (("", video, one), (" (doubled)", doubled, two)):
        out.append(limit_row(
            SECTION, f"cli.py analyze, {_gb(path)} video{label}: python + ffmpeg peak RSS",
            p.python_mb + p.ffmpeg_mb, LIMIT_MB, "MB",
            f"python {p.python_mb:.0f} MB, ffmpeg {p.ffmpeg_mb:.0f} MB (sum of the two peaks)"
            + (f", other children {p.others}" if p.others else "")
            + f"; {p.summary.get('frames')} frames in {p.seconds:.0f} s; "
            + notes, fmt=".0f"))
    for what, a, b in (("python", one.python_mb, two.python_mb),
                       ("ffmpeg", one.ffmpeg_mb, two.ffmpeg_mb)):
        ratio = b / a if a else float("inf")
        out.append(Row(SECTION, f"{what} peak RSS when the video doubles",
                       f"{a:.0f} MB -> {b:.0f} MB", "no growth (<= 1.10x)", ratio, ratio <= 1.10,
                       f"{_gb(video)} -> {_gb(doubled)}, twice the frames: {b - a:+.1f} MB"))
    return out
