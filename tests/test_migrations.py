"""Alembic migrations on SQLite and PostgreSQL: models and revisions agree, the first release's
data folder upgrades in place, two processes starting at once, `cli.py db upgrade`, SQL Server DDL.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from services.analysis import jobs
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import open_services
from services.db import make_engine
from services.insights import exports
from services.library import list_analyses
from services.migrations import (
    FIRST_RELEASE,
    alembic_config,
    current_revision,
    head_revision,
    schema_lock,
    upgrade_schema,
)
from services.models import Status
from tests.fixtures.tools import ROOT, wait_for

FIRST = ROOT / "tests" / "fixtures" / "first_release"
TABLES = ("video", "analysis", "frame", "detection")
# Columns a later revision dropped (0004: counts are computed when read; the exports below show
# the first release's counts unchanged).
DROPPED = {"frame": {"people_count", "object_count"}}


def _diffs(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def test_models_and_migrations_agree(database_url):
    """Test that a database upgraded to head has exactly the models' schema, and 0001 does not."""
    engine = make_engine(database_url)
    try:
        assert upgrade_schema(engine, FIRST_RELEASE) == (None, FIRST_RELEASE)
        assert _diffs(engine), "comparing found nothing at 0001: the check would pass anything"
        assert upgrade_schema(engine) == (FIRST_RELEASE, head_revision())
        assert _diffs(engine) == []
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the first release's data


def _reflected(conn) -> dict:
    insp = sa.inspect(conn)
    out = {}
    for t in TABLES:
        out[t] = {
            "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                        for c in insp.get_columns(t)],
            "pk": insp.get_pk_constraint(t)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                           tuple(f["referred_columns"])) for f in insp.get_foreign_keys(t)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in insp.get_indexes(t)),
            "uniques": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(t)),
        }
    return out


def _statements(name: str) -> list[str]:
    text = (FIRST / name).read_text(encoding="utf-8")
    return [s.strip() for s in text.split(";\n") if s.strip()]


def _first_release_rows() -> dict[str, list[dict]]:
    return json.loads((FIRST / "rows.json").read_text(encoding="utf-8"))


def build_first_release(database_url: str) -> None:
    """The first release's tables (its create_all's DDL) holding the rows it wrote."""
    rows = _first_release_rows()
    if database_url.startswith("sqlite"):
        db = sqlite3.connect(sa.make_url(database_url).database)
        db.executescript(";\n".join(_statements("schema.sqlite.sql")) + ";")
        for table in TABLES:
            for row in rows[table]:
                db.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES "
                           f"({', '.join('?' * len(row))})", list(row.values()))
        db.commit()
        db.close()
        return
    raw = sa.create_engine(database_url, poolclass=sa.NullPool)
    with raw.begin() as conn:
        for statement in _statements("schema.postgresql.sql"):
            conn.exec_driver_sql(statement)
        meta = sa.MetaData()
        meta.reflect(conn)
        for table in TABLES:
            conn.execute(meta.tables[table].insert(),
                         [_typed(meta.tables[table], row) for row in rows[table]])
        for table in ("frame", "detection"):  # as if that release had inserted them itself
            conn.execute(sa.text(f"SELECT setval('{table}_id_seq', (SELECT MAX(id) FROM {table}))"))
    raw.dispose()


def _typed(table: sa.Table, row: dict) -> dict:
    """SQLite's stored text and 0/1 as the PostgreSQL columns' Python types."""
    out = {}
    for name, value in row.items():
        kind = table.c[name].type
        if value is not None and isinstance(kind, sa.DateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(kind, sa.Boolean):
            value = bool(value)
        out[name] = value
    return out


def _stored(conn, table: str) -> list[dict]:
    """Every row as the first release's rows.json spells values (naive ISO text, 0/1)."""
    result = conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))
    rows = []
    for row in result.mappings():
        out = {}
        for key, value in row.items():
            if isinstance(value, datetime):
                value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
            elif isinstance(value, bool):
                value = int(value)
            out[key] = value
        rows.append(out)
    return rows


