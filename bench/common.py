"""Shared pieces of the benchmark: result rows, timing (wall and CPU), machine facts and load,
logging."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"  # generated videos and scratch data; gitignored
PY = sys.executable
_T0 = time.monotonic()
RESULTS = ROOT / "bench" / "results.json"  # every section's last rows; bench/report.py
REPORT = ROOT / "docs" / "BENCHMARKS.md"
FINDINGS: list[str] = []  # causes found during a section, written under its table


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)


def scratch(prefix: str) -> tempfile.TemporaryDirectory:
    """A temporary folder under bench/out/ (the same disk as the cached videos)."""
    OUT.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=OUT, prefix=prefix)


def child_env(**extra: str) -> dict[str, str]:
    """Environment for a Python child that imports the repo's packages."""
    env = dict(os.environ)
    paths = [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra)
    return env


@dataclass
class Row:
    """One line of the results table. met: True / False, or None for information only."""

    section: str
    figure: str
    measured: str
    target: str = ""
    ratio: float | None = None
    met: bool | None = None
    notes: str = ""


def ratio_row(section: str, figure: str, value: float, floor: float, limit: float, unit: str,
              floor_name: str, notes: str = "") -> Row:
    """A row whose target is `value <= limit * floor`."""
    ratio = value / floor if floor > 0 else float("inf")
    return Row(section, figure, f"{value:.2f} {unit} (vs {floor:.2f} {unit} {floor_name})",
               f"<= {limit:g}x {floor_name}", ratio, ratio <= limit, notes)


def limit_row(section: str, figure: str, value: float, limit: float, unit: str,
              notes: str = "", fmt: str = ".2f") -> Row:
    """A row whose target is an absolute `value <= limit`; the ratio is value / limit."""
    return Row(section, figure, f"{value:{fmt}} {unit}", f"<= {limit:g} {unit}",
               value / limit if limit else None, value <= limit, notes)


@dataclass
class Timing:
    wall: float = 0.0
    cpu_self: float = 0.0  # this process, all threads (user + system)
    cpu_children: float = 0.0  # waited-for child processes (ffmpeg), user + system

    @property
    def cpu(self) -> float:
        return self.cpu_self + self.cpu_children


class timed:
    """`with timed() as t:` fills t (a Timing) with wall and CPU seconds of the block."""

    def __enter__(self) -> Timing:
        self.t = Timing()
        self._self = _cpu(resource.RUSAGE_SELF)
        self._kids = _cpu(resource.RUSAGE_CHILDREN)
        self._wall = time.perf_counter()
        return self.t

    def __exit__(self, *exc) -> None:
        self.t.wall = time.perf_counter() - self._wall
        self.t.cpu_self = _cpu(resource.RUSAGE_SELF) - self._self
        self.t.cpu_children = _cpu(resource.RUSAGE_CHILDREN) - self._kids


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python, ffmpeg and library versions."""
    import imageio_ffmpeg

    model = platform.processor() or "unknown"
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = "hypervisor" if " hypervisor" in line else ""
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for name in ("streamlit", "altair", "pandas", "numpy", "pillow", "sqlalchemy",
                 "azure-ai-vision-imageanalysis", "imageio-ffmpeg"):
        try:
            from importlib.metadata import version

            versions.append(f"{name} {version(name)}")
        except Exception:  # noqa: BLE001 - a missing package is just not listed
            pass
    return {
        "cpu": model + (" (virtual machine)" if flags else ""),
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "ram": ram,
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": platform.python_version(),
        "ffmpeg": f"{imageio_ffmpeg.get_ffmpeg_version()} (imageio-ffmpeg's binary)",
        "libraries": ", ".join(versions),
    }


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def commit() -> str:
    """The checked-out commit, `-dirty` when tracked files differ from it."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=ROOT,
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


class LoadWatch:
    """`with LoadWatch() as load:` samples the 1-minute load average every `every` seconds;
    str(load) after the block says it at the start, at the end and the highest seen."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.start = self.end = self.high = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> LoadWatch:
        self.start = self.high = os.getloadavg()[0]
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self.high = max(self.high, os.getloadavg()[0])

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.end = os.getloadavg()[0]
        self.high = max(self.high, self.end)

    def __str__(self) -> str:
        return (f"1-minute load {self.start:.1f} at start, {self.end:.1f} at end, highest "
                f"{self.high:.1f} (sampled every {self.every:g} s) on {os.cpu_count()} cores")
