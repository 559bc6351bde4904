"""BlobStore contract on the local folder and on Azure Blob Storage (Azurite), plus Azure setup."""

from __future__ import annotations

import io
import logging
import math
import random
import ssl
import tempfile
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from services.config import load_settings
from services.storage.azure import AzureBlobStore
from services.storage.base import BlobTooLarge, StorageError
from services.storage.factory import make_blob_store
from services.storage.local import LocalBlobStore
from tests.fixtures.azurite import (
    ACCOUNT_KEY,
    SMALL_CHUNK,
    FakeTokenCredential,
    resign_for_azurite,
    unique_container,
)

SIZE = 3 * SMALL_CHUNK + 12_345  # four blocks, the last one short
DATA = random.Random(7).randbytes(SIZE)
BAD_KEYS = ["../x", "/etc/passwd", "videos/../x", "videos//x", "", "Videos/x.mp4"]


@pytest.fixture(params=["local", "azure"])
def store(request, tmp_path):
    """Each contract test runs on both stores, with the same small chunk size."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs", chunk_size=SMALL_CHUNK)
    return request.getfixturevalue("azure_store")


class RecordingStream:
    """A readable stream that remembers the largest read asked of it."""

    def __init__(self, data: bytes, max_piece: int | None = None):
        self._inner, self._max_piece = io.BytesIO(data), max_piece
        self.largest = 0

    def read(self, n: int = -1) -> bytes:
        self.largest = max(self.largest, math.inf if n is None or n < 0 else n)
        return self._inner.read(n if self._max_piece is None else min(n, self._max_piece))


def fetch(url: str, ca_file: Path | None = None, method: str = "GET", headers=None):
    """(status, headers, body) of a plain HTTP request, as a browser would make it."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )
    data = b"x" if method == "PUT" else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def azure_settings(tmp_path, **env):
    return load_settings({"FRAMEWISE_DATA_DIR": str(tmp_path / "data"), **env}, dotenv=None)


# -- the contract, on both stores -----------------------------------------------------------


def test_multi_chunk_stream_round_trips(store):
    """Test that a stream of several chunks comes back byte for byte with its size."""
    assert store.write_stream("videos/a.mp4", io.BytesIO(DATA)) == SIZE
    assert store.read_bytes("videos/a.mp4") == DATA
    assert store.size("videos/a.mp4") == SIZE


def test_write_stream_reads_chunk_by_chunk(store):
    """Test that write_stream never asks the stream for more than one chunk at a time."""
    stream = RecordingStream(DATA)
    store.write_stream("videos/a.mp4", stream)
    assert 0 < stream.largest <= SMALL_CHUNK
    assert store.read_bytes("videos/a.mp4") == DATA


def test_empty_stream_makes_empty_blob(store):
    """Test that an empty stream stores an empty blob rather than nothing."""
    assert store.write_stream("analyses/x/empty.json", io.BytesIO(b"")) == 0
    assert store.exists("analyses/x/empty.json")
    assert store.read_bytes("analyses/x/empty.json") == b""


def test_open_read_streams_and_seeks(store):
    """Test that open_read gives a file object that reads in pieces and can seek."""
    store.write_stream("videos/a.mp4", io.BytesIO(DATA))
    with store.open_read("videos/a.mp4") as f:
        assert f.read(1000) == DATA[:1000]
        assert f.read(SMALL_CHUNK) == DATA[1000 : 1000 + SMALL_CHUNK]
        f.seek(-10, io.SEEK_END)
        assert f.read() == DATA[-10:]
        assert f.read(5) == b""
        f.seek(0)
        assert f.read() == DATA


def test_ffmpeg_input_reads_the_blob_in_place(store, tmp_path, monkeypatch):
    """Test that ffmpeg_input is the file itself, or a read-only URL serving byte ranges."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    store.write_stream("videos/a.mp4", io.BytesIO(DATA))
    target = store.ffmpeg_input("videos/a.mp4")
    if isinstance(store, AzureBlobStore):
        status, headers, body = fetch(target, headers={"Range": "bytes=1000-1999"})
        assert status == 206 and body == DATA[1000:2000]  # what ffmpeg asks for when it seeks
        assert "sp=r" in target and "se=" in target  # read-only, expiring
        assert fetch(target, method="PUT", headers={"x-ms-blob-type": "BlockBlob"})[0] == 403
    else:
        assert Path(target).read_bytes() == DATA
    assert list(temp.iterdir()) == []  # no copy made


def test_missing_blob_behaves_like_a_missing_file(store, tmp_path, monkeypatch):
    """Test that reading a missing blob raises FileNotFoundError and deleting it is fine."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for read in (store.read_bytes, store.size, store.open_read):
        with pytest.raises(FileNotFoundError):
            read("videos/none.mp4")
    with pytest.raises(FileNotFoundError):
        store.ffmpeg_input("videos/none.mp4")
    assert list(tmp_path.glob("framewise-*")) == []
    assert not store.exists("videos/none.mp4")
    store.delete("videos/none.mp4")


