"""The BlobStore protocol, its errors, the key rules every store follows, and the folder layout.

Every key is made by a function at the end of this module, never from a user's file name:
  videos/<uuid><suffix>                        uploaded videos (new_video_key; VIDEOS lists them)
  analyses/<analysis id>/thumbs/<frame>.jpg    a frame's thumbnail (thumbnail_key)
  analyses/<analysis id>/raw/<frame>.json      the remote analyser's answer (raw_result_key)
  analyses/<analysis id>/shots/<shot>.jpg      a shot's keyframe when no sample shows it
  cache/<video sha256>/<settings>/<frame sha256>.json   the result cache (cache_key)
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import BinaryIO, Protocol

CHUNK = 4 * 1024 * 1024
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_\-./]{0,199}$")


class StorageError(RuntimeError):
    """Storage could not be reached or refused an operation; the message names the setting."""


class BlobTooLarge(ValueError):
    """The stream was longer than the allowed size; nothing was kept."""


class Readable(Protocol):
    """What write_stream reads from: an upload, a file, a hashing wrapper."""

    def read(self, size: int = -1, /) -> bytes: ...


class BlobStore(Protocol):
    """Where videos and artefacts live: a local folder or an Azure Blob container."""

    def write_stream(self, key: str, stream: Readable, *, max_bytes: int | None = None) -> int:
        """Copy the stream under key in chunks; return the byte count. Leaves nothing on failure."""
        ...

    def write_bytes(self, key: str, data: bytes) -> None: ...

    def read_bytes(self, key: str) -> bytes: ...

    def open_read(self, key: str) -> BinaryIO:
        """A file-like object streaming the blob."""
        ...

    def ffmpeg_input(self, key: str) -> str:
        """What ffmpeg reads the blob from, in place: the file's path, or a short-lived read-only
        URL (ffmpeg asks for byte ranges); never a local copy. Call it per ffmpeg started."""
        ...

    def sweep_temp(self, older_than_s: float) -> int:
        """Remove half-written files older than this that a killed process left; returns bytes."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def delete(self, key: str) -> None:
        """Remove the blob; a missing blob is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every blob under the prefix (delete_listed); returns how many."""
        ...

    def list(self, prefix: str = "") -> list[str]: ...

    def url_for_playback(self, key: str, expires_minutes: int = 60) -> str | None:
        """A short-lived read-only URL the browser can stream, or None (serve the bytes instead)."""
        ...


def delete_listed(store: BlobStore, prefix: str) -> int:
    """Delete each blob store.list(prefix) names; how many: every store's delete_prefix."""
    keys = store.list(prefix)
    for key in keys:
        store.delete(key)
    return len(keys)


VIDEOS = "videos/"  # the folder of uploaded videos, and of videos copied into storage


def new_video_key(suffix: str = "") -> str:
    """A fresh key for an uploaded video; the suffix is a vetted extension like '.mp4'."""
    suffix = suffix.lower() if re.fullmatch(r"\.[a-zA-Z0-9]{1,5}", suffix or "") else ""
    return f"{VIDEOS}{uuid.uuid4().hex}{suffix}"


def analysis_prefix(analysis_id: str) -> str:
    """The folder of an analysis's artefacts (deleted with the analysis)."""
    return f"analyses/{analysis_id}/"


def thumbnail_key(analysis_id: str, frame_index: int) -> str:
    return f"{analysis_prefix(analysis_id)}thumbs/{frame_index:07d}.jpg"


def shot_keyframe_key(analysis_id: str, shot_index: int) -> str:
    return f"{analysis_prefix(analysis_id)}shots/{shot_index:06d}.jpg"


def raw_result_key(analysis_id: str, frame_index: int) -> str:
    return f"{analysis_prefix(analysis_id)}raw/{frame_index:07d}.json"


def cache_prefix(video_sha256: str, identity: str | None = None) -> str:
    """The result cache of a video's content (deleted with its last copy), or with `identity`
    (an analyser's request settings) the folder of the answers given with those settings."""
    prefix = f"cache/{video_sha256}/"
    if identity is None:
        return prefix
    return f"{prefix}{hashlib.sha256(identity.encode()).hexdigest()[:16]}/"


def cache_key(settings_prefix: str, frame_jpeg: bytes) -> str:
    """A cached answer: one per frame content under cache_prefix(video, identity)."""
    return f"{settings_prefix}{hashlib.sha256(frame_jpeg).hexdigest()}.json"


def check_key(key: str) -> str:
    if not _KEY_RE.match(key) or ".." in key or "//" in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key
