"""Database layer on real SQLite and PostgreSQL, plus the Azure SQL parts that need no server."""

from __future__ import annotations

import inspect
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyodbc
import pytest
import sqlalchemy as sa
from azure.core.credentials import AccessToken
from sqlalchemy.dialects import mssql
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, StatementError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import Session, SQLModel, func, select

from services import db
from services.db import (
    AZURE_SQL_SCOPE,
    DatabaseUnavailable,
    is_transient,
    make_engine,
    session_scope,
    with_retry,
)
from services.migrations import upgrade_schema
from services.models import Analysis, Frame, Video

SERVICES = Path(db.__file__).resolve().parent
AZURE_URL = "mssql+pyodbc://@srv.database.windows.net/db?driver=ODBC+Driver+18+for+SQL+Server"
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


# ---------------------------------------------------------------- helpers


def _video(**kw) -> Video:
    values = dict(
        original_filename="clip.mp4",
        blob_key=f"videos/{time.monotonic_ns()}.mp4",
        size_bytes=1234,
        sha256="a" * 64,
        duration_s=2.0,
        fps=25.0,
        width=640,
        height=360,
        codec="h264",
        uploaded_by="tester@example.com",
    )
    values.update(kw)
    return Video(**values)


def _analysis(engine) -> str:
    with session_scope(engine) as s:
        video = _video()
        s.add(video)
        s.flush()
        analysis = Analysis(video_id=video.id, analyzer="local", created_by="tester@example.com")
        s.add(analysis)
        s.flush()
        return analysis.id


def _frame(analysis_id: str, index: int) -> Frame:
    return Frame(
        analysis_id=analysis_id, frame_index=index, timestamp_s=index / 25.0, width=640, height=360
    )


def _wrapped(orig: BaseException, cls=OperationalError) -> DBAPIError:
    return cls("SELECT 1", {}, orig)


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
    analysis_id = _analysis(engine)
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
    analysis_id = _analysis(engine)
    with session_scope(engine) as s:
        s.add(_frame(analysis_id, 0))
    with pytest.raises(IntegrityError):
        with session_scope(engine) as s:
            s.add(_frame(analysis_id, 0))
    with session_scope(engine) as s:  # the pair is unique, not the analysis alone
        s.add(_frame(analysis_id, 1))
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
        video = _video(uploaded_at=uploaded)
        s.add(video)
        s.flush()
        analysis = Analysis(
            video_id=video.id, analyzer="local", created_by="t", lease_expires_at=lease
        )
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
            s.add(_video(uploaded_at=datetime(2024, 1, 1, 12, 0)))


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
    """Test that a second writer waits for a held SQLite write lock rather than erroring."""
    path = tmp_path / "fw.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    holder = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    order: list[str] = []

    def release() -> None:
        order.append("released")
        holder.execute("COMMIT")

    threading.Timer(0.3, release).start()  # the writer below is blocked on the lock until then
    try:
        with session_scope(engine) as s:
            s.add(_video())
        order.append("written")
        assert order == ["released", "written"]
    finally:
        holder.close()
        engine.dispose()


# ---------------------------------------------------------------- retries


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
                s.add(_video())
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
        s.add(video := _video())
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
        s.add(first := _video())
        s.add(second := _video())
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
            s.add(_video(sha256="f" * 65))

    with pytest.raises(DBAPIError, match="too long"):
        with_retry(insert, base_delay=0.001)
    assert len(calls) == 1


# ---------------------------------------------------------------- SQL Server DDL portability

UNBOUNDED = re.compile(r"\(\s*max\s*\)|^N?TEXT$|^IMAGE$|^XML$", re.IGNORECASE)
NAME = r"(\[[^\]]+\]|\"[^\"]+\"|\w+)"
KEY_CLAUSE = r"(?:CONSTRAINT\s+\S+\s+)?(?:PRIMARY KEY|UNIQUE)\b[^(]*\(([^)]*)\)"


def _names(text: str) -> list[str]:
    return [n.strip().strip('[]"') for n in text.split(",")]


