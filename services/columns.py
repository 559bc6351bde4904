"""Column types and fields every table uses: aware UTC times, Unicode human text cut to its
column, row ids, generated ids (services/models.py and services/review/models.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.mssql import DATETIME2
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field

from services.questions import MAX_KEY


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """Stores naive UTC everywhere (SQLite keeps no offset) and hands back aware UTC values."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        # SQL Server's DATETIME rounds to 1/300 s; DATETIME2 keeps microseconds like the others.
        if dialect.name == "mssql":
            return dialect.type_descriptor(DATETIME2(precision=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class HumanText(TypeDecorator):
    """Unicode text of at most `length` characters: longer text is cut to fit, never refused.

    SQL Server counts NVARCHAR length in UTF-16 code units (an emoji takes two), the others in
    characters; NUL and lone surrogates, which PostgreSQL and the drivers refuse, are dropped.
    """

    impl = sa.Unicode
    cache_ok = True

    def __init__(self, length: int):
        super().__init__(length)
        self.length = length

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return fit_text(str(value), self.length, utf16=dialect.name == "mssql")


def fit_text(text: str, length: int, *, utf16: bool = False) -> str:
    """`text` without NUL or lone surrogates, cut to `length` characters (or UTF-16 units)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. half of an emoji from a JSON escape
        text = text.encode("utf-8", "replace").decode("utf-8")
    if not utf16 or len(text) * 2 <= length:
        return text[:length]
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > length:
            return text[:i]
    return text


# Row ids of the big tables: BIGINT (SQLite only autoincrements a column typed INTEGER).
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def id_field(**kw) -> str:
    return Field(default_factory=new_id, sa_type=sa.String(32), primary_key=True, **kw)


def time_field(nullable: bool = True, **kw) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, **kw)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, **kw)


KEY_TYPE = sa.String(MAX_KEY)  # a question's key
