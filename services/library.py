"""Videos and analyses as a library: list, delete with every row and blob (ingest: ingest.py)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.analysis.jobs import cancel
from services.db import session_scope, with_retry
from services.models import Analysis, Detection, Frame, Video
from services.storage.base import BlobStore
from services.video.probe import VideoInfo
from services.vision.cache import cache_prefix


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
    """Delete an analysis with its frames, detections and artefact blobs (rows first)."""
    cancel(engine, analysis_id)  # a worker on it stops at its next heartbeat

    def rows() -> None:
        with session_scope(engine) as session:
            for table in (Detection, Frame):
                session.execute(sa.delete(table).where(col(table.analysis_id) == analysis_id))
            session.execute(sa.delete(Analysis).where(col(Analysis.id) == analysis_id))

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
        session.execute(sa.delete(Video).where(col(Video.id) == video_id))