def test_revision_0001_is_the_first_release_schema(database_url):
    """Test that revision 0001 builds exactly what the first release's create_all built."""
    build_first_release(database_url)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            first_release = _reflected(conn)
            if conn.dialect.name == "sqlite":
                made = sorted(sql for (sql,) in conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
            for table in reversed(TABLES):
                conn.execute(sa.text(f"DROP TABLE {table}"))
        assert upgrade_schema(engine, FIRST_RELEASE) == (None, FIRST_RELEASE)
        with engine.connect() as conn:
            assert _reflected(conn) == first_release
            if conn.dialect.name == "sqlite":  # the very CREATE statements, character for character
                again = sorted(sql for (sql,) in conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                    "AND name != 'alembic_version' AND name != 'alembic_version_pkc'"))
                assert again == made
    finally:
        engine.dispose()


def test_the_first_release_data_folder_upgrades_in_place(database_url, tmp_path):
    """Test that the first release's database upgrades with every row intact, lists and exports
    as that release did, and takes a new analysis."""
    build_first_release(database_url)
    data = tmp_path / "data"
    shutil.copytree(FIRST / "blobs", data / "blobs")
    settings = load_settings({"FRAMEWISE_DATA_DIR": str(data), "DATABASE_URL": database_url},
                             dotenv=None)
    services = open_services(settings)  # what the new release does at start
    engine = services.engine
    try:
        assert current_revision(engine) == head_revision()
        assert _diffs(engine) == []
        rows = _first_release_rows()
        with engine.connect() as conn:
            for table in TABLES:
                gone = DROPPED.get(table, set())
                then = [{k: v for k, v in r.items() if k not in gone}
                        for r in sorted(rows[table], key=lambda r: r["id"])]
                now = _stored(conn, table)
                assert all(not gone & row.keys() for row in now), table
                assert [{k: row[k] for k in old} for row, old in zip(now, then, strict=True)] \
                    == then, table
                # Columns added by later revisions are empty on the first release's rows.
                assert all(v is None for row, old in zip(now, then, strict=True)
                           for k, v in row.items() if k not in old), table

        listed = {a.id: (a.status, a.frames_done, a.frames_planned, a.analyzer,
                         v.original_filename) for a, v in list_analyses(engine)}
        names = {v["id"]: v["original_filename"] for v in rows["video"]}
        assert listed == {a["id"]: (a["status"], a["frames_done"], a["frames_planned"],
                                    a["analyzer"], names[a["video_id"]])
                          for a in rows["analysis"]}
        assert all("🎬" in name and "видео" in name for *_, name in listed.values())
        compared = {"frames": 0, "detections": 0}
        for aid in listed:
            # That release counted at FRAMEWISE_MIN_CONFIDENCE and exported every detection.
            analysis = jobs.get_analysis(engine, aid)
            made = {**exports.export_files(engine, analysis, settings.min_confidence, ("frames",)),
                    **exports.export_files(engine, analysis, 0.0, ("detections",))}
            for kind in ("frames", "detections"):
                then = pd.read_csv(FIRST / "exports" / f"{aid}-{kind}.csv", dtype=str,
                                   keep_default_na=False)
                now = pd.read_csv(io.BytesIO(made[kind]), dtype=str, keep_default_na=False)
                shared = [c for c in then.columns if c in now.columns]
                assert len(shared) >= len(then.columns) - 2, (kind, then.columns, now.columns)
                assert now[shared].equals(then[shared]), (aid, kind)
                compared[kind] += len(then)
        assert compared["frames"] == 8 and compared["detections"] > 10, compared

        old = rows["analysis"][0]
        new = jobs.queue_analysis(engine, video_id=old["video_id"], analyzer="local",
                                  created_by="after-upgrade", sample_fps=2, max_frames=None,
                                  frames_planned=4)
        worker = Worker(engine=engine, store=services.store, settings=settings)
        assert worker.run_one(new.id) == (new.id, Status.succeeded)
        assert jobs.get_analysis(engine, new.id).frames_done == 4
    finally:
        engine.dispose()


