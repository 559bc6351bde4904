"""Retry a failed or cancelled analysis: back in the queue, continuing from its first missing frame.

Frames already analysed stay and cost no request; frames the service refused are removed so that
they are tried again.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.analysis.jobs import get_analysis
from services.db import with_retry
from services.models import Analysis, Frame, Status

RETRYABLE = [s for s in Status if s.retryable]
_table: sa.Table = Analysis.__table__  # type: ignore[attr-defined]  # made by SQLModel
_frames: sa.Table = Frame.__table__  # type: ignore[attr-defined]


class RetryRefused(ValueError):
    """The analysis cannot be retried now; the message says why, in one line."""


def retry_analysis(engine: Engine, analysis_id: str) -> Analysis:
    """Queue the analysis again; raises RetryRefused when it is missing, running or succeeded."""

    def requeue() -> bool:
        with engine.begin() as conn:
            row = conn.execute(sa.select(_table).where(_table.c.id == analysis_id)).first()
            if row is None:
                raise RetryRefused(f"no analysis with id {analysis_id}")
            if not row.status.retryable:
                raise RetryRefused(f"the analysis is {row.status}: only a failed or cancelled "
                                   "analysis can be retried")
            conn.execute(_frames.delete().where(_frames.c.analysis_id == analysis_id,
                                                _frames.c.error.is_not(None)))
            kept = conn.scalar(sa.select(sa.func.count()).select_from(_frames)
                               .where(_frames.c.analysis_id == analysis_id))
            done = conn.execute(
                _table.update()
                # A failed or cancelled analysis has no lease: no worker can still write to it.
                .where(_table.c.id == analysis_id, _table.c.status.in_(RETRYABLE))
                .values(status=Status.queued, error_message=None, finished_at=None,
                        lease_owner=None, lease_expires_at=None, frames_done=kept,
                        status_message=None, waiting_until=None, truncated=False)
            ).rowcount
            if done != 1:  # changed between our read and the update: undo the delete
                raise _Changed
            return True

    try:
        with_retry(requeue)
    except _Changed:
        raise RetryRefused("the analysis changed meanwhile; try again") from None
    fresh = get_analysis(engine, analysis_id)
    if fresh is None:
        raise RetryRefused(f"no analysis with id {analysis_id}")  # deleted just now
    return fresh


class _Changed(Exception):
    pass