def test_exists_delete_and_list(store):
    """Test exists, delete, delete_prefix and list with prefixes."""
    keys = ["analyses/a/thumbs/0000001.jpg", "analyses/a/thumbs/0000002.jpg", "analyses/b/r.json"]
    for key in [*keys, "videos/v.mp4"]:
        store.write_bytes(key, key.encode())
    assert store.list() == sorted([*keys, "videos/v.mp4"])
    assert store.list("analyses/a/") == keys[:2]
    assert store.exists("videos/v.mp4") and store.size("videos/v.mp4") == len("videos/v.mp4")
    store.delete("videos/v.mp4")
    store.delete("videos/v.mp4")
    assert not store.exists("videos/v.mp4")
    assert store.delete_prefix("analyses/a/") == 2
    assert store.list() == ["analyses/b/r.json"]
    assert store.read_bytes("analyses/b/r.json") == b"analyses/b/r.json"


def test_too_large_stream_leaves_nothing(store):
    """Test that exceeding max_bytes raises BlobTooLarge and keeps no blob or temporary file."""
    with pytest.raises(BlobTooLarge):
        store.write_stream("videos/big.mp4", io.BytesIO(DATA), max_bytes=SIZE - 1)
    assert store.list() == []
    assert not store.exists("videos/big.mp4")
    if isinstance(store, LocalBlobStore):
        assert list(store.root.rglob("*.*")) == [] and not any(store.root.rglob(".upload-*"))


def test_too_large_overwrite_keeps_previous_version(store):
    """Test that a refused overwrite leaves the earlier blob intact."""
    store.write_bytes("videos/a.mp4", b"old")
    with pytest.raises(BlobTooLarge):
        store.write_stream("videos/a.mp4", io.BytesIO(DATA), max_bytes=10)
    assert store.read_bytes("videos/a.mp4") == b"old"


