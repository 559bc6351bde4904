"""Errors the services expect are logged at WARNING and survived; any other error is a bug and
reaches the caller, not turned into "interrupted", -1 or a line at DEBUG.

Each case drives one catch site with the error it is there for (a database or storage outage,
a dropped connection) and with a TypeError standing in for a bug.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa
from azure.core.exceptions import ServiceRequestError
from sqlalchemy.exc import OperationalError
from starlette.requests import ClientDisconnect

from services.analysis import jobs, pipeline
from services.analysis.pipeline import AnalysisRun
from services.analysis.worker import Worker
from services.storage import azure as azure_store
from services.storage.local import LocalBlobStore
from services.upload.stream import BodyReader, UploadInterrupted


def _outage() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("database is locked"))


def _warnings(caplog, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == logging.WARNING]


# -- the run's cancel watcher ------------------------------------------------------------------


@pytest.fixture
def run(monkeypatch) -> AnalysisRun:
    """A run whose watcher looks every 10 ms; nothing else of it is used."""
    monkeypatch.setattr(pipeline, "WATCH_EVERY_S", 0.01)
    return AnalysisRun("analysis-1", "w", engine=None, store=None,  # type: ignore[arg-type]
                       settings=None)  # type: ignore[arg-type]


def test_the_watcher_rides_out_a_database_outage_with_one_warning(run, monkeypatch, caplog):
    """Test that database errors while watching for a cancel are logged once at WARNING (not
    at each look) and the watch goes on until it sees the cancel."""
    answers = iter([_outage(), _outage(), _outage(), False])

    def still_ours(*_args):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(jobs, "still_ours", still_ours)
    with caplog.at_level(logging.WARNING):
        run._watch(threading.Event())
    assert run.stop.is_set()
    assert len(_warnings(caplog, "services.analysis.pipeline")) == 1


def test_a_bug_in_the_watcher_is_raised(run, monkeypatch):
    """Test that an error that is no database error ends the watch with itself."""
    ended = threading.Event()

    def still_ours(*_args):
        ended.set()  # a watch that swallowed the error would end quietly after it
        raise TypeError("a bug")

    monkeypatch.setattr(jobs, "still_ours", still_ours)
    with pytest.raises(TypeError):
        run._watch(ended)


# -- the worker's housekeeping and claims -----------------------------------------------------


class SweepFails:
    """A store whose temp sweep raises `error`; nothing else of it is used."""

    def __init__(self, error: Exception):
        self.error = error

    def sweep_temp(self, older_than_s: float) -> int:
        raise self.error


def _worker(settings, engine=None, store=None) -> Worker:
    engine = engine if engine is not None else sa.create_engine("sqlite://")
    store = store if store is not None else LocalBlobStore(settings.data_dir / "blobs")
    return Worker(engine=engine, store=store, settings=settings, poll_s=0.01)


def test_purge_without_its_table_is_a_warning_and_minus_one(settings, caplog):
    """Test that a database the purge cannot read (here: no tables at all) gives -1 and a
    WARNING from the worker."""
    with caplog.at_level(logging.WARNING):
        assert _worker(settings).purge_blobs() == -1
    assert _warnings(caplog, "services.analysis.worker")


def test_a_bug_in_the_purge_is_raised(settings, monkeypatch):
    """Test that an error that is no database error is not turned into -1."""
    def purge_blobs(*_args):
        raise TypeError("a bug")

    monkeypatch.setattr("services.analysis.worker.purge_blobs", purge_blobs)
    with pytest.raises(TypeError):
        _worker(settings).purge_blobs()


def test_an_unreadable_temp_folder_is_a_warning(settings, caplog):
    """Test that an OSError in the temp sweep is logged at WARNING and frees nothing."""
    worker = _worker(settings, store=SweepFails(PermissionError(13, "Permission denied")))
    with caplog.at_level(logging.WARNING):
        assert worker.sweep_temp() == 0
    assert _warnings(caplog, "services.analysis.worker")


def test_a_bug_in_the_temp_sweep_is_raised(settings):
    worker = _worker(settings, store=SweepFails(TypeError("a bug")))
    with pytest.raises(TypeError):
        worker.sweep_temp()


def test_the_loop_waits_out_a_database_outage_and_raises_a_bug(settings, monkeypatch, caplog):
    """Test that a claim failing with a database error is a WARNING and the loop goes on, and
    that a claim failing with a bug ends the loop with that error."""
    stop = threading.Event()
    claims: list[str] = []

    def outage(*_args, **_kwargs):
        claims.append("outage")
        stop.set()  # ends the loop's wait after this round
        raise _outage()

    monkeypatch.setattr(jobs, "claim", outage)
    monkeypatch.setattr(Worker, "purge_blobs", lambda self: 0)
    with caplog.at_level(logging.WARNING):
        _worker(settings).run_forever(stop)
    assert claims == ["outage"]
    assert _warnings(caplog, "services.analysis.worker")

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
