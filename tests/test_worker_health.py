"""`cli.py worker` as an App Service web app: with PORT set it answers HTTP 200 there, so App
Service does not restart it in a loop; SIGTERM still hands back and closes the port.

A real worker process on SQLite, pinged over loopback; nothing here reaches Azure.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from services.health_listener import HealthListener, listener_port
from tests.fixtures.app_server import free_port
from tests.fixtures.cli import cli, env  # noqa: F401 - env is a fixture
from tests.fixtures.tools import ROOT, wait_for


def _get(port: int, path: str = "/") -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None


def test_worker_with_a_port_answers_200_until_sigterm(env, tmp_path):  # noqa: F811
    """Test the worker process: 200 "ok" on / and the health path while it runs; after SIGTERM
    it exits 0 and the port no longer answers."""
    port = free_port()
    log = tmp_path / "worker.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "worker"],
                                env={**env, "PORT": str(port)}, cwd=env["FRAMEWISE_DATA_DIR"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
    try:
        def answered():
            if proc.poll() is not None:
                pytest.fail(f"the worker exited {proc.returncode}: {log.read_text()[-500:]}")
            return _get(port)

        assert wait_for(answered, "the worker's health listener") == (200, "ok\n")
        assert _get(port, "/_stcore/health") == (200, "ok\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-500:]
        assert _get(port) is None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_worker_without_a_port_opens_none():
    """Test that outside App Service (no PORT, no WEBSITES_PORT) no listener is asked for."""
    assert listener_port({}) is None
    assert listener_port({"WEBSITES_PORT": "8181"}) == 8181
    assert listener_port({"PORT": "8000", "WEBSITES_PORT": "8181"}) == 8000


def test_a_bad_port_is_one_line(env):  # noqa: F811
    """Test that PORT=abc stops `cli.py worker` with one error line, exit 2."""
    done = cli(env | {"PORT": "abc"}, "worker")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: setting PORT must be a port number, got 'abc'"


def test_the_listener_stops_and_frees_its_port():
    """Test HealthListener on its own: serves on a free port, then stop() closes it."""
    listener = HealthListener(0, host="127.0.0.1").start()
    assert _get(listener.port) == (200, "ok\n")
    listener.stop()
    assert _get(listener.port) is None
