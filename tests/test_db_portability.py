"""The schema as SQL Server would receive it (DDL compiled for the mssql dialect, no server): no
unbounded key column, DATETIME2 timestamps, NVARCHAR human text, BIGINT row ids; and no
dialect-specific SQL anywhere in services/. Each checker is also shown to catch what it looks for.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import mssql
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

from services import db
from services.models import Analysis

SERVICES = Path(db.__file__).resolve().parent


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
    # The question analyser's: keys checked to [a-z0-9_], the answer type, and the service's
    # own model name, region and request id.
    "key", "type", "question_key", "model", "region", "request_id",
    # Shots, reviews and plans: enum words, a blob key, and JSON of numbers (sa.Text: VARCHAR(max)
    # on a SQL Server the dialect has met, TEXT only in this offline compile).
    "transition", "keyframe_key", "verdict", "action", "sampling_plan",
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
