"""Errors the services expect are logged at WARNING and survived; any other error is a bug and
reaches the caller, not turned into "interrupted", -1 or a line at DEBUG.

Each case drives one catch site with the error it is there for. The worker's and the watcher's
are made at the edge: a PostgreSQL outage behind a loopback gate (tests/fixtures/tcp_gate.py), a
database without its tables, a folder tree deeper than the OS can name; their bug is a corrupt
row the code cannot read, or, where no edge makes one (said in the test), a stand-in raising a
TypeError. The upload body and the Azure block drop are still driven by stand-ins.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from azure.core.exceptions import ServiceRequestError
from sqlalchemy.engine import Engine, make_url
from starlette.requests import ClientDisconnect

from services.analysis import jobs
from services.analysis.pipeline import AnalysisRun
from services.analysis.worker import Worker
from services.db import make_engine, session_scope
from services.models import Analysis, PendingBlobDelete, Status
from services.storage import azure as azure_store
from services.storage.local import LocalBlobStore
from services.upload.stream import BodyReader, UploadInterrupted
from tests.fixtures.factories import add_analysis
from tests.fixtures.tcp_gate import TcpGate
from tests.fixtures.tools import wait_for

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _warnings(caplog, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


@pytest.fixture
def gated(engine, database_url) -> Iterator[tuple[Engine, TcpGate]]:
    """An engine on the test's database through a TcpGate (open): gate.down() is an outage."""
    gate = TcpGate()
    url = make_url(database_url)
    gate.open(url.host or "127.0.0.1", url.port or 5432)
    through = make_engine(url.set(port=gate.port).render_as_string(False))
    yield through, gate
    through.dispose()
    gate.close()


class Ends:
    """Runs `target` in a thread and keeps the error it ended with."""

    def __init__(self, target, *args):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(target, *args), daemon=True)
        self.thread.start()

    def _run(self, target, *args) -> None:
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001  (kept for the test to look at)
            self.error = exc

    def alive(self) -> bool:
        if not self.thread.is_alive():
            pytest.fail(f"ended early: {self.error!r}")
        return True


# -- the run's cancel watcher ------------------------------------------------------------------


@postgres_only
def test_the_watcher_rides_out_a_database_outage_with_one_warning(engine, gated, caplog):
    """Test that a database outage while watching for a cancel is logged once at WARNING (not
    at each look) and the watch goes on until it sees the cancel."""
    through, gate = gated
    analysis = add_analysis(engine, status=Status.running, lease_owner="w")
    run = AnalysisRun(analysis, "w", engine=through, store=None,  # type: ignore[arg-type]
                      settings=None, watch_every_s=0.01)  # type: ignore[arg-type]
    ended = threading.Event()
    with caplog.at_level(logging.WARNING):
        watch = Ends(run._watch, ended)
        try:
            gate.down()
            # Each failed look opens one refused connection (two at most): several looks failed.
            wait_for(lambda: watch.alive() and gate.refused >= 6, "looks during the outage")
            assert jobs.cancel(engine, analysis)
            gate.up()
            wait_for(run.stop.is_set, "the watcher to see the cancel")
            watch.thread.join(10)
        finally:
            ended.set()
    assert watch.error is None and not watch.thread.is_alive()
    assert len(_warnings(caplog, "services.analysis.pipeline")) == 1


