"""A real Framewise server for the browser tests: `streamlit run app.py` on a free loopback port.

Each server gets its own data folder and an explicit secrets file, so nothing from the
developer's `.env`, `.streamlit/secrets.toml` or environment leaks into a test.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from services.config import load_settings
from services.context import Services, open_services
from tests.fixtures import tools

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
# Settings the server must not inherit from the test process or a developer's .env: an empty
# value in the real environment wins over .env and means "unset".
HERMETIC = (
    "DATABASE_URL", "FRAMEWISE_ANALYZER", "FRAMEWISE_ALLOWED_USERS", "FRAMEWISE_MAX_UPLOAD_MB",
    "FRAMEWISE_MIN_CONFIDENCE", "FRAMEWISE_LEASE_SECONDS", "FRAMEWISE_EMBEDDED_WORKER",
    "AZURE_VISION_ENDPOINT", "AZURE_VISION_KEY", "AZURE_VISION_FEATURES",
    "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_URL", "AZURE_STORAGE_CONTAINER",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """A running `streamlit run app.py`, its settings, and the services it uses."""

    home: Path
    env: dict[str, str]
    secrets: str | Callable[[str], str] = ""  # the secrets.toml text, or a function of the URL
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_path(self) -> Path:
        return self.home / "server.log"

    @cached_property
    def server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
        env.update({name: "" for name in HERMETIC})
        env.update(FRAMEWISE_DATA_DIR=str(self.data_dir), FRAMEWISE_PUBLIC_URL=self.url,
                   PYTHONUNBUFFERED="1")
        env.update(self.env)
        return env

    @cached_property
    def services(self) -> Services:
        """The server's database and store, opened from the test process (same settings)."""
        return open_services(load_settings(self.server_env, dotenv=None))

    def start(self, timeout: float = 60.0) -> AppServer:
        self.home.mkdir(parents=True, exist_ok=True)
        secrets = self.home / "secrets.toml"  # always explicit: never the repo's own file
        text = self.secrets(self.url) if callable(self.secrets) else self.secrets
        secrets.write_text(text, encoding="utf-8")
        cmd = [
            str(PYTHON if PYTHON.exists() else Path(sys.executable)), "-m", "streamlit", "run",
            "app.py", "--server.headless", "true", "--server.port", str(self.port),
            "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
            "--secrets.files", str(secrets),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(cmd, cwd=ROOT, env=self.server_env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the app server exited ({self.process.returncode}):\n"
                                   f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the app server did not answer /_stcore/health:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            tools.stop_process(self.process)
        if "services" in self.__dict__:
            self.services.engine.dispose()

    def memory_mb(self, field: str = "VmRSS") -> float:
        """The server process's resident memory (VmRSS) or its peak since the last reset (VmHWM)."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kb = next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":"))
        return int(kb) / 1024

    def reset_peak_memory(self) -> None:
        """Start VmHWM again from the current RSS (Linux: 5 into clear_refs)."""
        assert self.process is not None
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def cli(self, *args: str) -> dict:
        """Run `cli.py` against this server's data (its worker picks up what --no-wait queues)."""
        done = subprocess.run([str(PYTHON), "cli.py", *args], cwd=ROOT, env=self.server_env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])
