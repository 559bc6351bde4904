"""AzureBlobStore: the BlobStore protocol on an Azure Blob Storage container.

Same semantics as LocalBlobStore (missing blob -> FileNotFoundError, bad key -> ValueError,
failed write leaves nothing). Outages and refused credentials become StorageError naming the
setting to check, never carrying the account key.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import urlparse

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    UserDelegationKey,
    generate_blob_sas,
)

from services.config import Settings
from services.credentials import default_credential
from services.storage.base import (
    CHUNK,
    BlobTooLarge,
    Readable,
    StorageError,
    check_key,
    delete_listed,
)

log = logging.getLogger(__name__)

CONN_SETTING = "AZURE_STORAGE_CONNECTION_STRING"
URL_SETTING = "AZURE_STORAGE_ACCOUNT_URL"
CONTAINER_SETTING = "AZURE_STORAGE_CONTAINER"
_CONTAINER_RE = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")
_SAS_SKEW = timedelta(minutes=5)  # browsers and Azure clocks differ a little
FFMPEG_SAS_MINUTES = 60  # one ffmpeg reads for at most this long (a fresh URL per ffmpeg)


class AzureBlobStore:
    """Blobs in one container; uploads are staged block by block, never held whole in memory."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        chunk_size: int = CHUNK,
        setting: str | None = None,
        service: BlobServiceClient | None = None,
    ):
        self.container = container
        self.chunk_size = chunk_size
        shared_key = hasattr(container.credential, "account_key")
        self.setting = setting or (CONN_SETTING if shared_key else URL_SETTING)
        self._service = service
        self._delegation_key: tuple[UserDelegationKey, datetime] | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        credential_factory: Callable[[], TokenCredential] = default_credential,
        **client_options,
    ) -> AzureBlobStore:
        """Connect with the connection string, else the account URL and an Entra ID credential."""
        name = settings.storage_container
        if not _CONTAINER_RE.match(name):
            raise StorageError(f"{CONTAINER_SETTING}={name!r} is not a valid container name")
        if settings.storage_connection_string:
            log.info("Azure Blob Storage from %s, container %s", CONN_SETTING, name)
            try:
                service = BlobServiceClient.from_connection_string(
                    settings.storage_connection_string, **client_options
                )
            except ValueError:
                # The parser's message may quote the string; say only which setting is wrong.
                raise StorageError(f"{CONN_SETTING} is not a valid connection string") from None
            setting = CONN_SETTING
        else:
            url = settings.storage_account_url or ""
            log.info("Azure Blob Storage at %s with Entra ID, container %s", url, name)
            if urlparse(url).scheme != "https":
                raise StorageError(f"{URL_SETTING} must be an https URL to use an Entra ID token")
            service = BlobServiceClient(url, credential=credential_factory(), **client_options)
            setting = URL_SETTING
        store = cls(service.get_container_client(name), setting=setting, service=service)
        store.ensure_container()
        return store

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Turn SDK errors into FileNotFoundError (missing blob) or a one-line StorageError."""
        try:
            yield
        except ResourceNotFoundError as exc:
            if getattr(exc, "error_code", None) == "ContainerNotFound" or key is None:
                raise StorageError(
                    f"container {self.container.container_name!r} not found; "
                    f"check {CONTAINER_SETTING}"
                ) from exc
            raise FileNotFoundError(key) from exc
        except ClientAuthenticationError as exc:  # also azure-identity's failures
            raise StorageError(
                f"Azure Blob Storage refused the credentials ({_code(exc)}); check {self.setting}"
            ) from exc
        except HttpResponseError as exc:
            hint = " (needs Storage Blob Data Contributor)" if exc.status_code == 403 else ""
            raise StorageError(
                f"Azure Blob Storage answered {exc.status_code} {_code(exc)}{hint}; "
                f"check {self.setting}"
            ) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            host = urlparse(self.container.url).netloc
            raise StorageError(
                f"could not reach Azure Blob Storage at {host} ({type(exc).__name__}); "
                f"check {self.setting}"
            ) from exc

    def ensure_container(self) -> None:
        """Create the container when it is missing; an existing one is fine."""
        with self._errors():
            try:
                self.container.create_container()
                log.info("created container %s", self.container.container_name)
            except ResourceExistsError:
                pass

    def write_stream(self, key: str, stream: Readable, *, max_bytes: int | None = None) -> int:
        blob = self.container.get_blob_client(check_key(key))
        prefix = uuid.uuid4().hex  # a fresh id per upload, so a concurrent upload cannot mix in
        blocks: list[str] = []
        total = 0
        with self._errors():
            try:
                while chunk := _read_full(stream, self.chunk_size):
                    total += len(chunk)
                    if max_bytes is not None and total > max_bytes:
                        raise BlobTooLarge(f"larger than {max_bytes} bytes")
                    block_id = f"{prefix}{len(blocks):08d}"  # equal lengths; SDK base64-encodes
                    blob.stage_block(block_id, chunk, length=len(chunk))
                    blocks.append(block_id)
                    del chunk  # drop the reference before reading the next block
                if blocks:
                    committed = [BlobBlock(block_id) for block_id in blocks]
                    blob.commit_block_list(committed, content_settings=_content(key))
                else:
                    blob.upload_blob(b"", overwrite=True, content_settings=_content(key))
            except BaseException:
                if blocks:
                    _drop_staged(blob)
                raise
        return total

    def write_bytes(self, key: str, data: bytes) -> None:
        blob = self.container.get_blob_client(check_key(key))
        with self._errors():
            blob.upload_blob(data, overwrite=True, content_settings=_content(key))

    def read_bytes(self, key: str) -> bytes:
        blob = self.container.get_blob_client(check_key(key))
        with self._errors(key):
            return blob.download_blob().readall()

    def open_read(self, key: str) -> BinaryIO:
        blob = self.container.get_blob_client(check_key(key))
        with self._errors(key):
            props = blob.get_blob_properties()
        raw = _BlobReader(self, blob, key, props.size, props.etag)
        return io.BufferedReader(raw, buffer_size=self.chunk_size)

    def ffmpeg_input(self, key: str) -> str:
        """A read-only SAS URL of the blob, valid FFMPEG_SAS_MINUTES: ffmpeg reads it in place.

        ffmpeg asks for byte ranges (the header, then the frames it decodes), so nothing of the
        video lands on the local disk. Callers ask again for each ffmpeg they start, so a long
        analysis never meets an expired signature. A missing blob is FileNotFoundError, as in
        the local store.
        """
        if not self.exists(key):
            raise FileNotFoundError(key)
        return self._sas_url(key, FFMPEG_SAS_MINUTES)

    def sweep_temp(self, older_than_s: float) -> int:
        return 0  # nothing local; a killed process's staged blocks Azure drops after 7 days

    def exists(self, key: str) -> bool:
        blob = self.container.get_blob_client(check_key(key))
        with self._errors():
            return blob.exists()

    def size(self, key: str) -> int:
        blob = self.container.get_blob_client(check_key(key))
        with self._errors(key):
            return blob.get_blob_properties().size

    def delete(self, key: str) -> None:
        blob = self.container.get_blob_client(check_key(key))
        with self._errors():
            try:
                blob.delete_blob()
            except ResourceNotFoundError as exc:
                if getattr(exc, "error_code", None) == "ContainerNotFound":
                    raise
                # a missing blob is not an error, as in LocalBlobStore

    def delete_prefix(self, prefix: str) -> int:
        return delete_listed(self, prefix)

    def list(self, prefix: str = "") -> list[str]:
        if prefix:
            check_key(prefix)  # refuse '..' and friends, as keys are refused
        with self._errors():
            return sorted(self.container.list_blob_names(name_starts_with=prefix or None))

    def url_for_playback(self, key: str, expires_minutes: int = 60) -> str | None:
        """A read-only SAS URL so the browser streams the video straight from Blob Storage."""
        return self._sas_url(key, expires_minutes)

    def _sas_url(self, key: str, expires_minutes: int) -> str:
        """A read-only SAS of one blob: account key with a connection string, else a user
        delegation key (Entra ID, the managed identity)."""
        blob = self.container.get_blob_client(check_key(key))
        now = datetime.now(UTC)
        expiry = now + timedelta(minutes=expires_minutes)
        sas_args: dict[str, Any] = dict(
            account_name=self.container.account_name,
            container_name=self.container.container_name,
            blob_name=key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
            start=now - _SAS_SKEW,
        )
        credential = self.container.credential
        if hasattr(credential, "account_key"):
            sas = generate_blob_sas(account_key=credential.account_key, **sas_args)
        else:
            udk = self._user_delegation_key(expiry)
            sas = generate_blob_sas(user_delegation_key=udk, **sas_args)
        return f"{blob.url}?{sas}"

    def _user_delegation_key(self, until: datetime):
        """A user delegation key valid until `until`, reused across URLs (one request per hour)."""
        if self._delegation_key is not None and self._delegation_key[1] >= until:
            return self._delegation_key[0]
        if self._service is None:
            account_url = self.container.url.rsplit("/", 1)[0]
            self._service = BlobServiceClient(account_url, credential=self.container.credential)
        now = datetime.now(UTC)
        key_expiry = min(until + timedelta(hours=1), now + timedelta(days=7))  # service max: 7 days
        with self._errors():
            key = self._service.get_user_delegation_key(now - _SAS_SKEW, key_expiry)
        self._delegation_key = (key, key_expiry)
        return key


class _BlobReader(io.RawIOBase):
    """Seekable reads over ranged downloads, pinned to the blob version that was opened."""

    def __init__(self, store: AzureBlobStore, blob, key: str, size: int, etag: str):
        self._store, self._blob, self._key = store, blob, key
        self._size, self._etag, self._pos = size, etag, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        length = min(len(buffer), self._size - self._pos)
        if length <= 0:
            return 0
        with self._store._errors(self._key):
            data = self._blob.download_blob(
                offset=self._pos,
                length=length,
                etag=self._etag,
                match_condition=MatchConditions.IfNotModified,
            ).readall()
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _drop_staged(blob: BlobClient) -> None:
    """Drop the blocks an aborted write staged, so that nothing of it stays in the container
    (not even among the uncommitted blobs a listing can include).

    Azure documents two ends for uncommitted blocks: a commit of a block list without them, or
    7 days (Azurite's Delete Blob also removes them; nothing says Azure's does). So commit an
    empty list, only while no blob exists under the key, and delete that empty blob.
    Under an existing blob (a refused overwrite) the blob is left as it was and the blocks to
    Azure. Never raises: the caller must see the error that aborted the write.
    """
    try:
        empty = blob.commit_block_list([], match_condition=MatchConditions.IfMissing)
        blob.delete_blob(etag=str(empty["etag"]), match_condition=MatchConditions.IfNotModified)
    except ResourceExistsError:
        pass  # an earlier blob stays untouched
    except AzureError as exc:  # storage unreachable meanwhile: Azure drops them after 7 days
        log.warning("could not drop the staged blocks of %s (%s)", blob.blob_name,
                    _code(exc))


def _read_full(stream: Readable, size: int) -> bytes:
    """Read up to size bytes, looping over short reads so blocks stay full-sized."""
    first = stream.read(size)
    if not first or len(first) == size:
        return first
    parts, have = [first], len(first)
    while have < size and (more := stream.read(size - have)):
        parts.append(more)
        have += len(more)
    return b"".join(parts)


def _content(key: str) -> ContentSettings:
    # The browser needs the real type (video/mp4) to play a SAS URL inline.
    return ContentSettings(content_type=mimetypes.guess_type(key)[0] or "application/octet-stream")


def _code(exc: AzureError) -> str:
    return getattr(exc, "error_code", None) or type(exc).__name__