def unbounded_key_columns(metadata: sa.MetaData) -> list[str]:
    """Columns of primary keys, unique constraints or indexes whose SQL Server type is unbounded.

    Works on the DDL the mssql dialect emits (CREATE TABLE and CREATE INDEX), i.e. what Azure SQL
    would be sent; SQL Server cannot use VARCHAR(max)/NVARCHAR(max)/TEXT in a key.
    """
    dialect = mssql.dialect()
    bad: list[str] = []
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        types: dict[str, str] = {}
        keyed: set[str] = set()
        for line in ddl.splitlines()[1:]:
            line = line.strip().rstrip(",")
            if not line or line == ")":
                continue
            key = re.match(KEY_CLAUSE, line)
            if key:
                keyed.update(_names(key.group(1)))
                continue
            if re.match(r"(?:CONSTRAINT\s+\S+\s+)?(?:FOREIGN KEY|CHECK)\b", line):
                continue
            column = re.match(NAME + r"\s+(\w+(?:\s*\([^)]*\))?)(.*)$", line)
            assert column, f"cannot read column definition {line!r} of\n{ddl}"
            name = column.group(1).strip('[]"')
            types[name] = column.group(2)
            if re.search(r"\bPRIMARY KEY\b|\bUNIQUE\b", column.group(3)):
                keyed.add(name)
        for index in table.indexes:
            idx = str(CreateIndex(index).compile(dialect=dialect))
            cols = re.search(r"\bON\s+\S+\s*\(([^)]*)\)", idx)
            assert cols, idx
            keyed.update(_names(cols.group(1)))
        for name in sorted(keyed):
            assert name in types, f"{table.name}.{name} not found in:\n{ddl}"
            if UNBOUNDED.search(types[name].strip()):
                bad.append(f"{table.name}.{name} {types[name]}")
    return bad


def test_no_key_or_indexed_column_is_unbounded_on_sql_server():
    """Test that every PK, unique and indexed column compiles to a bounded SQL Server type."""
    assert {"video", "analysis", "frame", "detection"} <= set(SQLModel.metadata.tables)
    assert unbounded_key_columns(SQLModel.metadata) == []


def test_the_ddl_checker_flags_unbounded_key_columns():
    """Test that the DDL checker catches indexed, unique and primary-key text without a length."""
    md = sa.MetaData()
    sa.Table(
        "bad",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(), index=True),
        sa.Column("note", sa.Text),  # unbounded but not a key: allowed
        sa.Column("ok", sa.String(50), index=True),
    )
    sa.Table(
        "worse",
        md,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("email", sa.Unicode(), unique=True),
        sa.Column("a", sa.String(20)),
        sa.Column("b", sa.UnicodeText),
        sa.UniqueConstraint("a", "b", name="uq_worse_ab"),
    )
    flagged = {entry.split()[0] for entry in unbounded_key_columns(md)}
    assert flagged == {"bad.name", "worse.key", "worse.email", "worse.b"}


def test_timestamps_use_datetime2_on_sql_server():
    """Test that UTC timestamps compile to DATETIME2 on SQL Server (DATETIME rounds to 3 ms)."""
    ddl = str(CreateTable(Analysis.__table__).compile(dialect=mssql.dialect()))
    assert re.search(r"created_at DATETIME2\b", ddl), ddl
    assert re.search(r"lease_expires_at DATETIME2\b", ddl), ddl


# Columns of machine text (ids, keys, hashes, codes) that may stay VARCHAR; any other string
# column is human text and must be NVARCHAR, or Azure SQL stores non-Latin text as '?'.
MACHINE_TEXT = {
    "id", "video_id", "analysis_id", "blob_key", "sha256", "codec", "status", "analyzer",
    "features", "lease_owner", "thumbnail_key", "raw_result_key", "kind",
}


def sql_server_text_and_id_problems(metadata: sa.MetaData) -> list[str]:
    """VARCHAR columns of human text, and integer row ids that are not BIGINT, in mssql DDL."""
    dialect = mssql.dialect()
    bad = []
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table).compile(dialect=dialect))
        for column in table.columns:
            line = re.search(rf"^\s*\[?{column.name}\]? (\w+)", ddl, re.MULTILINE)
            assert line, f"{table.name}.{column.name} not in\n{ddl}"
            kind = line.group(1).upper()
            if kind in ("VARCHAR", "TEXT", "CHAR") and column.name not in MACHINE_TEXT:
                bad.append(f"{table.name}.{column.name} {kind}")
            if column.primary_key and kind in ("INTEGER", "INT", "SMALLINT"):
                bad.append(f"{table.name}.{column.name} {kind} (32-bit row id)")
    return bad


