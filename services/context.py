"""Open the configured database and storage once, for the app, the CLI and the worker."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from services.config import Settings
from services.db import make_engine
from services.migrations import upgrade_schema
from services.storage.base import BlobStore
from services.storage.factory import make_blob_store


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    store: BlobStore


def open_services(settings: Settings) -> Services:
    """Engine with the schema upgraded to the latest revision, and the blob store; errors name
    the setting at fault."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade_schema(engine)
    if settings.uses_azure_storage:
        from services.storage.azure import AzureBlobStore  # the SDK only when it is used

        # The SDK's default retries need about 90 s to give up on storage that cannot be reached:
        # check it once with no retries first, so a wrong setting fails within seconds.
        AzureBlobStore.from_settings(
            settings, retry_total=0, connection_timeout=5, read_timeout=10
        )
    store = make_blob_store(settings)
    return Services(settings=settings, engine=engine, store=store)