# ---------------------------------------------------------------- starting together


def _waiting_at_the_lock(database_url: str, procs: list[subprocess.Popen], engine) -> bool:
    """Whether every process has reached the database and waits there for the schema lock.

    PostgreSQL shows a backend waiting for an advisory lock (each connection carries the test's
    schema as application_name); SQLite's waiter is inside its busy handler, so the sign is the
    process holding the database file open while the lock is ours.
    """
    url = sa.make_url(database_url)
    if url.get_backend_name() == "postgresql":
        with engine.connect() as conn:
            waiting = conn.scalar(sa.text(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = :name "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"),
                {"name": url.query["application_name"]})
        return waiting == len(procs)
    db_file = str(Path(url.database or "").resolve())

    def has_open(pid: int) -> bool:
        fds = Path(f"/proc/{pid}/fd")
        try:
            return any(os.path.realpath(fd) == db_file for fd in fds.iterdir())
        except OSError:  # the process is gone, or an fd closed while we looked
            return False
    return all(has_open(p.pid) for p in procs)



def test_two_processes_upgrading_at_once_take_turns(database_url, tmp_path):
    """Test that two `cli.py db upgrade` started together, while the schema lock is held, wait
    for it and then one migrates while the other finds nothing left to do."""
    engine = make_engine(database_url)
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": database_url,
           "FRAMEWISE_DATA_DIR": str(tmp_path / "data")}
    procs: list[subprocess.Popen] = []
    released = threading.Event()
    try:
        with schema_lock(engine):
            for _ in range(2):
                procs.append(subprocess.Popen(
                    [sys.executable, str(ROOT / "cli.py"), "db", "upgrade"], env=env,
                    cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            def at_the_lock() -> bool:
                assert [p.poll() for p in procs] == [None, None], "an upgrade ran past the lock"
                return _waiting_at_the_lock(database_url, procs, engine)

            wait_for(at_the_lock, "both upgrades to wait at the schema lock")
            assert [p.poll() for p in procs] == [None, None], "an upgrade ran past the lock"
            released.set()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        engine.dispose()
    assert released.is_set()
    assert [p.returncode for p in procs] == [0, 0], outs
    results = sorted((json.loads(out.splitlines()[-1]) for out, _ in outs),
                     key=lambda r: r["from"] or "")
    assert results == [{"from": None, "to": head_revision()},
                       {"from": head_revision(), "to": head_revision()}]
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(sa.text("SELECT COUNT(*) FROM alembic_version")) == 1
        assert _diffs(engine) == []
    finally:
        engine.dispose()


# ---------------------------------------------------------------- SQL Server, rendered offline


def test_the_migrations_render_nvarchar_and_bigint_for_sql_server(tmp_path):
    """Test that the migrations render for mssql and turn the text NVARCHAR and the ids BIGINT."""
    config = alembic_config()
    config.set_main_option(
        "sqlalchemy.url", "mssql+pyodbc://@srv.database.windows.net/db?driver=ODBC+Driver+18")
    out = io.StringIO()
    config.output_buffer = out
    command.upgrade(config, "head", sql=True)
    sql = out.getvalue()
    for table, column in (("video", "original_filename"), ("video", "uploaded_by"),
                          ("analysis", "created_by"), ("analysis", "error_message"),
                          ("frame", "caption"), ("detection", "label")):
        assert f"ALTER TABLE {table} ALTER COLUMN {column} NVARCHAR(" in sql, (table, column)
    for table in ("frame", "detection"):
        assert f"ALTER TABLE {table} ALTER COLUMN id BIGINT NOT NULL" in sql
        assert f"ADD CONSTRAINT pk_{table} PRIMARY KEY (id)" in sql
    assert "CREATE TABLE pending_blob_delete (\n    id BIGINT" in sql
    for column in DROPPED["frame"]:
        assert f"ALTER TABLE frame DROP COLUMN {column};" in sql