def test_sql_server_ddl_has_nvarchar_text_and_bigint_row_ids():
    """Test that every human-text column compiles to NVARCHAR and every row id to BIGINT."""
    assert sql_server_text_and_id_problems(SQLModel.metadata) == []
    for table, column, width in (("video", "original_filename", 255), ("frame", "caption", 1000),
                                 ("detection", "label", 4000), ("analysis", "error_message", 2000)):
        ddl = str(CreateTable(SQLModel.metadata.tables[table]).compile(dialect=mssql.dialect()))
        assert f"{column} NVARCHAR({width})" in ddl
    for table in ("frame", "detection"):
        ddl = str(CreateTable(SQLModel.metadata.tables[table]).compile(dialect=mssql.dialect()))
        assert re.search(r"^\s*id BIGINT NOT NULL IDENTITY", ddl, re.MULTILINE), ddl


def test_the_sql_server_checker_flags_varchar_text_and_int_ids():
    """Test that the checker catches a VARCHAR caption and an INTEGER primary key."""
    md = sa.MetaData()
    sa.Table("t", md, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("caption", sa.String(100)), sa.Column("sha256", sa.String(64)),
             sa.Column("note", sa.Unicode(50)))
    assert sql_server_text_and_id_problems(md) == ["t.id INTEGER (32-bit row id)",
                                                   "t.caption VARCHAR"]


FORBIDDEN_SQL = (
    "ON CONFLICT",
    "INSERT OR",
    "OR IGNORE",
    "OR REPLACE",
    "PRAGMA",
    "MERGE ",
    "ON DUPLICATE KEY",
    "on_conflict_do",
    "RETURNING",
    "LIMIT ",
    "ILIKE",
)


def test_services_contain_no_dialect_specific_sql():
    """Test that services/ has no SQLite/PostgreSQL-only SQL outside db.py's SQLite pragma hook."""
    files = sorted(SERVICES.rglob("*.py"))
    assert SERVICES / "db.py" in files
    pragma_hook = inspect.getsource(db._sqlite_pragmas)
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.name == "db.py" and path.parent == SERVICES:
            assert pragma_hook in text
            text = text.replace(pragma_hook, "")
        for needle in FORBIDDEN_SQL:
            pattern = re.compile(r"(?<!\w)" + re.escape(needle))  # not DEFAULT_LIMIT = 50
            for lineno, line in enumerate(text.splitlines(), 1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(SERVICES.parent)}:{lineno}: {needle!r}")
    assert found == []


# ---------------------------------------------------------------- Azure SQL with Entra ID


