"""Settings, services and the embedded worker, opened once per Streamlit server process.

FRAMEWISE_EMBEDDED_WORKER=0 keeps the background worker thread from starting (tests, or when
`python cli.py worker` processes do the work); any other value, or none, starts it.
"""

from __future__ import annotations

import logging
import runpy
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from services.analysis.worker import Worker
from services.config import Settings, load_settings
from services.context import Services, open_services

log = logging.getLogger(__name__)
_ROUTED_KEY = "_framewise_routed"
APP_SCRIPT = Path(__file__).resolve().parents[1] / "app.py"


@dataclass
class WorkerHandle:
    """The background worker thread and the event that stops it."""

    thread: threading.Thread
    stop: threading.Event
    worker: Worker


def mark_routed() -> None:
    """app.py calls this just before running the page it routed to."""
    st.session_state[_ROUTED_KEY] = True


def route_through_app() -> None:
    """Pages call this first, so they always run inside app.py (config, worker, navigation).

    Streamlit treats a folder named pages/ as a legacy multipage app until some session calls
    st.navigation: a deep link such as a share link, opened as the first visit after a server
    start, runs the page script alone. Then this runs app.py in its place, in the same run (so
    no click or query parameter is lost); app.py routes back to this page and leaves legacy
    mode for good, so in a running server this happens at most once.
    """
    if st.session_state.pop(_ROUTED_KEY, False):
        return
    from streamlit.runtime.pages_manager import PagesManager

    if not getattr(PagesManager, "uses_pages_directory", False):
        return  # not legacy mode: nothing to repair
    runpy.run_path(str(APP_SCRIPT), run_name="__main__")
    st.stop()


def get_settings() -> Settings:
    """Settings from the environment and .env; raises SettingsError naming the variable."""
    return load_settings()


@st.cache_resource(show_spinner=False)
def _open(settings: Settings) -> Services:
    return open_services(settings)


def get_services() -> Services:
    """Engine, blob store and settings, shared by every session (one per distinct settings)."""
    return _open(get_settings())


def _stop_worker(handle: WorkerHandle | None) -> None:
    if handle is not None:
        handle.stop.set()


@st.cache_resource(show_spinner=False, on_release=_stop_worker)
def _start_worker(_services: Services, settings: Settings) -> WorkerHandle:
    # Cached per distinct settings, so a process runs one worker thread, not one per session.
    worker = Worker(engine=_services.engine, store=_services.store, settings=settings)
    stop = threading.Event()
    # The thread only touches services: it must never call st.* (no script run context).
    thread = threading.Thread(
        target=worker.run_forever, args=(stop,), name="framewise-worker", daemon=True
    )
    thread.start()
    log.info("embedded worker %s started", worker.owner)
    return WorkerHandle(thread=thread, stop=stop, worker=worker)


def ensure_worker(services: Services) -> WorkerHandle | None:
    """Start the one background worker thread of this process, unless it is turned off."""
    if not services.settings.embedded_worker:
        return None
    return _start_worker(services, services.settings)
