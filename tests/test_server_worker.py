"""The worker belongs to the server: a real `streamlit run app.py`, no browser, nobody on the app.

The embedded worker starts with the server (the st.App lifespan in server/lifespan.py), so an
analysis queued with `cli.py analyze --no-wait` is processed although no page was ever opened.
SIGTERM (App Service restarts and deploys send it) hands the running analysis back at once, so a
`cli.py worker` resumes it; the lease is 10 minutes here, so only a hand-back lets it in.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import subprocess

from server.embedded import WorkerState
from server.lifespan import lifespan
from services.analysis.jobs import get_analysis
from services.models import Status
from tests.fixtures.app_server import PYTHON, ROOT
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video
from tests.fixtures.workers import emulator as emulator  # noqa: F401  (fixture)
from tests.fixtures.workers import stored


def _run_async(coro_fn):
    """Run a coroutine on a fresh loop in its own thread, whatever loop the test thread has."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(coro_fn())).result()


def _status(server, analysis_id: str) -> str | None:
    analysis = get_analysis(server.services.engine, analysis_id)
    return analysis.status if analysis else None


def test_an_analysis_queued_from_the_cli_is_processed_with_nobody_on_the_app(app_servers,
                                                                              tmp_path):
    """Test that the server's own worker runs a `--no-wait` analysis before any page is opened."""
    server = app_servers()
    video = make_video(tmp_path / "clip.mp4", seconds=3)
    analysis_id = server.cli("analyze", str(video), "--no-wait")["analysis_id"]
    wait_for(lambda: _status(server, analysis_id) == Status.succeeded,
             "the server's worker to finish the analysis", timeout=90)
    analysis = get_analysis(server.services.engine, analysis_id)
    assert analysis is not None and analysis.frames_done == analysis.frames_planned == 3
    assert analysis.lease_owner is None


def test_the_lifespan_starts_the_worker_and_stops_it_at_shutdown(app_services, monkeypatch):
    """Test that the st.App lifespan runs a worker thread while it lasts and ends it on exit."""
    monkeypatch.setenv("FRAMEWISE_EMBEDDED_WORKER", "1")
    seen = {}

    async def serve():
        async with lifespan(None) as state:
            seen["alive"] = state["embedded"].worker.alive
        return state["embedded"]

    embedded = _run_async(serve)
    assert seen["alive"] is True and embedded.state is WorkerState.running
    assert not embedded.worker.alive


def test_framewise_embedded_worker_0_keeps_the_worker_off(app_services):
    """Test that with FRAMEWISE_EMBEDDED_WORKER=0 (as app_services sets) no worker starts."""
    async def serve():
        async with lifespan(None) as state:
            return state["embedded"]

    embedded = _run_async(serve)
    assert embedded.worker is None and embedded.state is WorkerState.off


def test_sigterm_hands_the_running_analysis_back_to_a_cli_worker(app_servers, emulator,  # noqa: F811
                                                                  tmp_path):
    """Test that SIGTERM mid-analysis requeues it at once, frames kept, for `cli.py worker`."""
    server = app_servers(env={
        "AZURE_VISION_ENDPOINT": emulator.endpoint, "AZURE_VISION_KEY": emulator.key,
        "AZURE_VISION_FEATURES": "tags,objects", "AZURE_VISION_MAX_TPS": "4",
        "FRAMEWISE_LEASE_SECONDS": "600",
    })
    video = make_video(tmp_path / "long.mp4", seconds=10, fps=10)
    analysis_id = server.cli("analyze", str(video), "--analyzer", "azure", "--fps", "5",
                             "--no-wait")["analysis_id"]
    engine = server.services.engine
    wait_for(lambda: len(stored(engine, analysis_id)) >= 3, "the first frames", timeout=90)

    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    server.process.wait(timeout=60)  # uvicorn shuts down, then re-raises the signal: -15
    handed_back = get_analysis(engine, analysis_id)
    assert handed_back is not None
    assert handed_back.status == Status.queued and handed_back.lease_owner is None
    kept = set(stored(engine, analysis_id))
    assert 3 <= len(kept) < 50 and handed_back.frames_done == len(kept)

    done = subprocess.run([str(PYTHON), "cli.py", "worker", "--once"], cwd=ROOT,
                          env=server.server_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"analysis_id": analysis_id,
                                                        "status": "succeeded"}
    assert sorted(stored(engine, analysis_id)) == list(range(50))  # one row per frame
