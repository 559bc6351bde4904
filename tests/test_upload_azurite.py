"""What an aborted streamed write leaves in Azure Blob Storage (Azurite): nothing, not even the
uncommitted blocks it staged, whichever way it ends (over the limit, or the body breaking off).

Ingest deletes the key after any failure, and Azurite's Delete Blob happens to remove a blob made
of uncommitted blocks only; Azure documents only that a commit (or 7 days) discards them. So the
store must drop them itself: these tests call write_stream alone, with no delete after it.
"""

from __future__ import annotations

import io

import pytest
from azure.core.exceptions import ResourceNotFoundError

from services.storage.base import BlobTooLarge
from tests.fixtures.azurite import SMALL_CHUNK

DATA = bytes(range(256)) * (3 * SMALL_CHUNK // 256)  # three full blocks


class BrokenBody:
    """A body that breaks off after `good` bytes, as a dropped connection does."""

    def __init__(self, good: int):
        self._inner = io.BytesIO(DATA[:good])

    def read(self, n: int = -1) -> bytes:
        piece = self._inner.read(n)
        if not piece:
            raise ConnectionResetError("the client went away")
        return piece


def in_container(store) -> list[str]:
    """Every blob name in the container, those with uncommitted blocks only included."""
    return sorted(b.name for b in store.container.list_blobs(include=["uncommittedblobs"]))


ABORTS = {
    "over the limit": (lambda: io.BytesIO(DATA), 2 * SMALL_CHUNK + 1, BlobTooLarge),
    "body broken off": (lambda: BrokenBody(2 * SMALL_CHUNK + 100), None, ConnectionResetError),
}


@pytest.mark.parametrize("case", list(ABORTS))
def test_an_aborted_write_leaves_no_blob_and_no_uncommitted_block(azure_store, case):
    """Test that a write aborted after two staged blocks leaves the container empty."""
    body, max_bytes, error = ABORTS[case]
    with pytest.raises(error):
        azure_store.write_stream("videos/a.mp4", body(), max_bytes=max_bytes)
    assert in_container(azure_store) == []
    with pytest.raises(ResourceNotFoundError):
        azure_store.container.get_blob_client("videos/a.mp4").get_block_list("all")


def test_an_aborted_overwrite_leaves_the_earlier_blob_as_it_was(azure_store):
    """Test that dropping the staged blocks never replaces or deletes a blob already there."""
    azure_store.write_bytes("videos/a.mp4", b"old")
    blob = azure_store.container.get_blob_client("videos/a.mp4")
    before = blob.get_blob_properties()
    with pytest.raises(ConnectionResetError):
        azure_store.write_stream("videos/a.mp4", BrokenBody(2 * SMALL_CHUNK + 100))
    after = blob.get_blob_properties()
    assert azure_store.read_bytes("videos/a.mp4") == b"old"
    assert (after.etag, after.content_settings.content_type) == (before.etag, "video/mp4")
    assert in_container(azure_store) == ["videos/a.mp4"]
