"""The queue of analyses lives in the Analysis table: claim with a lease, heartbeat, finish.

A claim is one UPDATE ... WHERE guarded by status and lease expiry, so of several workers (threads
or processes on other machines) exactly one wins. A crashed worker's lease expires and the next
claim resumes the analysis.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from services.db import session_scope, with_retry
from services.models import Analysis, Status, utcnow

_table: sa.Table = Analysis.__table__  # type: ignore[attr-defined]  # made by SQLModel


def worker_name(kind: str = "worker") -> str:
    """A lease owner id unique to this process and thread of work."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{kind}:{uuid.uuid4().hex[:8]}"


def queue_analysis(
    engine: Engine,
    *,
    video_id: str,
    analyzer: str,
    created_by: str,
    sample_fps: float,
    max_frames: int | None,
    frames_planned: int,
    features: tuple[str, ...] = (),
    adaptive: bool = False,
    estimated_cost: float = 0.0,
) -> Analysis:
    """Add a queued Analysis; a worker picks it up."""
    analysis = Analysis(
        video_id=video_id,
        analyzer=analyzer,
        features=",".join(features),
        sample_fps=sample_fps,
        max_frames=max_frames,
        adaptive=adaptive,
        frames_planned=frames_planned,
        estimated_cost=estimated_cost,
        created_by=created_by,
    )

    def add() -> Analysis:
        with session_scope(engine) as session:
            session.add(analysis)
        return analysis

    return with_retry(add)


def _claimable(now):
    return sa.or_(
        _table.c.status == Status.queued,
        sa.and_(_table.c.status == Status.running, _table.c.lease_expires_at < now),
    )


def claim(engine: Engine, owner: str, lease_seconds: int, analysis_id: str | None = None):
    """Claim one queued (or abandoned) analysis, oldest first; returns its id or None."""
    now = utcnow()
    with Session(engine) as session:
        query = select(Analysis.id).where(_claimable(now))
        query = query.order_by(col(Analysis.created_at)).limit(5)
        if analysis_id:
            query = query.where(Analysis.id == analysis_id)
        candidates = list(session.exec(query))
    for candidate in candidates:
        stmt = (
            _table.update()
            .where(_table.c.id == candidate, _claimable(now))
            .values(
                status=Status.running,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=sa.func.coalesce(_table.c.started_at, now),
            )
        )
        if _execute(engine, stmt) == 1:
            return candidate
    return None


def _owned(engine: Engine, analysis_id: str, owner: str, in_status: Status, /, **values) -> bool:
    """Update the analysis only while this owner holds it in the given status."""
    stmt = (
        _table.update()
        .where(
            _table.c.id == analysis_id,
            _table.c.lease_owner == owner,
            _table.c.status == in_status,
        )
        .values(**values)
    )
    return _execute(engine, stmt) == 1


def heartbeat(
    engine: Engine, analysis_id: str, owner: str, lease_seconds: int, **progress
) -> bool:
    """Extend the lease and record progress; False when the lease was lost or it was cancelled."""
    expires = utcnow() + timedelta(seconds=lease_seconds)
    return _owned(engine, analysis_id, owner, Status.running, lease_expires_at=expires, **progress)


def finish(
    engine: Engine, analysis_id: str, owner: str, status: Status, error: str | None = None,
    **progress,
) -> bool:
    """Record the outcome and release the lease, if this owner still holds it."""
    return _owned(
        engine, analysis_id, owner, Status.running,
        status=status, error_message=error[:2000] if error else None, finished_at=utcnow(),
        lease_owner=None, lease_expires_at=None, **progress,
    )


def cancel(engine: Engine, analysis_id: str) -> bool:
    """Cancel a queued or running analysis; its worker notices at the next heartbeat."""
    stmt = (
        _table.update()
        .where(
            _table.c.id == analysis_id,
            _table.c.status.in_([Status.queued, Status.running]),
        )
        # The lease owner stays, so the worker can still record how far it got (settle).
        .values(status=Status.cancelled, finished_at=utcnow())
    )
    return _execute(engine, stmt) == 1


def settle_cancelled(engine: Engine, analysis_id: str, owner: str, **progress) -> bool:
    """The worker of a cancelled analysis records its final progress and lets go of the lease."""
    return _owned(engine, analysis_id, owner, Status.cancelled,
                  lease_owner=None, lease_expires_at=None, **progress)


def hand_back(engine: Engine, analysis_id: str, owner: str, **progress) -> bool:
    """A stopping worker puts its running analysis back in the queue at once (frames kept)."""
    return _owned(engine, analysis_id, owner, Status.running, status=Status.queued,
                  lease_owner=None, lease_expires_at=None, status_message=None,
                  waiting_until=None, **progress)


def still_ours(engine: Engine, analysis_id: str, owner: str) -> bool:
    """Whether this owner still runs the analysis (not cancelled, deleted or taken over)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(_table.c.status, _table.c.lease_owner).where(_table.c.id == analysis_id)
        ).first()
    return row is not None and row.status == Status.running and row.lease_owner == owner


def live_processes(engine: Engine, analyzer: str = "azure") -> int:
    """How many processes run an analysis with this analyser under a lease that has not expired."""
    now = utcnow()
    with Session(engine) as session:
        owners = session.exec(
            select(Analysis.lease_owner).where(
                Analysis.status == Status.running,
                Analysis.analyzer == analyzer,
                col(Analysis.lease_expires_at) > now,
            )
        ).all()
    return len({_process_of(owner) for owner in owners if owner})


def _process_of(owner: str) -> str:
    # worker_name() is host:pid:kind:hex; the process (host:pid) is what shares one rate limiter.
    parts = owner.rsplit(":", 2)
    return parts[0] if len(parts) == 3 and owner.count(":") >= 3 else owner


def get_analysis(engine: Engine, analysis_id: str) -> Analysis | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Analysis, analysis_id)


def _execute(engine: Engine, stmt) -> int:
    def run() -> int:
        with engine.begin() as conn:
            return conn.execute(stmt).rowcount

    return with_retry(run)
