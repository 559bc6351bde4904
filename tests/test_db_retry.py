"""Which database errors are transient and how with_retry treats them: real SQLite locks and
PostgreSQL serialization failures, deadlocks and too-long values, plus SQL Server's error numbers
as pyodbc reports them."""

from __future__ import annotations

import sqlite3
import threading

import pyodbc
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import Session, func, select

from services.db import is_transient, make_engine, session_scope, with_retry
from services.migrations import upgrade_schema
from services.models import Video
from tests.fixtures.factories import video_row

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _wrapped(orig: BaseException, cls=OperationalError) -> DBAPIError:
    """A DBAPI error as SQLAlchemy raises it around the driver's."""
    return cls("SELECT 1", {}, orig)


def test_with_retry_retries_a_locked_database_then_succeeds():
    """Test that with_retry re-runs a function failing with 'database is locked' until it works."""
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise _wrapped(sqlite3.OperationalError("database is locked"))
        return "done"

    assert with_retry(flaky, base_delay=0.001) == "done"
    assert len(calls) == 3


def test_with_retry_gives_up_after_the_last_attempt():
    """Test that with_retry re-raises the transient error once its attempts are used up."""
    calls = []

    def always_locked():
        calls.append(1)
        raise _wrapped(sqlite3.OperationalError("database is locked"))

    with pytest.raises(OperationalError, match="database is locked"):
        with_retry(always_locked, attempts=4, base_delay=0.001)
    assert len(calls) == 4


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(sqlite3.OperationalError("no such table: frame")),
        _wrapped(sqlite3.IntegrityError("UNIQUE constraint failed"), IntegrityError),
        ValueError("not a database error"),
    ],
    ids=["no-such-table", "integrity", "not-dbapi"],
)
def test_with_retry_does_not_retry_a_permanent_error(error):
    """Test that with_retry raises a non-transient error at once, after a single call."""
    calls = []

    def broken():
        calls.append(1)
        raise error

    with pytest.raises(type(error)):
        with_retry(broken, base_delay=0.001)
    assert len(calls) == 1


def test_with_retry_outlasts_a_real_sqlite_lock(tmp_path):
    """Test that with_retry turns a real 'database is locked' into success once the lock goes."""
    path = tmp_path / "fw.db"
    setup = make_engine(f"sqlite:///{path}")
    upgrade_schema(setup)
    setup.dispose()
    impatient = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    holder = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    errors: list[BaseException] = []

    def write():
        try:
            with Session(impatient) as s:
                s.add(video_row())
                s.commit()
        except DBAPIError as exc:
            errors.append(exc)
            if len(errors) == 1:
                threading.Timer(0.05, holder.execute, args=("COMMIT",)).start()
            raise

    try:
        with_retry(write, base_delay=0.1)
        with Session(impatient) as s:
            assert s.exec(select(func.count()).select_from(Video)).one() == 1
    finally:
        holder.close()
        impatient.dispose()
    assert errors and "database is locked" in str(errors[0])
    assert is_transient(errors[0])


@pytest.mark.parametrize(
    "message",
    [
        "[08S01] [Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: An existing connection "
        "was forcibly closed by the remote host.\r\n (10054) (SQLExecDirectW)",
        "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Database 'fw' on server "
        "'srv' is not currently available.  Please retry the connection later. (40613) "
        "(SQLDriverConnect)",
        "[HY000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Resource ID : 1. The "
        "request limit for the database is 60 and has been reached. (10928) (SQLExecDirectW)",
        "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot open database "
        '"fw" requested by the login. The login failed. (4060) (SQLDriverConnect)',
        "[40001] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Transaction (Process ID "
        "52) was chosen as the victim. Rerun the transaction. (1205) (SQLExecDirectW)",
    ],
    ids=["10054", "40613", "10928", "4060", "1205"],
)
def test_is_transient_recognises_sql_server_error_numbers(message):
    """Test that pyodbc errors carrying a transient SQL Server error number are retryable."""
    state = message[1:6]
    assert is_transient(_wrapped(pyodbc.OperationalError(state, message)))
    assert is_transient(_wrapped(pyodbc.Error(message)))


