"""Blobs as files in a local folder: the embedded default."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from services.storage.base import CHUNK, BlobTooLarge, Readable, check_key, delete_listed
from services.storage.temp import sweep_files

TEMP_PREFIX = ".upload-"  # half-written files; never listed, swept when a worker starts


class LocalBlobStore:
    """Blobs as files under a folder; writes go to a temporary file renamed into place."""

    def __init__(self, root: Path, chunk_size: int = CHUNK):
        self.root = Path(root)
        self.chunk_size = chunk_size
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def write_stream(self, key: str, stream: Readable, *, max_bytes: int | None = None) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        total = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(self.chunk_size):
                    total += len(chunk)
                    if max_bytes is not None and total > max_bytes:
                        raise BlobTooLarge(f"larger than {max_bytes} bytes")
                    out.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return total

    def write_bytes(self, key: str, data: bytes) -> None:
        self.write_stream(key, io.BytesIO(data))

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")  # noqa: SIM115  (the caller closes it)

    def ffmpeg_input(self, key: str) -> str:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        return str(path)

    def sweep_temp(self, older_than_s: float) -> int:
        return sweep_files(self.root.rglob(f"{TEMP_PREFIX}*"), older_than_s)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        count = delete_listed(self, prefix)
        if prefix:
            # Drop the emptied folders too; the prefix was vetted like a key, so it stays inside.
            folder = self.root / check_key(prefix).rstrip("/")
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
        return count

    def list(self, prefix: str = "") -> list[str]:
        if prefix:
            check_key(prefix)
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith(TEMP_PREFIX):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def url_for_playback(self, key: str, expires_minutes: int = 60) -> str | None:
        check_key(key)
        return None  # a local folder has no URL of its own; the page serves the bytes
