"""A server whose worker cannot start at first (a database not reachable yet, as after a deploy
whose firewall rule or role assignment is still propagating) keeps trying in the background, and
the pages say so meanwhile; a wrong setting is not retried.

The database is a real PostgreSQL behind a loopback port that refuses connections until the test
opens it (tests/fixtures/tcp_gate.py): the fault is at the network edge.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy.engine import make_url

from server import embedded as embedded_worker
from server.embedded import WorkerState
from services.analysis.idle import IdleWatch
from tests.fixtures.apptest import app, shown
from tests.fixtures.apptest import app_services as app_services  # noqa: F401  (fixture)
from tests.fixtures.tcp_gate import TcpGate
from tests.fixtures.tools import wait_for

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def gate():
    gate = TcpGate()
    yield gate
    gate.close()


def _sidebar_warnings() -> list[str]:
    at = app().run()
    assert not at.exception, at.exception
    return [shown(w.value) for w in at.sidebar.warning]


@postgres_only
def test_a_worker_that_cannot_start_tries_again_and_the_pages_say_so(
        app_services, database_url, gate, monkeypatch):  # noqa: F811
    """Test that a refused database leaves the worker retrying (said in the sidebar, with what
    failed), and that it starts by itself once the database answers."""
    url = make_url(database_url)
    monkeypatch.setenv("DATABASE_URL", url.set(port=gate.port).render_as_string(False))
    monkeypatch.setenv("FRAMEWISE_EMBEDDED_WORKER", "1")
    embedded = embedded_worker.begin()
    try:
        assert embedded.try_start() is False
        assert embedded.state is WorkerState.retrying and "DATABASE_URL" in embedded.reason

        gate.open(url.host or "127.0.0.1", url.port or 5432)  # the database answers now
        warned = _sidebar_warnings()  # the page works; the worker's next try is still to come
        assert len(warned) == 1 and "DATABASE_URL" in warned[0], warned
        assert "tries again in" in warned[0]

        retries = threading.Thread(target=embedded.keep_trying, args=(0.05,), daemon=True)
        retries.start()
        wait_for(lambda: embedded.state is WorkerState.running, "the worker to start on a retry")
        retries.join(30)
        assert embedded.worker is not None and embedded.worker.alive
        assert _sidebar_warnings() == []
    finally:
        embedded.stop()
        embedded_worker.begin()  # no state left for the next test's pages
    assert embedded.worker is not None and not embedded.worker.alive


def test_a_wrong_setting_is_not_retried(app_services, monkeypatch):  # noqa: F811
    """Test that an invalid setting fails the start for good (the pages say "Framewise cannot
    start" and name it), with no retry."""
    embedded = embedded_worker.begin()
    monkeypatch.setenv("FRAMEWISE_EMBEDDED_WORKER", "1")
    monkeypatch.setenv("FRAMEWISE_DB_IDLE_SECONDS", "-5")
    try:
        assert embedded.try_start() is True
        assert embedded.state is WorkerState.failed
        assert "FRAMEWISE_DB_IDLE_SECONDS" in embedded.reason
        embedded.keep_trying(0.05)  # returns at once: nothing to retry
        assert embedded.worker is None
    finally:
        embedded.stop()
        embedded_worker.begin()


def test_every_page_run_wakes_a_resting_worker(app_services):  # noqa: F811
    """Test that app.py marks each signed-in page run as a sign of life for the idle watch."""
    clock = [100.0]
    embedded = embedded_worker.begin()
    embedded.idle = IdleWatch(300.0, clock=lambda: clock[0])
    clock[0] += 1000.0
    try:
        assert embedded.idle.quiet_due()
        _sidebar_warnings()
        assert not embedded.idle.quiet_due() and embedded.idle.idle_for() == 0.0
    finally:
        embedded_worker.begin()
