"""The database layer on real SQLite and PostgreSQL: the schema and its keys, timestamps that
come back aware and exact, and the SQLite settings (WAL, a busy timeout, a writer that waits).

Retries and transient errors: test_db_retry.py; the DDL sent to SQL Server and dialect-free SQL:
test_db_portability.py; Azure SQL's Entra ID token and unreachable servers: test_db_connect.py.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError
from sqlmodel import Session, func, select

from services import db
from services.db import make_engine, session_scope
from services.migrations import upgrade_schema
from services.models import Analysis, Frame, Video
from tests.fixtures.factories import add_analysis, analysis_row, frame_row, video_row
from tests.fixtures.locks import wait_until_asleep

SERVICES = Path(db.__file__).resolve().parent


# ---------------------------------------------------------------- schema and constraints


def test_upgrade_schema_makes_every_table_and_the_frame_unique_key(engine):
    """Test that upgrade_schema builds all four tables, the (analysis, frame) key, and reruns."""
    assert upgrade_schema(engine)[1] == upgrade_schema(engine)[0]  # every start: harmless
    insp = sa.inspect(engine)
    assert {"video", "analysis", "frame", "detection"} <= set(insp.get_table_names())
    uniques = [tuple(u["column_names"]) for u in insp.get_unique_constraints("frame")]
    assert ("analysis_id", "frame_index") in uniques
    indexed = {tuple(i["column_names"]) for i in insp.get_indexes("detection")}
    assert ("analysis_id", "frame_index") in indexed


def test_database_url_reaches_the_same_fresh_database_from_a_subprocess(engine, database_url):
    """Test that database_url opens, in another process, the tables the engine fixture made."""
    analysis_id = add_analysis(engine)
    script = (
        "import sys; from sqlmodel import Session, select; from services.db import make_engine;"
        "from services.models import Analysis;"
        "s = Session(make_engine(sys.argv[1]));"
        "print(','.join(a.id for a in s.exec(select(Analysis))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, database_url],
        cwd=SERVICES.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.strip() == analysis_id
    if engine.dialect.name == "postgresql":  # a private schema, not the shared public one
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT current_schema()").scalar().startswith("fw_")
        assert "analysis" not in sa.inspect(engine).get_table_names(schema="public")


def test_a_second_frame_with_the_same_index_is_refused(engine):
    """Test that a duplicate (analysis_id, frame_index) raises IntegrityError and adds no row."""
    analysis_id = add_analysis(engine)
    with session_scope(engine) as s:
        s.add(frame_row(analysis_id, 0))
    with pytest.raises(IntegrityError):
        with session_scope(engine) as s:
            s.add(frame_row(analysis_id, 0))
    with session_scope(engine) as s:  # the pair is unique, not the analysis alone
        s.add(frame_row(analysis_id, 1))
    with Session(engine) as s:
        count = s.exec(
            select(func.count())
            .select_from(Frame)
            .where(Frame.analysis_id == analysis_id, Frame.frame_index == 0)
        ).one()
        total = s.exec(select(func.count()).select_from(Frame)).one()
    assert (count, total) == (1, 2)


def test_timestamps_come_back_aware_utc_and_exact(engine):
    """Test that stored datetimes return as tz-aware UTC equal to the instant that was written."""
    uploaded = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    lease = datetime(2024, 5, 6, 9, 30, 0, 654321, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(engine) as s:
        video = video_row(uploaded_at=uploaded)
        s.add(video)
        s.flush()
        analysis = analysis_row(video.id, lease_expires_at=lease)
        s.add(analysis)
        ids = video.id, analysis.id
    with Session(engine) as s:  # a new session: values come from the database, not the identity map
        got_video = s.get(Video, ids[0])
        got_analysis = s.get(Analysis, ids[1])
        assert got_video.uploaded_at == uploaded
        assert got_video.uploaded_at.utcoffset() == timedelta(0)
        assert got_analysis.lease_expires_at == lease
        assert got_analysis.lease_expires_at.tzinfo is UTC
        assert got_analysis.lease_expires_at.hour == 7
        assert got_analysis.created_at.tzinfo is UTC
        # Comparisons in SQL use UTC too: the lease written at 07:30Z is after 07:00Z.
        after = s.exec(
            select(Analysis.id).where(
                Analysis.lease_expires_at > datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
            )
        ).all()
        assert after == [ids[1]]


def test_a_naive_datetime_is_refused(engine):
    """Test that writing a naive datetime fails instead of silently storing local time."""
    with pytest.raises(StatementError, match="naive datetime"):
        with session_scope(engine) as s:
            s.add(video_row(uploaded_at=datetime(2024, 1, 1, 12, 0)))


# ---------------------------------------------------------------- SQLite settings


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    """Test that make_engine's SQLite connections use WAL, a busy timeout and foreign keys."""
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'fw.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
    assert (tmp_path / "nested" / "fw.db").exists()


def test_sqlite_writer_waits_for_a_lock_instead_of_failing(tmp_path):
    """Test that a second writer waits for a held SQLite write lock rather than erroring.

    The lock is released only once the writer has started its INSERT (SQLite's trace callback on
    its connection says so) and is seen asleep in the busy handler (tests/fixtures/locks.py).
    """
    path = tmp_path / "fw.db"
    engine = make_engine(f"sqlite:///{path}")
    inserting = threading.Event()

    @sa.event.listens_for(engine, "connect")
    def _trace(dbapi_conn, _record) -> None:
        dbapi_conn.set_trace_callback(
            lambda sql: sql.lstrip().upper().startswith("INSERT INTO VIDEO") and inserting.set())

    upgrade_schema(engine)
    holder = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    native: list[int] = []
    outcome: list = []

    def write() -> None:
        native.append(threading.get_native_id())
        try:
            with session_scope(engine) as s:
                s.add(video_row())
            outcome.append("written")
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        assert inserting.wait(30), "the writer never began its INSERT"
        wait_until_asleep(writer, native[0])
        assert outcome == []  # still waiting: neither written nor refused while the lock is held
    finally:
        holder.execute("COMMIT")
        writer.join(30)
        holder.close()
    try:
        assert outcome == ["written"]
        with Session(engine) as s:
            assert s.exec(select(func.count()).select_from(Video)).one() == 1
    finally:
        engine.dispose()
