"""Alembic environment: the app's own models, settings and engine (services.db.make_engine, so
Azure SQL's Entra ID token applies).

services.migrations.upgrade_schema passes its locked connection in config.attributes; the
`alembic` command line (alembic.ini at the repository root) opens DATABASE_URL itself.
"""

from typing import Any

from alembic import context
from sqlmodel import SQLModel

from services import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from services.config import load_settings
from services.db import make_engine

config = context.config
OPTIONS: dict[str, Any] = dict(target_metadata=SQLModel.metadata, render_as_batch=True,
                               compare_type=True)


def run_offline() -> None:
    """`alembic upgrade --sql`: the DDL as text, for the dialect of sqlalchemy.url."""
    url = config.get_main_option("sqlalchemy.url") or load_settings().database_url
    context.configure(url=url, literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(load_settings().database_url)
    try:
        with engine.connect() as conn:
            context.configure(connection=conn, **OPTIONS)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
