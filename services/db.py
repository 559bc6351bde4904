"""Engine, sessions, the database clock, Azure SQL token auth and retries of transient errors.

Statements elsewhere are dialect-neutral SQLAlchemy, run as they are on SQLite, PostgreSQL and
Azure SQL. What differs per backend is here: db_now() compiles to each one's clock, SQLite
connections get their pragmas and a Unicode lower(), mssql gets fast_executemany and the Entra ID
token. The schema lock (services/migrations) and the timestamp and text column types
(services/columns.py) are per backend too.
"""

from __future__ import annotations

import logging
import random
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session

from services.credentials import default_credential
from services.models import UTCDateTime

log = logging.getLogger(__name__)
T = TypeVar("T")

SQL_COPT_SS_ACCESS_TOKEN = 1256  # pyodbc connection attribute for an Entra ID access token
AZURE_SQL_SCOPE = "https://database.windows.net/.default"
# Azure SQL error numbers worth another try (DESIGN.md), plus 1205 deadlock victim.
TRANSIENT_SQLSERVER = {
    40613, 40501, 40197, 10928, 10929, 49918, 49919, 49920, 4060, 233, 64, 20,
    10053, 10054, 10060, 1205,
}
TRANSIENT_SQLSTATE = {"40001", "40P01", "08006", "08001", "57P01", "57P03"}
# A serverless database resuming from auto-pause answers these for about a minute (DESIGN.md):
# retried for RESUME_PATIENCE_S, not a fixed number of attempts.
RESUMING_SQLSERVER = {40613}
RESUMING_SQLSTATE = {"57P03"}  # PostgreSQL: "the database system is starting up"
RESUME_PATIENCE_S = 150.0
TRANSIENT_TEXT = ("database is locked", "database is busy", "deadlock", "connection reset")
# pyodbc messages look like "[08S01] [Microsoft][ODBC Driver 18 ...]... (10054) (SQLExecDirectW)".
_ODBC_SQLSTATE = re.compile(r"\[[0-9A-Z]{5}\]")
# " (10054)", not the "(64)" of "varchar(64)" in a PostgreSQL or SQL Server data error.
_SQLSERVER_NUMBER = re.compile(r"(?<![\w(])\((\d{1,6})\)")
# Logins the ODBC driver refuses alongside an access token.
_TOKEN_CONFLICTS = ("trusted_connection", "uid", "pwd", "authentication", "integrated security")


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or its URL is unusable; message names DATABASE_URL."""


class DatabaseError(RuntimeError):
    """A statement failed: one line naming what was being done, never SQL, parameters or rows."""


# What each kind of failure means to a user; the driver's own message may quote row data.
_REASONS = (
    (IntegrityError, "the database refused the data (a constraint)"),
    (DataError, "a value does not fit its column"),
    (ProgrammingError, "the database refused the statement (permissions, or a schema older than "
                       "this release: run `python cli.py db upgrade`)"),
    (OperationalError, "the database is unreachable or busy"),
)


def database_error(exc: SQLAlchemyError, doing: str) -> DatabaseError:
    """A DatabaseError for `exc` met while `doing` (e.g. "storing frame 12"); names the
    driver's error class (e.g. UniqueViolation), never its message."""
    reason = next((text for cls, text in _REASONS if isinstance(exc, cls)), "the statement failed")
    orig = getattr(exc, "orig", None)
    kind = type(orig if orig is not None else exc).__name__
    return DatabaseError(f"database error while {doing}: {reason} ({kind})")


@contextmanager
def database_errors(doing: str) -> Iterator[None]:
    """Turn any SQLAlchemy error inside the block into a one-line DatabaseError."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise database_error(exc, doing) from exc


def is_transient(exc: BaseException) -> bool:
    """True when the error is worth retrying: throttling, failover, lock or deadlock."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if getattr(orig, "pgcode", None) in TRANSIENT_SQLSTATE:
        return True
    text = str(orig)
    if any(t in text.lower() for t in TRANSIENT_TEXT):
        return True
    return bool(_sqlserver_numbers(text) & TRANSIENT_SQLSERVER)


def _sqlserver_numbers(text: str) -> set[int]:
    if not _ODBC_SQLSTATE.search(text):
        return set()  # only pyodbc messages carry SQL Server error numbers
    return {int(n) for n in _SQLSERVER_NUMBER.findall(text)}


def is_resuming(exc: BaseException) -> bool:
    """True when the database is starting or resuming from pause: worth a minute of retries."""
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "pgcode", None) in RESUMING_SQLSTATE:
        return True
    return bool(_sqlserver_numbers(str(exc.orig)) & RESUMING_SQLSERVER)


