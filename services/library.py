"""Videos and analyses as a library: list, delete with every row and blob (ingest: ingest.py).

A delete removes the rows in one transaction, noting the blobs they leave as pending deletes in
the same transaction; the blobs go after, and a delete that fails is retried later.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select

from services.db import database_errors, with_retry
from services.models import Analysis, PendingBlobDelete, Status, Video, utcnow
from services.storage.base import BlobStore, StorageError, analysis_prefix, cache_prefix
from services.video.probe import VideoInfo

log = logging.getLogger(__name__)


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
        query = select(Analysis, Video).join(Video, col(Video.id) == Analysis.video_id)
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
        query = query.order_by(col(Analysis.created_at).desc()).limit(limit)
        return [(a, v) for a, v in session.exec(query)]


def count_analyses(engine: Engine, video_id: str) -> int:
    """How many analyses a video has (one COUNT, not every row)."""
    query = select(sa.func.count()).select_from(Analysis).where(col(Analysis.video_id) == video_id)
    with Session(engine) as session:
        return session.exec(query).one()


def get_video(engine: Engine, video_id: str) -> Video | None:
    with Session(engine) as session:
        return session.get(Video, video_id)


def delete_analysis(engine: Engine, store: BlobStore, analysis_id: str) -> None:
    """Delete an analysis with its frames and detections in one transaction, then its blobs."""
    with database_errors("deleting the analysis"):
        with_retry(lambda: _delete_rows(engine, [analysis_id]))
    purge_blobs(engine, store)


def delete_video(engine: Engine, store: BlobStore, video_id: str) -> None:
    """Delete a video and all its analyses' rows in one transaction, then every blob they made."""
    with database_errors("deleting the video"):
        with_retry(lambda: _delete_rows(engine, [], video_id))
    purge_blobs(engine, store)


def delete_video_if_unused(engine: Engine, store: BlobStore, video_id: str) -> bool:
    """Delete a video no analysis uses (one stored for a run that then failed to start); a
    video another analysis uses, the same file uploaded before, stays. True if deleted."""
    with database_errors("reading the video's analyses"), Session(engine) as session:
        used = session.exec(select(sa.func.count()).select_from(Analysis)
                            .where(col(Analysis.video_id) == video_id)).one()
    if used:
        return False
    delete_video(engine, store, video_id)
    return True


def _rows_of_analyses() -> list[sa.Table]:
    """Every table of per-analysis rows (frames, detections, answers, ...): a new one is deleted
    with its analysis without being named here."""
    tables = SQLModel.metadata.sorted_tables
    return [t for t in reversed(tables) if "analysis_id" in t.c and t.name != "analysis"]


def _delete_rows(engine: Engine, analysis_ids: list[str], video_id: str | None = None) -> None:
    """The rows, and the blob keys and prefixes they leave behind as pending deletes."""
    analyses, videos = _table(Analysis), _table(Video)
    with engine.begin() as conn:
        video = None
        if video_id is not None:
            video = conn.execute(sa.select(videos).where(videos.c.id == video_id)).first()
            analysis_ids = list(conn.scalars(
                sa.select(analyses.c.id).where(analyses.c.video_id == video_id)))
        if analysis_ids:
            # Take the analysis rows first: a worker's fenced write waits for this transaction,
            # then finds no analysis to count its frame against, and stores nothing.
            chosen = analyses.c.id.in_(analysis_ids)
            conn.execute(analyses.update().where(chosen).values(
                status=Status.cancelled, lease_owner=None, lease_expires_at=None))
            for table in _rows_of_analyses():
                conn.execute(table.delete().where(table.c.analysis_id.in_(analysis_ids)))
            conn.execute(analyses.delete().where(chosen))
        keys = [analysis_prefix(aid) for aid in analysis_ids]
        if video is not None:
            conn.execute(videos.delete().where(videos.c.id == video_id))
            keys.append(video.blob_key)
            twin = conn.execute(sa.select(videos.c.id).where(videos.c.sha256 == video.sha256))
            if twin.first() is None:  # the cached Azure answers belong to this content only
                keys.append(cache_prefix(video.sha256))
        _add_pending(conn, keys)


def _table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined]  # made by SQLModel


def _add_pending(conn, keys: list[str]) -> None:
    pending = _table(PendingBlobDelete)
    known = set(conn.scalars(sa.select(pending.c.blob_key).where(pending.c.blob_key.in_(keys))))
    fresh = [{"blob_key": k, "created_at": utcnow(), "attempts": 0} for k in keys
             if k not in known]
    if fresh:
        conn.execute(sa.insert(pending), fresh)


def purge_blobs(engine: Engine, store: BlobStore) -> int:
    """Delete the blobs of rows already deleted; one that fails stays pending for a later try
    (at every worker start and every few minutes). Returns how many are still pending."""
    pending = _table(PendingBlobDelete)
    with engine.connect() as conn:
        keys = list(conn.scalars(sa.select(pending.c.blob_key).order_by(pending.c.id)))
    left = 0
    for key in keys:
        this = pending.c.blob_key == key
        try:
            if key.endswith("/"):
                store.delete_prefix(key)
            else:
                store.delete(key)
        except (OSError, StorageError) as exc:
            log.warning("blob delete of %s failed, will retry: %s", key, exc)
            left += 1
            done: sa.Executable = pending.update().where(this).values(
                attempts=pending.c.attempts + 1)
        else:
            done = pending.delete().where(this)
        with engine.begin() as conn:
            conn.execute(done)
    return left


def remove_orphan_cache(engine: Engine, store: BlobStore, video: Video) -> None:
    """Cached Azure answers a run wrote while its video was being deleted (the run ended since)."""
    with Session(engine) as session:
        twin = session.exec(select(Video.id).where(Video.sha256 == video.sha256)).first()
    if twin is None:
        store.delete_prefix(cache_prefix(video.sha256))