class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out numbered tokens with a chosen lifetime."""

    def __init__(self, lifetime_s: float):
        self.lifetime_s = lifetime_s
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes, **_kw) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(f"tok-{len(self.scopes)}", int(time.time() + self.lifetime_s))


class Refused(Exception):
    """Raised by the fake pyodbc.connect so no real network connection is tried."""


@pytest.fixture
def odbc_calls(monkeypatch) -> list[tuple[tuple, dict]]:
    """Replace pyodbc.connect (the DBAPI edge) with a recorder that refuses the connection."""
    calls: list[tuple[tuple, dict]] = []

    def fake_connect(*cargs, **cparams):
        calls.append((cargs, cparams))
        raise Refused("no SQL Server here")

    monkeypatch.setattr(pyodbc, "connect", fake_connect)
    return calls


def _connect_once(engine) -> None:
    with pytest.raises(Refused):
        engine.connect()


def _token_of(cparams: dict) -> str:
    raw = cparams["attrs_before"][db.SQL_COPT_SS_ACCESS_TOKEN]
    (length,) = struct.unpack_from("<I", raw)
    assert length == len(raw) - 4
    return raw[4:].decode("utf-16-le")


def test_azure_sql_gets_an_entra_token_and_no_other_login(odbc_calls):
    """Test that a password-less mssql URL connects with attrs_before[1256] = the token struct."""
    credential = FakeCredential(lifetime_s=3600)
    engine = make_engine(AZURE_URL, credential_factory=lambda: credential)
    _connect_once(engine)
    ((cargs, cparams),) = odbc_calls
    token = "tok-1".encode("utf-16-le")
    assert cparams["attrs_before"][1256] == struct.pack("<I", len(token)) + token
    conn_str = cargs[0]
    assert "Server=srv.database.windows.net" in conn_str and "Database=db" in conn_str
    for forbidden in ("trusted_connection", "uid=", "pwd=", "authentication"):
        assert forbidden not in conn_str.lower()
    assert credential.scopes == [(AZURE_SQL_SCOPE,)]
    assert AZURE_SQL_SCOPE == "https://database.windows.net/.default"


def test_azure_sql_token_with_a_username_drops_the_uid(odbc_calls):
    """Test that a user name but no password still yields a token-only connection string."""
    engine = make_engine(
        AZURE_URL.replace("://@", "://app@"), credential_factory=lambda: FakeCredential(3600)
    )
    _connect_once(engine)
    ((cargs, cparams),) = odbc_calls
    assert _token_of(cparams) == "tok-1"
    assert "uid=" not in cargs[0].lower()


def test_azure_sql_token_is_cached_until_five_minutes_before_expiry(odbc_calls):
    """Test that the token is reused while valid for over 5 minutes and renewed when within 5."""
    long_lived = FakeCredential(lifetime_s=3600)
    engine = make_engine(AZURE_URL, credential_factory=lambda: long_lived)
    _connect_once(engine)
    _connect_once(engine)
    assert [_token_of(p) for _, p in odbc_calls] == ["tok-1", "tok-1"]
    assert len(long_lived.scopes) == 1

    # 6.5 minutes left: still outside the renewal margin, so cached.
    odbc_calls.clear()
    six_minutes = FakeCredential(lifetime_s=390)
    engine = make_engine(AZURE_URL, credential_factory=lambda: six_minutes)
    _connect_once(engine)
    _connect_once(engine)
    assert [_token_of(p) for _, p in odbc_calls] == ["tok-1", "tok-1"]

    # 4 minutes left: every new connection asks for a fresh token.
    odbc_calls.clear()
    short_lived = FakeCredential(lifetime_s=240)
    engine = make_engine(AZURE_URL, credential_factory=lambda: short_lived)
    _connect_once(engine)
    _connect_once(engine)
    assert [_token_of(p) for _, p in odbc_calls] == ["tok-1", "tok-2"]
    assert short_lived.scopes == [(AZURE_SQL_SCOPE,)] * 2


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (AZURE_URL.replace("://@", "://app:s3cret@"), "PWD=s3cret"),
        (AZURE_URL + "&Authentication=ActiveDirectoryMsi", "Authentication=ActiveDirectoryMsi"),
    ],
    ids=["password", "driver-authentication"],
)
def test_azure_sql_with_its_own_login_gets_no_token_hook(odbc_calls, url, expected):
    """Test that an mssql URL with a password or Authentication= never gets an Entra token."""
    asked = []
    engine = make_engine(url, credential_factory=lambda: asked.append(1))
    assert len(engine.dialect.dispatch.do_connect) == 0
    _connect_once(engine)
    ((cargs, cparams),) = odbc_calls
    assert "attrs_before" not in cparams
    assert expected in cargs[0]
    assert asked == []


def test_make_engine_rejects_a_garbage_url():
    """Test that an unparsable URL raises DatabaseUnavailable naming DATABASE_URL."""
    for url in ("garbage", "postgresql://u:hunter2@h:notaport/db", "nosuchdb://x/y"):
        with pytest.raises(DatabaseUnavailable, match="DATABASE_URL") as caught:
            make_engine(url)
        assert "hunter2" not in str(caught.value)


def test_upgrade_schema_on_an_unreachable_server_names_database_url():
    """Test that a closed port gives a one-line DatabaseUnavailable without the password."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        engine = make_engine(f"postgresql+psycopg2://fw:hunter2secret@127.0.0.1:{port}/fw")
        with pytest.raises(DatabaseUnavailable) as caught:
            upgrade_schema(engine)
    message = str(caught.value)
    assert "DATABASE_URL" in message
    assert "\n" not in message
    assert "hunter2secret" not in message
    engine.dispose()
