"""Alembic migrations (versions/): bring a database to the latest revision at every start.

`upgrade_schema` runs in the app, the workers and `cli.py db upgrade`; several processes starting
at once take turns behind one database-wide lock, and the later ones find nothing left to do.
A database made by the first release (tables, no alembic_version) is stamped at revision 0001,
its schema, and upgraded from there.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from services.db import DatabaseUnavailable, database_error, unavailable, with_retry

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
FIRST_RELEASE = "0001"  # the schema commit cff90de made with create_all
LOCK_NAME = "framewise-schema-upgrade"
LOCK_TIMEOUT_S = 600


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without alembic.ini, so it works from any working directory."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty (or first-release) database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the database to `revision`; returns (revision before, revision after).

    Raises DatabaseUnavailable (naming DATABASE_URL) when the database cannot be reached, and
    DatabaseError (one line, no SQL) when it refuses a statement.
    """
    def run() -> tuple[str | None, str | None]:
        with schema_lock(engine) as conn:
            config = alembic_config(conn)
            before = MigrationContext.configure(conn).get_current_revision()
            if before is None and _made_by_first_release(conn):
                command.stamp(config, FIRST_RELEASE)
            command.upgrade(config, revision)
            after = MigrationContext.configure(conn).get_current_revision()
        if after != before:
            log.debug("database schema upgraded from %s to %s", before or "nothing", after)
        return before, after

    try:
        return with_retry(run)
    except DBAPIError as exc:
        if isinstance(exc, sa.exc.OperationalError) or exc.connection_invalidated:
            raise unavailable(exc, engine) from None
        raise database_error(exc, "upgrading the database schema") from exc


def _made_by_first_release(conn: Connection) -> bool:
    tables = set(sa.inspect(conn).get_table_names())
    return {"video", "analysis", "frame", "detection"} <= tables


@contextmanager
def schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the database-wide schema lock; commits on exit.

    PostgreSQL: a transaction-scoped advisory lock; SQL Server: sp_getapplock owned by the
    transaction; SQLite: BEGIN EXCLUSIVE (the whole file). Either way the lock goes with the
    transaction, also when the process dies.
    """
    with engine.connect() as conn:
        dialect = conn.dialect.name
        if dialect == "sqlite":
            # pysqlite would commit around DDL itself: run the transaction by hand instead.
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        elif dialect == "postgresql":
            key = zlib.crc32(LOCK_NAME.encode())  # advisory locks are keyed by a number
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        elif dialect == "mssql":
            granted = conn.execute(
                sa.text(
                    "DECLARE @r int; EXEC @r = sp_getapplock @Resource = :name, "
                    "@LockMode = 'Exclusive', @LockOwner = 'Transaction', @LockTimeout = :ms; "
                    "SELECT @r"
                ),
                {"name": LOCK_NAME, "ms": LOCK_TIMEOUT_S * 1000},
            ).scalar()
            if granted is None or granted < 0:
                raise DatabaseUnavailable(
                    f"setting DATABASE_URL: another process held the schema lock for over "
                    f"{LOCK_TIMEOUT_S} s"
                )
        try:
            yield conn
        except BaseException:
            if dialect == "sqlite":
                with suppress(DBAPIError):  # SQLite may have rolled back already
                    conn.exec_driver_sql("ROLLBACK")
            conn.rollback()
            raise
        if dialect == "sqlite":
            conn.exec_driver_sql("COMMIT")
        conn.commit()