@pytest.mark.parametrize("key", BAD_KEYS)
def test_invalid_keys_are_refused(store, key):
    """Test that keys escaping the store or outside the key alphabet are refused."""
    calls = [
        lambda: store.write_stream(key, io.BytesIO(b"x")),
        lambda: store.write_bytes(key, b"x"),
        lambda: store.read_bytes(key),
        lambda: store.exists(key),
        lambda: store.delete(key),
        lambda: store.url_for_playback(key),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    assert store.list() == []


# -- Azure specifics ------------------------------------------------------------------------


def test_azure_commits_one_block_per_chunk_even_on_short_reads(azure_store):
    """Test that uploads are staged in full chunk-sized blocks although the stream reads short."""
    azure_store.write_stream("videos/a.mp4", RecordingStream(DATA, max_piece=10_000))
    blob = azure_store.container.get_blob_client("videos/a.mp4")
    committed, uncommitted = blob.get_block_list("all")
    assert [b.size for b in committed] == [SMALL_CHUNK] * 3 + [SIZE - 3 * SMALL_CHUNK]
    assert uncommitted == []
    assert blob.get_blob_properties().content_settings.content_type == "video/mp4"


def test_azure_reader_never_mixes_versions(azure_store):
    """Test that a reader opened before an overwrite refuses to return bytes of the new blob."""
    azure_store.write_stream("videos/a.mp4", io.BytesIO(DATA))
    with azure_store.open_read("videos/a.mp4") as f:
        assert f.read(10) == DATA[:10]
        azure_store.write_bytes("videos/a.mp4", b"new")
        f.seek(2 * SMALL_CHUNK)
        with pytest.raises(StorageError):
            f.read(10)


def test_azure_missing_container_names_the_setting(azure_store):
    """Test that a container deleted under the store gives a StorageError naming the setting."""
    azure_store.container.delete_container()
    for call in (lambda: azure_store.write_bytes("a.json", b"x"), lambda: azure_store.list()):
        with pytest.raises(StorageError, match="AZURE_STORAGE_CONTAINER"):
            call()


def test_sas_url_streams_read_only(azure_store):
    """Test that the playback URL serves the bytes (with ranges) but refuses a write."""
    azure_store.write_stream("videos/a.mp4", io.BytesIO(DATA))
    url = azure_store.url_for_playback("videos/a.mp4", expires_minutes=5)
    status, headers, body = fetch(url)
    assert (status, body, headers["Content-Type"]) == (200, DATA, "video/mp4")
    status, _, body = fetch(url, headers={"Range": "bytes=100-109"})
    assert (status, body) == (206, DATA[100:110])
    assert fetch(url, method="PUT", headers={"x-ms-blob-type": "BlockBlob"})[0] == 403
    assert fetch(url.split("?")[0])[0] in (403, 404)  # the bare URL is not public


def test_local_store_has_no_playback_url(tmp_path):
    """Test that the local store offers no URL, so pages fall back to serving bytes."""
    assert LocalBlobStore(tmp_path).url_for_playback("videos/a.mp4") is None


def test_from_settings_connection_string_creates_container(azurite, tmp_path):
    """Test that make_blob_store connects with the connection string and creates the container."""
    name = unique_container()
    settings = azure_settings(
        tmp_path,
        AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string,
        AZURE_STORAGE_CONTAINER=name,
    )
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    assert not service.get_container_client(name).exists()
    store = make_blob_store(settings)
    assert isinstance(store, AzureBlobStore)
    assert service.get_container_client(name).exists()
    store.write_bytes("a.json", b"{}")
    again = AzureBlobStore.from_settings(settings)  # an existing container is fine
    assert again.read_bytes("a.json") == b"{}"


def test_from_settings_account_url_uses_the_token_credential(azurite_oauth, tmp_path, monkeypatch):
    """Test that an account URL authenticates with the factory's token and signs a UDK SAS."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_file))
    credential = FakeTokenCredential()
    settings = azure_settings(
        tmp_path,
        AZURE_STORAGE_ACCOUNT_URL=azurite_oauth.account_url,
        AZURE_STORAGE_CONTAINER=unique_container(),
    )
    store = AzureBlobStore.from_settings(settings, credential_factory=lambda: credential)
    store.write_stream("videos/a.mp4", io.BytesIO(DATA[:1000]))
    assert store.read_bytes("videos/a.mp4") == DATA[:1000]
    assert credential.scopes and credential.scopes[0] == ("https://storage.azure.com/.default",)
    url = store.url_for_playback("videos/a.mp4")
    query = dict(urllib.parse.parse_qsl(url.split("?", 1)[1]))
    assert query["skoid"] and query["sp"] == "r"  # a read-only user delegation SAS
    status, _, body = fetch(url, ca_file=azurite_oauth.ca_file)
    if status == 403:
        # Azurite 3.35 checks the 2025-07-05 string-to-sign; SDK 12.31 signs a newer layout with
        # two more lines. Re-signing the same fields Azurite's way proves the key and fields.
        resigned = resign_for_azurite(url, azurite_oauth.account_url, credential)
        status, _, body = fetch(resigned, ca_file=azurite_oauth.ca_file)
    assert (status, body) == (200, DATA[:1000])


def test_http_account_url_is_refused_before_any_token(azurite, tmp_path):
    """Test that an http account URL is refused, naming the setting, without sending a token."""
    credential = FakeTokenCredential()
    settings = azure_settings(tmp_path, AZURE_STORAGE_ACCOUNT_URL=azurite.account_url)
    with pytest.raises(StorageError, match="AZURE_STORAGE_ACCOUNT_URL.*https"):
        AzureBlobStore.from_settings(settings, credential_factory=lambda: credential)
    assert credential.scopes == []


def test_wrong_account_key_names_the_setting_without_the_key(azurite, tmp_path, caplog):
    """Test that a wrong key gives a one-line StorageError naming the setting, never the key."""
    caplog.set_level(logging.DEBUG)
    wrong_key = ACCOUNT_KEY[:-8] + "AAAAAA=="
    connection = azurite.connection_string.replace(ACCOUNT_KEY, wrong_key)
    settings = azure_settings(tmp_path, AZURE_STORAGE_CONNECTION_STRING=connection)
    with pytest.raises(StorageError) as caught:
        AzureBlobStore.from_settings(settings, retry_total=0)
    message = str(caught.value)
    assert "AZURE_STORAGE_CONNECTION_STRING" in message and "\n" not in message
    everything = "".join(traceback.format_exception(caught.value)) + caplog.text
    assert "from AZURE_STORAGE_CONNECTION_STRING" in caplog.text  # the branch taken is logged
    assert settings.secrets() and not any(s in everything for s in settings.secrets())


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"AZURE_STORAGE_CONNECTION_STRING": "AccountKey=c2VjcmV0;nonsense"}, "CONNECTION_STRING"),
        ({"AZURE_STORAGE_CONTAINER": "Not_A_Container"}, "CONTAINER"),
    ],
)
def test_bad_settings_name_the_setting(azurite, tmp_path, env, setting):
    """Test that a malformed connection string or container name is refused by setting name."""
    env = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string, **env}
    settings = azure_settings(tmp_path, **env)
    with pytest.raises(StorageError, match=f"AZURE_STORAGE_{setting}") as caught:
        AzureBlobStore.from_settings(settings)
    assert "c2VjcmV0" not in str(caught.value)


def test_unreachable_storage_names_the_setting(azurite, tmp_path):
    """Test that a closed port gives a StorageError naming the connection string setting."""
    closed = azurite.connection_string.replace(f":{azurite.port}/", ":9/")
    settings = azure_settings(tmp_path, AZURE_STORAGE_CONNECTION_STRING=closed)
    with pytest.raises(StorageError, match="could not reach.*AZURE_STORAGE_CONNECTION_STRING"):
        AzureBlobStore.from_settings(settings, retry_total=0)
