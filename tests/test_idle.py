"""An idle server goes quiet so a serverless database can pause (services/analysis/idle.py).

The worker rests after `idle_s` with nothing running and no page visited: it claims nothing and
the pool holds no connection; a visit (touch) wakes it, a recheck looks once for work queued
elsewhere. Watched here through the engine's own pool events on a real SQLite database; work is
queued through a second engine, as another machine's `cli.py analyze --no-wait` would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from services.analysis import jobs
from services.analysis.idle import IdleWatch
from services.analysis.worker import Worker
from services.context import Services
from services.db import make_engine
from services.models import Status
from services.upload.ingest import ingest_video
from tests.fixtures.apptest import app_services as app_services  # noqa: F401  (fixture)
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import video_factory as video_factory  # noqa: F401  (fixture)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0


def test_the_watch_is_due_after_idle_seconds_of_no_sign_of_life():
    """Test that quiet is due only after idle_s without a touch, and never when idle_s is 0."""
    clock = Clock()
    watch = IdleWatch(300.0, clock=lambda: clock.now)
    clock.now += 299.0
    assert not watch.quiet_due()
    clock.now += 1.0
    assert watch.quiet_due()
    watch.touch()
    assert not watch.quiet_due() and watch.idle_for() == 0.0
    clock.now += 10_000.0
    assert not IdleWatch(0.0, clock=lambda: clock.now).quiet_due()


def test_a_rest_ends_at_a_visit_and_closes_the_connections_first():
    """Test that rest() closes the pool, blocks until a touch and reports the visit."""
    clock = Clock()
    watch = IdleWatch(1.0, clock=lambda: clock.now)
    clock.now += 1.0
    closed: list[int] = []
    ended: list[bool] = []
    resting = threading.Thread(target=lambda: ended.append(
        watch.rest(lambda: False, lambda: closed.append(1))))
    resting.start()
    wait_for(lambda: closed, "the pool to be closed")
    assert resting.is_alive()
    watch.touch()
    resting.join(30)
    assert ended == [True] and watch.rests == 1


def test_a_visit_just_before_the_rest_is_not_lost():
    """Test that a touch between the caller's look and rest() keeps the worker awake."""
    clock = Clock()
    watch = IdleWatch(1.0, clock=lambda: clock.now)
    clock.now += 5.0
    assert watch.quiet_due()
    watch.touch()
    closed: list[int] = []
    assert watch.rest(lambda: False, lambda: closed.append(1)) is True
    assert closed == [] and watch.rests == 0


@pytest.fixture
def watched(app_services) -> Iterator[tuple[Services, dict[str, int]]]:  # noqa: F811
    """The services, and counts of the connections their engine opened and checked out."""
    counts = {"connect": 0, "checkout": 0}
    for event in counts:
        sa.event.listen(app_services.engine, event,
                        lambda *_, e=event: counts.__setitem__(e, counts[e] + 1))
    yield app_services, counts


def _queue_from_elsewhere(services: Services, path) -> str:
    """Queue an analysis through an engine of its own: the worker's pool sees nothing of it."""
    other = make_engine(services.settings.database_url)
    try:
        with path.open("rb") as stream:
            video = ingest_video(other, services.store, stream, filename=path.name,
                                 uploaded_by="local")
        return jobs.queue_analysis(other, video_id=video.id, analyzer="local", created_by="local",
                                   sample_fps=1.0, max_frames=None, frames_planned=2).id
    finally:
        other.dispose()


def _status(services: Services, analysis_id: str) -> Status | None:
    analysis = jobs.get_analysis(services.engine, analysis_id)
    return analysis.status if analysis else None


def test_an_idle_worker_holds_no_connection_until_a_page_visit_wakes_it(watched, video_factory):  # noqa: F811
    """Test that a resting worker opens no connection and claims nothing (through two closes of
    the pool), and that a visit wakes it to run what was queued meanwhile."""
    services, counts = watched
    idle = IdleWatch(0.3)
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    poll_s=0.05, idle=idle)
    worker.start()
    try:
        wait_for(lambda: idle.rests == 1, "the worker to rest")
        pool = services.engine.pool
        wait_for(lambda: services.engine.pool is not pool, "the pool closed during the rest")
        assert services.engine.pool.checkedin() == 0
        analysis_id = _queue_from_elsewhere(services, video_factory(seconds=2))
        before = dict(counts)
        # The rest closes the pool again every idle_s: twice more, and still no connection.
        for _ in range(2):
            pool = services.engine.pool
            wait_for(lambda p=pool: services.engine.pool is not p, "another close of the pool")
        assert counts == before and services.engine.pool.checkedin() == 0
        assert _status(services, analysis_id) is Status.queued

        idle.touch()  # what app.py does on every page run
        wait_for(lambda: _status(services, analysis_id) is Status.succeeded,
                 "the woken worker to run the analysis queued elsewhere", timeout=60)
        assert counts["checkout"] > before["checkout"]
        wait_for(lambda: idle.rests == 2, "the worker to rest again once idle")
    finally:
        worker.stop()
    assert not worker.alive


def test_a_resting_worker_looks_for_work_queued_elsewhere_at_the_recheck(watched, video_factory):  # noqa: F811
    """Test that with a recheck the rest ends by itself and finds what another machine queued."""
    services, _ = watched
    idle = IdleWatch(0.3, recheck_s=1.0)
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    poll_s=0.05, idle=idle)
    worker.start()
    try:
        wait_for(lambda: idle.rests >= 1, "the worker to rest")
        analysis_id = _queue_from_elsewhere(services, video_factory(seconds=2))
        wait_for(lambda: _status(services, analysis_id) is Status.succeeded,
                 "the recheck to find and run the analysis", timeout=60)
    finally:
        worker.stop()


def test_stopping_a_resting_worker_ends_its_rest_at_once(watched):
    """Test that stop() ends a rest whose next look is an hour away without waiting for it."""
    services, _ = watched
    clock = Clock()
    idle = IdleWatch(3600.0, clock=lambda: clock.now)
    clock.now += 3600.0
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    idle=idle)
    worker.start()
    wait_for(lambda: idle.rests == 1, "the worker to rest")
    worker.stop(timeout=30)
    assert not worker.alive