def _corrupt_status(engine: Engine, analysis_id: str) -> None:
    """A status this release does not know (a newer one wrote it, or a hand edit)."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {Analysis.__tablename__} SET status = 'paused' "
                             "WHERE id = :id"), {"id": analysis_id})


def test_a_bug_in_the_watcher_is_raised(engine, caplog):
    """Test that an error that is no database error (a row it cannot read) ends the watch with
    itself."""
    analysis = add_analysis(engine, status=Status.running, lease_owner="w")
    _corrupt_status(engine, analysis)
    run = AnalysisRun(analysis, "w", engine=engine, store=None,  # type: ignore[arg-type]
                      settings=None, watch_every_s=0.01)  # type: ignore[arg-type]
    ended = threading.Event()
    with caplog.at_level(logging.WARNING):
        watch = Ends(run._watch, ended)
        try:
            # A watch that swallowed the error would warn and go on looking.
            wait_for(lambda: not watch.thread.is_alive() or caplog.records, "the watch to end")
        finally:
            ended.set()
            watch.thread.join(10)
    assert isinstance(watch.error, LookupError), watch.error


# -- the worker's housekeeping and claims -----------------------------------------------------


class SweepFails:
    """A store whose temp sweep raises `error`; nothing else of it is used."""

    def __init__(self, error: Exception):
        self.error = error

    def sweep_temp(self, older_than_s: float) -> int:
        raise self.error


def _worker(settings, engine=None, store=None, **options) -> Worker:
    engine = engine if engine is not None else sa.create_engine("sqlite://")
    store = store if store is not None else LocalBlobStore(settings.data_dir / "blobs")
    return Worker(engine=engine, store=store, settings=settings, poll_s=0.01, **options)


def test_purge_without_its_table_is_a_warning_and_minus_one(settings, caplog):
    """Test that a database the purge cannot read (here: no tables at all) gives -1 and a
    WARNING from the worker."""
    with caplog.at_level(logging.WARNING):
        assert _worker(settings).purge_blobs() == -1
    assert _warnings(caplog, "services.analysis.worker")


def test_a_bug_in_the_purge_is_raised(settings, engine):
    """Test that an error that is no database error (a pending delete whose key no store
    accepts, a corrupt row) is not turned into -1."""
    with session_scope(engine) as session:
        session.add(PendingBlobDelete(blob_key="../outside"))
    with pytest.raises(ValueError):
        _worker(settings, engine).purge_blobs()


def _too_deep(root) -> None:
    """A folder tree under root whose paths are longer than the OS can name (PATH_MAX)."""
    root.mkdir(parents=True)
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 x 250 characters: past Linux's 4096
            os.mkdir("d" * 250, dir_fd=fd)
            deeper = os.open("d" * 250, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = deeper
    finally:
        os.close(fd)


def test_an_unreadable_temp_folder_is_a_warning(settings, caplog):
    """Test that an OSError in the temp sweep (a folder it cannot walk: ENAMETOOLONG) is
    logged at WARNING and frees nothing."""
    store = LocalBlobStore(settings.data_dir / "blobs")
    _too_deep(store.root / "videos")
    with caplog.at_level(logging.WARNING):
        assert _worker(settings, store=store).sweep_temp() == 0
    assert _warnings(caplog, "services.analysis.worker")


def test_a_bug_in_the_temp_sweep_is_raised(settings):
    # No edge makes the sweep raise anything but OSError: pathlib's walk and sweep_files meet
    # the filesystem only through OSError. So a stand-in store raises the bug.
    worker = _worker(settings, store=SweepFails(TypeError("a bug")))
    with pytest.raises(TypeError):
        worker.sweep_temp()


@postgres_only
def test_the_loop_waits_out_a_database_outage(settings, engine, gated, caplog):
    """Test that claims failing in a database outage are WARNINGs and the loop goes on: it
    claims the waiting analysis once the database answers again."""
    through, gate = gated
    analysis = add_analysis(engine)  # of a video without a blob: its run fails, the claim counts
    claimed: list[str] = []
    worker = _worker(settings, through, on_event=lambda e: claimed.append(e.analysis_id),
                     outage_wait_s=0.01)
    stop = threading.Event()
    gate.down()
    with caplog.at_level(logging.WARNING):
        loop = Ends(worker.run_forever, stop)
        try:
            # The purge's failed read, then at least two failed claims: the loop went round.
            wait_for(lambda: loop.alive() and len(_warnings(caplog, "services.analysis.worker"))
                     >= 3, "claims during the outage")
            gate.up()
            wait_for(lambda: loop.alive() and claimed, "the claim after the outage")
        finally:
            stop.set()
            loop.thread.join(30)
    assert loop.error is None and not loop.thread.is_alive()
    assert claimed[0] == analysis


def test_a_bug_in_a_claim_ends_the_loop(settings, monkeypatch):
    """Test that a claim failing with a bug ends the loop with that error."""
    # No edge makes a claim raise anything but a database error: it reads ids (plain strings)
    # and writes, so there is no row it could fail to read. So a stand-in claim raises the bug.
    stop = threading.Event()

    def bug(*_args, **_kwargs):
        stop.set()  # a loop that swallowed the error would end quietly after it
        raise TypeError("a bug")

    monkeypatch.setattr(jobs, "claim", bug)
    with pytest.raises(TypeError):
        _worker(settings).run_forever(stop)


# -- the upload body --------------------------------------------------------------------------


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in a thread, as the server's: the reader is called from another thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def _body(error: Exception) -> AsyncIterator[bytes]:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise error

    return chunks()


def test_a_client_that_leaves_interrupts_the_upload(loop):
    """Test that Starlette's ClientDisconnect mid-body is an interrupted upload."""
    reader = BodyReader(_body(ClientDisconnect()), loop, stall_s=5)
    with pytest.raises(UploadInterrupted):
        reader.read()


def test_a_bug_while_reading_the_body_is_not_an_interruption(loop):
    reader = BodyReader(_body(TypeError("a bug")), loop, stall_s=5)
    with pytest.raises(TypeError):
        reader.read()


# -- dropping an aborted write's blocks -------------------------------------------------------


class Blob:
    """A blob client whose commit raises `error`."""

    blob_name = "videos/x.mp4"

    def __init__(self, error: Exception):
        self.error = error

    def commit_block_list(self, *_args, **_kwargs):
        raise self.error


def test_blocks_left_by_an_outage_are_a_warning(caplog):
    """Test that storage unreachable while the staged blocks are dropped is a WARNING: the
    caller still sees the error that aborted the write."""
    with caplog.at_level(logging.WARNING):
        azure_store._drop_staged(Blob(ServiceRequestError("no route")))  # type: ignore[arg-type]
    assert _warnings(caplog, "services.storage.azure")


def test_a_bug_while_dropping_blocks_is_raised():
    with pytest.raises(TypeError):
        azure_store._drop_staged(Blob(TypeError("a bug")))  # type: ignore[arg-type]