@pytest.mark.parametrize(
    "message",
    [
        "[23000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Violation of UNIQUE KEY "
        "constraint 'UQ_frame'. Cannot insert duplicate key in object 'dbo.frame'. (2627) "
        "(SQLExecDirectW)",
        "[42S02] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Invalid object name "
        "'frame'. (208) (SQLExecDirectW)",
    ],
    ids=["2627", "208"],
)
def test_is_transient_rejects_permanent_sql_server_errors(message):
    """Test that pyodbc errors with a permanent SQL Server error number are not retryable."""
    assert not is_transient(_wrapped(pyodbc.IntegrityError(message[1:6], message)))


def test_is_transient_ignores_type_lengths_that_look_like_error_numbers():
    """Test that 'character varying(64)' in a data error is not read as SQL Server error 64."""
    err = _wrapped(sqlite3.DataError("value too long for type character varying(64)\n"))
    assert not is_transient(err)


@postgres_only
def test_postgres_serialization_failure_is_transient(engine):
    """Test that a real PostgreSQL 40001 serialization failure is classed as transient."""
    with session_scope(engine) as s:
        s.add(video := video_row())
    video_table = Video.__table__
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as a:
        a.execute(sa.select(video_table.c.size_bytes))  # snapshot taken
        with engine.begin() as b:
            b.execute(sa.update(video_table).values(size_bytes=2))
        with pytest.raises(OperationalError) as caught:
            a.execute(
                sa.update(video_table).where(video_table.c.id == video.id).values(size_bytes=3)
            )
        a.rollback()
    assert caught.value.orig.pgcode == "40001"
    assert is_transient(caught.value)


@postgres_only
def test_postgres_deadlock_is_transient(engine):
    """Test that a real PostgreSQL 40P01 deadlock is classed as transient."""
    with session_scope(engine) as s:
        s.add(first := video_row())
        s.add(second := video_row())
    table = Video.__table__
    barrier = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []

    def worker(mine: str, theirs: str) -> None:
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("SET LOCAL deadlock_timeout = '100ms'")
                conn.execute(sa.update(table).where(table.c.id == mine).values(width=1))
                barrier.wait()
                conn.execute(sa.update(table).where(table.c.id == theirs).values(width=2))
        except DBAPIError as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=pair)
        for pair in ((first.id, second.id), (second.id, first.id))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(errors) == 1
    assert errors[0].orig.pgcode == "40P01"
    assert is_transient(errors[0])


@postgres_only
def test_postgres_value_too_long_is_not_transient(engine):
    """Test that a real 'value too long for varchar(64)' error is raised at once, not retried."""
    calls = []

    def insert():
        calls.append(1)
        with session_scope(engine) as s:
            s.add(video_row(sha256="f" * 65))

    with pytest.raises(DBAPIError, match="too long"):
        with_retry(insert, base_delay=0.001)
    assert len(calls) == 1


RESUMING = ("[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Database 'fw' on server "
            "'srv' is not currently available.  Please retry the connection later. (40613) "
            "(SQLDriverConnect)")
THROTTLED = ("[HY000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Resource ID : 1. The "
             "request limit for the database is 60 and has been reached. (10928) "
             "(SQLExecDirectW)")


class _Clock:
    """A clock that only moves when with_retry sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _failing_until(message: str, ready_at: float, clock: _Clock):
    def connect():
        if clock.now < ready_at:
            raise _wrapped(pyodbc.OperationalError(message[1:6], message))
        return "connected"
    return connect


def test_a_database_resuming_from_pause_is_waited_for_a_minute_and_more():
    """Test that 40613 (resuming from auto-pause, about a minute) is retried past `attempts`
    until the database answers, and given up only after the patience."""
    clock = _Clock()
    assert with_retry(_failing_until(RESUMING, 75.0, clock), sleep=clock.sleep,
                      clock=lambda: clock.now) == "connected"
    assert clock.now >= 75.0

    clock = _Clock()
    with pytest.raises(OperationalError, match="40613"):
        with_retry(_failing_until(RESUMING, 10_000.0, clock), patience_s=120.0,
                   sleep=clock.sleep, clock=lambda: clock.now)
    assert 120.0 <= clock.now < 130.0


def test_other_transient_errors_keep_their_number_of_attempts():
    """Test that a throttled database is retried `attempts` times, not for the resume patience."""
    clock = _Clock()
    with pytest.raises(OperationalError, match="10928"):
        with_retry(_failing_until(THROTTLED, 10_000.0, clock), attempts=4, sleep=clock.sleep,
                   clock=lambda: clock.now)
    assert clock.now < 5.0
