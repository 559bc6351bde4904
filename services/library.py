"""Videos and analyses as a library: ingest an upload, list, delete with every row and blob."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePosixPath, PureWindowsPath
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from services.analysis.jobs import cancel
from services.db import session_scope, with_retry
from services.models import Analysis, Detection, Frame, Video
from services.storage.base import BlobStore, BlobTooLarge, new_video_key
from services.video.probe import VideoError, VideoInfo, probe
from services.vision.cache import cache_prefix

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv")


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


# Suffixes a stored key may keep. ffmpeg picks some demuxers by suffix alone (a .txt file opens
# as "tty" text art and decodes as video), so any other suffix is dropped and the content decides.
_KEY_SUFFIXES = (*VIDEO_SUFFIXES, ".ts", ".mts", ".m2ts", ".3gp", ".flv", ".ogv")


def _suffix(name: str) -> str:
    match = re.search(r"\.[A-Za-z0-9]{1,5}$", name)
    suffix = match.group(0).lower() if match else ""
    return suffix if suffix in _KEY_SUFFIXES else ""


class _Hashing:
    """Wraps a stream and hashes what passes through, so the upload is read only once."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        chunk = self._stream.read(n)
        self.sha256.update(chunk)
        return chunk


def ingest_video(
    engine: Engine,
    store: BlobStore,
    stream: BinaryIO,
    *,
    filename: str,
    uploaded_by: str,
    max_bytes: int | None = None,
) -> Video:
    """Store an uploaded video under a generated key, probe it and add its row.

    Raises VideoError with a one-line reason; on any failure neither blob nor row is left.
    """
    name = display_name(filename)
    key = new_video_key(_suffix(name))
    hashing = _Hashing(stream)
    try:
        try:
            size = store.write_stream(key, hashing, max_bytes=max_bytes)
        except BlobTooLarge:
            limit_mb = (max_bytes or 0) // (1024 * 1024)
            raise VideoError(f"the file is larger than the {limit_mb} MB upload limit") from None
        if size == 0:
            raise VideoError("the file is empty")
        with store.local_path(key) as path:
            info = probe(path)
        video = _video_row(name, key, size, hashing.sha256.hexdigest(), info, uploaded_by)
        with_retry(lambda: _add(engine, video))
        return video
    except BaseException:
        store.delete(key)
        raise


def register_stored_video(engine: Engine, store: BlobStore, key: str, uploaded_by: str) -> Video:
    """Add a row for a video already in storage (too large for a browser upload)."""
    with Session(engine) as session:
        existing = session.exec(select(Video).where(Video.blob_key == key)).first()
        if existing:
            return existing
    if not store.exists(key):
        raise VideoError(f"no video stored under {key}")
    sha = hashlib.sha256()
    with store.open_read(key) as stream:
        while chunk := stream.read(4 * 1024 * 1024):
            sha.update(chunk)
    with store.local_path(key) as path:
        info = probe(path)
    name = display_name(PurePosixPath(key).name)
    video = _video_row(name, key, store.size(key), sha.hexdigest(), info, uploaded_by)
    with_retry(lambda: _add(engine, video))
    return video


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


def unregistered_videos(engine: Engine, store: BlobStore) -> list[str]:
    """Keys of videos in storage that have no row yet, for 'analyse a video already in storage'."""
    with Session(engine) as session:
        known = set(session.exec(select(Video.blob_key)))
    return [k for k in store.list("videos/") if k not in known]


def video_info(video: Video) -> VideoInfo:
    return VideoInfo(
        duration_s=video.duration_s,
        fps=video.fps,
        width=video.width,
        height=video.height,
        codec=video.codec,
        rotation=video.rotation,
    )


def list_analyses(
    engine: Engine, search: str = "", limit: int = 500
) -> list[tuple[Analysis, Video]]:
    """Newest first, optionally filtered by file name, status, analyser or user."""
    with Session(engine) as session:
        query = select(Analysis, Video).join(Video, Video.id == Analysis.video_id)
        if search.strip():
            like = f"%{search.strip().lower()}%"
            query = query.where(
                sa.or_(
                    sa.func.lower(Video.original_filename).like(like),
                    sa.func.lower(Analysis.status).like(like),
                    sa.func.lower(Analysis.analyzer).like(like),
                    sa.func.lower(Analysis.created_by).like(like),
                )
            )
        query = query.order_by(Analysis.created_at.desc()).limit(limit)
        return [(a, v) for a, v in session.exec(query)]


def get_video(engine: Engine, video_id: str) -> Video | None:
    with Session(engine) as session:
        return session.get(Video, video_id)


def delete_analysis(engine: Engine, store: BlobStore, analysis_id: str) -> None:
    """Delete an analysis with its frames, detections and artefact blobs (rows first)."""
    cancel(engine, analysis_id)  # a worker on it stops at its next heartbeat

    def rows() -> None:
        with session_scope(engine) as session:
            for table in (Detection, Frame):
                session.execute(sa.delete(table).where(table.analysis_id == analysis_id))
            session.execute(sa.delete(Analysis).where(Analysis.id == analysis_id))

    with_retry(rows)
    store.delete_prefix(f"analyses/{analysis_id}/")


def delete_video(engine: Engine, store: BlobStore, video_id: str) -> None:
    """Delete a video, all its analyses and every blob they made."""
    with Session(engine) as session:
        video = session.get(Video, video_id)
        ids = list(session.exec(select(Analysis.id).where(Analysis.video_id == video_id)))
    for analysis_id in ids:
        delete_analysis(engine, store, analysis_id)
    if video is not None:
        with_retry(lambda: _delete_video_row(engine, video_id))
        store.delete(video.blob_key)
        with Session(engine) as session:
            twin = session.exec(select(Video.id).where(Video.sha256 == video.sha256)).first()
        if twin is None:  # the cached Azure answers belong to this content only
            store.delete_prefix(cache_prefix(video.sha256))


def remove_leftovers(engine: Engine, store: BlobStore, analysis_id: str, video: Video) -> None:
    """Remove blobs a run wrote after its analysis or video was deleted (the run ended since)."""
    with Session(engine) as session:
        analysis_gone = session.get(Analysis, analysis_id) is None
        twin = session.exec(select(Video.id).where(Video.sha256 == video.sha256)).first()
    if analysis_gone:
        store.delete_prefix(f"analyses/{analysis_id}/")
    if twin is None:
        store.delete_prefix(cache_prefix(video.sha256))


def _delete_video_row(engine: Engine, video_id: str) -> None:
    with session_scope(engine) as session:
        session.execute(sa.delete(Video).where(Video.id == video_id))
