"""The configured BlobStore: Azure Blob Storage when a connection string or account URL is set."""

from __future__ import annotations

from services.config import Settings
from services.storage.base import BlobStore
from services.storage.local import LocalBlobStore


def make_blob_store(settings: Settings) -> BlobStore:
    """The configured store: Azure when a connection string or account URL is set."""
    if settings.uses_azure_storage:
        from services.storage.azure import AzureBlobStore  # the SDK only when it is used

        return AzureBlobStore.from_settings(settings)
    return LocalBlobStore(settings.data_dir / "blobs")