def with_retry(fn: Callable[[], T], *, attempts: int = 6, base_delay: float = 0.1,
               patience_s: float = RESUME_PATIENCE_S,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> T:
    """Run fn, retrying transient database errors with exponential backoff and jitter: up to
    `attempts` tries, or for `patience_s` while the database says it is resuming."""
    started: float | None = None
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except DBAPIError as exc:
            if not is_transient(exc):
                raise
            started = clock() if started is None else started
            if is_resuming(exc):
                if clock() - started >= patience_s:
                    raise
            elif attempt >= attempts:
                raise
            delay = min(5.0, base_delay * 2 ** (attempt - 1)) * (0.5 + random.random())
            log.warning("transient database error, retry %d in %.2fs", attempt, delay)
            sleep(delay)


class AzureSqlToken:
    """Caches an Entra ID token for Azure SQL and renews it five minutes before it expires."""

    def __init__(self, credential, margin_s: float = 300.0):
        self._credential = credential
        self._margin = margin_s
        self._token: str | None = None
        self._expires_on = 0.0
        self._lock = threading.Lock()

    def struct(self) -> bytes:
        with self._lock:
            if self._token is None or time.time() > self._expires_on - self._margin:
                token = self._credential.get_token(AZURE_SQL_SCOPE)
                self._token, self._expires_on = token.token, float(token.expires_on)
            raw = self._token.encode("utf-16-le")
        return struct.pack(f"<I{len(raw)}s", len(raw), raw)


def _attach_azure_token(engine: Engine, credential) -> None:
    tokens = AzureSqlToken(credential)

    @sa.event.listens_for(engine, "do_connect")
    def _inject_token(dialect, conn_rec, cargs, cparams):
        # The token replaces every other login: drop what the dialect added for a URL with no
        # password (Trusted_Connection, or UID for a user name), which the driver would refuse.
        if cargs:
            cargs[0] = ";".join(
                p for p in cargs[0].split(";")
                if p.split("=", 1)[0].strip().lower() not in _TOKEN_CONFLICTS
            )
        attrs = dict(cparams.get("attrs_before") or {})
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = tokens.struct()
        cparams["attrs_before"] = attrs


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # SQLite's own lower() folds ASCII only; search lower-cases both sides, so a Cyrillic
        # or Greek word must fold here as Python (and SQL Server, PostgreSQL) fold it.
        dbapi_conn.create_function("lower", 1, _unicode_lower, deterministic=True)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the worker's writes
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()


def make_engine(url: str, *, credential_factory: Callable[[], object] | None = None) -> Engine:
    """Build an engine for DATABASE_URL.

    mssql with neither a password nor an Authentication= option authenticates with an Entra ID
    token (DefaultAzureCredential, or credential_factory's credential).
    """
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise DatabaseUnavailable("setting DATABASE_URL is not a valid database URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        _sqlite_pragmas(engine)
        return engine
    # pyodbc sends an executemany (the detections of a frame) as one batch, not row by row.
    options = {"fast_executemany": True} if backend == "mssql" else {}
    try:
        engine = sa.create_engine(url, pool_pre_ping=True, pool_recycle=1800, **options)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        raise DatabaseUnavailable(
            f"setting DATABASE_URL needs a driver that is not installed ({exc})"
        ) from None
    driver_auth = any(k.lower() == "authentication" for k in parsed.query)
    if backend == "mssql" and not parsed.password and not driver_auth:
        _attach_azure_token(engine, (credential_factory or default_credential)())
    return engine


def unavailable(exc: DBAPIError, engine: Engine) -> DatabaseUnavailable:
    """DatabaseUnavailable naming DATABASE_URL and the driver's first line (password masked)."""
    lines = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    reason = lines[0].strip() if lines else type(exc).__name__
    if engine.url.password:
        reason = reason.replace(str(engine.url.password), "***")
    return DatabaseUnavailable(f"setting DATABASE_URL: cannot open the database ({reason[:200]})")


class db_now(FunctionElement):
    """The database's clock in UTC, plus `seconds`: leases are compared against one clock.

    Compiled per backend into the same naive-UTC form UTCDateTime stores, so it compares with
    and can be stored into the timestamp columns.
    """

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds: float = 0.0):
        super().__init__(sa.literal(float(seconds), sa.Float()))


@compiles(db_now)
def _db_now_default(element, compiler, **kw):
    return f"(CURRENT_TIMESTAMP + {compiler.process(element.clauses, **kw)} * INTERVAL '1' SECOND)"


@compiles(db_now, "postgresql")
def _db_now_postgresql(element, compiler, **kw):
    seconds = compiler.process(element.clauses, **kw)
    return f"(timezone('UTC', statement_timestamp()) + {seconds} * INTERVAL '1 second')"


@compiles(db_now, "mssql")
def _db_now_mssql(element, compiler, **kw):
    # DATEADD takes whole units: milliseconds keep sub-second leases exact enough.
    seconds = compiler.process(element.clauses, **kw)
    return f"DATEADD(millisecond, CAST({seconds} * 1000 AS INT), SYSUTCDATETIME())"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element, compiler, **kw):
    # The text form SQLAlchemy stores SQLite datetimes in ('YYYY-MM-DD HH:MM:SS.fff' sorts and
    # parses alike); julianday arithmetic adds the seconds.
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', julianday('now') + {seconds} / 86400.0)"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
