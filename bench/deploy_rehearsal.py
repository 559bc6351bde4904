"""7. Deployment rehearsal: the committed tree rebuilt and started the way App Service does it.

1. `git archive HEAD`, less what .webappignore keeps out of azd's zip: the package azd sends.
2. A fresh venv with `pip install -r requirements.txt` and nothing else (Oryx's build).
3. The Bicep's own startup command (appCommandLine), with PORT set as App Service sets it, in
   the unpacked folder; polled on /_stcore/health.
4. `cli.py analyze --no-wait` queues an analysis of a small generated video; nobody opens the app;
   the server's own worker must finish it.

Run it with `.venv/bin/python -m bench.run --only 7`. Embedded defaults (SQLite, a local
folder, the local analyser): this rehearses the build and the start, not Azure itself.
"""

from __future__ import annotations

import fnmatch
import io
import json
import shlex
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from bench.common import FINDINGS, ROOT, Row, limit_row, log, scratch
from bench.startup import healthy
from tests.fixtures import bicep, tools
from tests.fixtures.app_server import free_port
from tests.fixtures.videos import make_video

SECTION = "7. Deployment rehearsal"
VENV_LIMIT_MB, INSTALL_LIMIT_S, HEALTHY_LIMIT_S, PROCESS_LIMIT_S = 800, 120, 20, 120


