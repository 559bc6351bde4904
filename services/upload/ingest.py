"""Ingest: one path from a file to a stored, probed Video row, for the Upload page's streamed
upload, "Analyse a video already in storage" and `cli.py analyze`.

Every refusal is a VideoError (or a StorageError for storage at fault) whose message is the
one line shown to the user, naming the file; on any failure neither blob nor row is left.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.db import session_scope, with_retry
from services.models import Video
from services.storage.base import (
    VIDEOS,
    BlobStore,
    BlobTooLarge,
    Readable,
    StorageError,
    new_video_key,
)
from services.video.probe import VideoError, VideoInfo, probe

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv")
MB = 1024 * 1024

# Suffixes a stored key may keep. ffmpeg picks some demuxers by suffix alone (a .txt file opens
# as "tty" text art and decodes as video), so any other suffix is dropped and the content decides.
_KEY_SUFFIXES = (*VIDEO_SUFFIXES, ".ts", ".mts", ".m2ts", ".3gp", ".flv", ".ogv")


class TooLarge(VideoError):
    """The file is over FRAMEWISE_MAX_UPLOAD_MB (announced, or found while streaming)."""


class NotAVideoName(VideoError):
    """The file's name is outside the suffix list."""


def display_name(filename: str | None) -> str:
    """A file name safe to show and store: no folders, no control characters, 200 chars at most."""
    name = (filename or "").replace("\x00", "")
    name = PureWindowsPath(PurePosixPath(name).name).name  # drop any ../ or C:\ parts
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = unicodedata.normalize("NFC", name).strip().strip(".") or "video"
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 190] + "…." + ext) if dot and len(ext) <= 5 else name[:200]
    return name


def _shown(name: str) -> str:
    """The display name as messages quote it: 120 characters at most."""
    return name if len(name) <= 120 else name[:119] + "…"


def check_upload(
    filename: str, *, size: int | None, max_bytes: int | None, shown: str | None = None
) -> None:
    """Refuse a file by its name (the suffix list) or its announced size, before any byte is stored.

    The same checks and messages for the page, the stored-video picker and the CLI; `shown` is
    how the message names the file (its display name unless given).
    """
    shown = shown or _shown(display_name(filename))
    if not filename.lower().endswith(VIDEO_SUFFIXES):
        raise NotAVideoName(f"{shown} is not a video file; choose one of "
                            f"{', '.join(VIDEO_SUFFIXES)}")
    if max_bytes is not None and size is not None and size > max_bytes:
        raise TooLarge(over_limit(shown, max_bytes, size))


def over_limit(shown: str, max_bytes: int, size: int | None = None) -> str:
    """The one message for a file over FRAMEWISE_MAX_UPLOAD_MB, known before or while streaming."""
    how_big = f"{size / MB:,.1f} MB, over" if size is not None else "over"
    return (f"{shown} is {how_big} the {max_bytes // MB:,} MB upload limit: copy it into storage "
            "and use 'Analyse a video already in storage', or raise FRAMEWISE_MAX_UPLOAD_MB")


def _key_suffix(name: str) -> str:
    match = re.search(r"\.[A-Za-z0-9]{1,5}$", name)
    suffix = match.group(0).lower() if match else ""
    return suffix if suffix in _KEY_SUFFIXES else ""


class _Hashing:
    """Wraps a stream and hashes what passes through, so the upload is read only once."""

    def __init__(self, stream: Readable):
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        chunk = self._stream.read(n)
        self.sha256.update(chunk)
        return chunk


def _probe_stored(store: BlobStore, key: str) -> VideoInfo:
    # Read in place: the file itself, or (Azure) ranged reads of the blob through a short-lived
    # read-only SAS; never a download of what was just uploaded.
    return probe(store.ffmpeg_input(key))


def ingest_video(
    engine: Engine,
    store: BlobStore,
    stream: Readable,
    *,
    filename: str,
    uploaded_by: str,
    max_bytes: int | None = None,
    size: int | None = None,
) -> Video:
    """Check, store under a generated key, probe and add the row of one uploaded video.

    `size` is the announced length when known (refused before reading); `max_bytes` is also
    enforced while streaming. Raises VideoError / StorageError with the user's one line.
    """
    check_upload(filename, size=size, max_bytes=max_bytes)
    name = display_name(filename)
    shown = _shown(name)
    key = new_video_key(_key_suffix(name))
    hashing = _Hashing(stream)
    try:
        try:
            stored = store.write_stream(key, hashing, max_bytes=max_bytes)
        except BlobTooLarge:
            raise TooLarge(over_limit(shown, max_bytes or 0)) from None
        except StorageError as exc:
            raise StorageError(f"{shown} could not be stored: {exc}") from exc
        if stored == 0:
            raise VideoError(f"{shown} cannot be analysed: the file is empty")
        info = _checked_probe(store, key, shown)
        video = _video_row(name, key, stored, hashing.sha256.hexdigest(), info, uploaded_by)
        with_retry(lambda: _add(engine, video))
        return video
    except BaseException:
        store.delete(key)
        raise


def register_stored_video(engine: Engine, store: BlobStore, key: str, uploaded_by: str) -> Video:
    """Add the row of a video copied into storage directly: the type and probe checks of an
    upload, but no size limit (this is the way in for files too large to upload)."""
    with Session(engine) as session:
        existing = session.exec(select(Video).where(Video.blob_key == key)).first()
        if existing:
            return existing
    name = display_name(PurePosixPath(key).name)
    check_upload(name, size=None, max_bytes=None, shown=key)  # the messages name the key chosen
    if not store.exists(key):
        raise VideoError(f"no video stored under {key}")
    sha = hashlib.sha256()
    with store.open_read(key) as stream:
        while chunk := stream.read(4 * MB):
            sha.update(chunk)
    info = _checked_probe(store, key, key)
    video = _video_row(name, key, store.size(key), sha.hexdigest(), info, uploaded_by)
    with_retry(lambda: _add(engine, video))
    return video


def unregistered_videos(engine: Engine, store: BlobStore) -> list[str]:
    """Keys of videos in storage that have no row yet, for 'analyse a video already in storage'."""
    with Session(engine) as session:
        known = set(session.exec(select(Video.blob_key)))
    return [k for k in store.list(VIDEOS) if k not in known]


def _checked_probe(store: BlobStore, key: str, shown: str) -> VideoInfo:
    try:
        return _probe_stored(store, key)
    except VideoError as exc:
        raise VideoError(f"{shown} cannot be analysed: {exc}") from None


def _video_row(name, key, size, sha, info: VideoInfo, uploaded_by: str) -> Video:
    return Video(
        original_filename=name,
        blob_key=key,
        size_bytes=size,
        sha256=sha,
        duration_s=info.duration_s,
        fps=info.fps,
        width=info.width,
        height=info.height,
        codec=info.codec[:40],
        rotation=info.rotation,
        uploaded_by=uploaded_by[:255],
    )


def _add(engine: Engine, row) -> None:
    with session_scope(engine) as session:
        session.add(row)
