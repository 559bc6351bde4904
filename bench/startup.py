"""6. Start-up: `streamlit run app.py` healthy, and a fresh interpreter importing services/."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.common import FINDINGS, PY, ROOT, Row, child_env, limit_row, log, median, scratch
from tests.fixtures import tools
from tests.fixtures.app_server import free_port

SECTION = "6. Start-up"
MODULES = ("services.config, services.db, services.models, services.storage.factory, "
           "services.video.sampling, services.analysis.pipeline, services.analysis.jobs, "
           "services.insights.exports, services.insights.results, services.vision.azure")
IMPORT = (f"import time; t = time.perf_counter(); import {MODULES}; "
          "print(time.perf_counter() - t, time.time())")


def healthy(url: str) -> bool:
    """Whether `url` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def streamlit_start(timeout_s: float = 30.0) -> tuple[float, float | None]:
    """Seconds from launch until /_stcore/health answers 200, and until / answers (or None)."""
    port = free_port()
    with scratch("start-") as tmp:
        env = child_env(FRAMEWISE_DATA_DIR=tmp, FRAMEWISE_EMBEDDED_WORKER="0")
        env.pop("AZURE_VISION_ENDPOINT", None)
        cmd = [PY, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1",
               "--browser.gatherUsageStats", "false"]
        with open(Path(tmp) / "streamlit.log", "wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)
            try:
                health = None
                while time.perf_counter() - started < timeout_s and proc.poll() is None:
                    if healthy(f"http://127.0.0.1:{port}/_stcore/health"):
                        health = time.perf_counter() - started
                        break
                    time.sleep(0.05)
                if health is None:
                    raise RuntimeError(f"streamlit not healthy after {timeout_s:g} s "
                                       f"(exit {proc.poll()})")
                page = time.perf_counter() - started if healthy(
                    f"http://127.0.0.1:{port}/") else None
                return health, page
            finally:
                tools.stop_process(proc)


def import_time() -> tuple[float, float, float]:
    """A fresh `python -c "import ..."`: seconds from launch until the imports are done, the
    imports alone (inside), and the whole process (with interpreter start and teardown)."""
    launched, started = time.time(), time.perf_counter()
    done = subprocess.run([PY, "-c", IMPORT], cwd=ROOT, env=child_env(), check=True,
                          capture_output=True, text=True)
    whole = time.perf_counter() - started
    inside, finished = (float(x) for x in done.stdout.split())
    return finished - launched, inside, whole


def slowest_imports(top: int = 5) -> str:
    """The heaviest top-level packages by -X importtime (cumulative), for the notes."""
    done = subprocess.run([PY, "-X", "importtime", "-c", f"import {MODULES}"], cwd=ROOT,
                          env=child_env(), capture_output=True, text=True)
    found = {}
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            name = parts[2].rstrip()
            depth = (len(name) - len(name.lstrip())) // 2
            if depth <= 1:
                found[name.strip()] = int(parts[1]) / 1e6
    best = sorted(found.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{n} {s:.2f} s" for n, s in best)


def rows(repeats: int = 3) -> list[Row]:
    log(f"6. start-up: streamlit run app.py x{repeats}, fresh imports x{repeats}")
    starts = [streamlit_start() for _ in range(repeats)]
    imports = [import_time() for _ in range(repeats)]
    health = [h for h, _ in starts]
    pages = [p for _, p in starts if p is not None]
    ready, inside, whole = ([x[i] for x in imports] for i in range(3))
    log(f"   health {median(health):.2f} s, imports done {median(ready):.2f} s after launch")
    if median(ready) > 1.0:
        FINDINGS.append(
            f"Importing the 10 service modules took {median(ready):.2f} s from launch (imports "
            f"alone {median(inside):.2f} s). Nearly all of it is third-party: sqlmodel, pydantic "
            "and sqlalchemy (services.db, services.models), pydantic-settings (services.config), "
            "numpy and Pillow (services.video); pandas and the Azure SDKs are imported only where "
            "they are used (tests/test_import_cost.py). The figure moves with other load (see the "
            "section's load).")
    return [
        limit_row(SECTION, "`streamlit run app.py` until /_stcore/health answers 200",
                  median(health), 5.0, "s",
                  f"median of {repeats} ({', '.join(f'{h:.2f}' for h in health)}); headless, "
                  "free port, own FRAMEWISE_DATA_DIR, FRAMEWISE_EMBEDDED_WORKER=0; "
                  + (f"/ answered at {median(pages):.2f} s" if pages else "/ did not answer")),
        limit_row(SECTION, "fresh `python -c \"import services.…\"` (10 modules), launch until "
                  "imported", median(ready), 1.0, "s",
                  f"median of {repeats} ({', '.join(f'{w:.2f}' for w in ready)}); the imports "
                  f"alone {median(inside):.2f} s; whole process with interpreter teardown "
                  f"{median(whole):.2f} s; heaviest: {slowest_imports()}"),
    ]
