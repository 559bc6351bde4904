"""Open the configured database and storage once, for the app, the CLI and the worker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from services.config import Settings
from services.db import create_schema, make_engine
from services.storage import BlobStore, make_blob_store


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    store: BlobStore


def open_services(settings: Settings) -> Services:
    """Engine with the schema created, and the blob store; errors name the setting at fault."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    create_schema(engine)
    store = make_blob_store(settings)
    return Services(settings=settings, engine=engine, store=store)