def _ignored(path: str, patterns: list[str]) -> bool:
    """gitignore-style enough for .webappignore: `dir/` anywhere, globs on names or paths."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.endswith("/"):
            name = pattern.rstrip("/")
            if "/" in name:
                if path.startswith(name + "/"):
                    return True
            elif any(fnmatch.fnmatch(p, name) for p in parts[:-1]):
                return True
        elif "/" in pattern:
            if fnmatch.fnmatch(path, pattern):
                return True
        elif any(fnmatch.fnmatch(p, pattern) for p in parts):
            return True
    return False


def package(dest: Path) -> tuple[Path, int]:
    """The zip azd would send (committed files less .webappignore), and how many files."""
    patterns = [line.strip() for line in (ROOT / ".webappignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    archive = subprocess.run(["git", "archive", "--format=tar", "HEAD"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    zip_path, count = dest / "framewise.zip", 0
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar, \
            zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in tar.getmembers():
            if member.isfile() and not _ignored(member.name, patterns):
                data = tar.extractfile(member)
                assert data is not None
                info = zipfile.ZipInfo(member.name, time.gmtime(member.mtime)[:6])
                info.external_attr = (member.mode & 0o777) << 16
                out.writestr(info, data.read(), zipfile.ZIP_DEFLATED)
                count += 1
    return zip_path, count


def _size_mb(folder: Path) -> float:
    total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
    return total / 1e6


def _status(site: Path, env: dict[str, str], analysis_id: str) -> str:
    done = subprocess.run([str(site / "antenv/bin/python"), "cli.py", "list"], cwd=site, env=env,
                          capture_output=True, text=True, timeout=60)
    for line in done.stdout.splitlines():
        if line.startswith(analysis_id):
            return line.split()[1]
    return "missing"


def rehearse(work: Path) -> dict:
    """Every step in order; the figures, or the step that failed and why (one line)."""
    found: dict = {}
    zip_path, files = package(work)
    found.update(package_mb=zip_path.stat().st_size / 1e6, files=files)
    site = work / "wwwroot"
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(site)
    for info in zipfile.ZipFile(zip_path).infolist():  # zipfile drops the mode bits
        (site / info.filename).chmod((info.external_attr >> 16) or 0o644)
    log(f"   package {found['package_mb']:.2f} MB ({files} files); building a fresh venv")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(site / "antenv")], check=True)
    pip = subprocess.run([str(site / "antenv/bin/python"), "-m", "pip", "install", "--quiet",
                          "--no-cache-dir", "--disable-pip-version-check", "-r",
                          "requirements.txt"], cwd=site, capture_output=True, text=True)
    found["install_s"] = time.perf_counter() - started
    if pip.returncode != 0:
        found["failed"] = f"pip install -r requirements.txt failed: {pip.stderr.strip()[-300:]}"
        return found
    found["venv_mb"] = _size_mb(site / "antenv")
    command = bicep.startup_command()
    found["command"] = command
    port = free_port()
    home = work / "home"
    env = {"PATH": f"{site / 'antenv/bin'}:/usr/bin:/bin", "HOME": str(home), "PORT": str(port),
           "FRAMEWISE_DATA_DIR": str(home / "framewise"), "PYTHONUNBUFFERED": "1",
           "LANG": "C.UTF-8"}  # what App Service gives the container, no developer settings
    home.mkdir()
    log_path = work / "server.log"
    log(f"   venv {found['venv_mb']:.0f} MB in {found['install_s']:.0f} s; starting `{command}` "
        f"on PORT={port}")
    with log_path.open("wb") as out:
        started = time.perf_counter()
        server = subprocess.Popen(shlex.split(command), cwd=site, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while time.perf_counter() - started < 60 and server.poll() is None:
                if healthy(f"http://127.0.0.1:{port}/_stcore/health"):
                    found["healthy_s"] = time.perf_counter() - started
                    break
                time.sleep(0.1)
            if "healthy_s" not in found:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
                found["failed"] = (f"the startup command exited ({server.poll()}) or never "
                                   f"answered: {' | '.join(tail)[-300:]}")
                return found
            video = make_video(work / "clip.mp4", seconds=4, fps=10)
            queued = subprocess.run([str(site / "antenv/bin/python"), "cli.py", "analyze",
                                     str(video), "--no-wait"], cwd=site, env=env,
                                    capture_output=True, text=True, timeout=120)
            if queued.returncode != 0:
                found["failed"] = f"cli.py analyze --no-wait failed: {queued.stderr.strip()[-300:]}"
                return found
            analysis_id = json.loads(queued.stdout.splitlines()[-1])["analysis_id"]
            started, status = time.perf_counter(), "queued"
            while time.perf_counter() - started < PROCESS_LIMIT_S:
                status = _status(site, env, analysis_id)
                if status not in ("queued", "running"):
                    break
                time.sleep(1)
            found["status"] = status
            found["process_s"] = time.perf_counter() - started
        finally:
            tools.stop_process(server)
    return found


def rows() -> list[Row]:
    log(f"{SECTION}: git archive, fresh venv from requirements.txt, the Bicep's startup command")
    with scratch("deploy-") as tmp:
        found = rehearse(Path(tmp))
    log(f"   {json.dumps({k: v for k, v in found.items() if k != 'command'}, default=str)}")
    out = [Row(SECTION, "package as `azd deploy` zips it (committed files less .webappignore)",
               f"{found['package_mb']:.2f} MB", "", None, None, f"{found['files']} files")]
    if "install_s" in found:
        out.append(limit_row(SECTION, "`pip install -r requirements.txt` into a fresh venv",
                             found["install_s"], INSTALL_LIMIT_S, "s",
                             "wheels from this machine's package mirror, no pip cache; Oryx "
                             "downloads from PyPI, so expect more on App Service", fmt=".0f"))
    if "venv_mb" in found:
        out.append(limit_row(SECTION, "size of that venv", found["venv_mb"], VENV_LIMIT_MB, "MB",
                             fmt=".0f"))
    if "healthy_s" in found:
        out.append(limit_row(SECTION, f"`{found['command']}` (the Bicep's appCommandLine) until "
                             "/_stcore/health answers 200", found["healthy_s"], HEALTHY_LIMIT_S,
                             "s", "PORT set as App Service sets it; includes `cli.py db "
                             "upgrade`; App Service allows 230 s"))
    if "status" in found:
        done = found["status"] == "succeeded"
        out.append(Row(SECTION, "analysis queued by `cli.py analyze --no-wait`, nobody visiting",
                       "processed by the server's worker" if done
                       else f"not processed ({found['status']} after {found['process_s']:.0f} s)",
                       "processed", None, done,
                       f"{found['process_s']:.1f} s from queue to {found['status']}"))
    if "failed" in found:
        out.append(Row(SECTION, "rehearsal", "stopped", "every step runs", None, False,
                       found["failed"]))
        FINDINGS.append(f"Deployment rehearsal stopped: {found['failed']}")
    return out

