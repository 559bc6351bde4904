"""The queue of analyses lives in the Analysis table: claim with a lease, heartbeat, record
frames, finish.

A claim is one UPDATE ... WHERE guarded by status and lease expiry, so of several workers (threads
or processes on other machines) exactly one wins. A crashed worker's lease expires and the next
claim resumes the analysis. Every write of a run is fenced by its lease (owner, status running,
unexpired by the database's clock): a frame's rows and the progress they make go in one
transaction, so frames_done and transactions are always what is stored.
"""

from __future__ import annotations

import os
import socket
import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from services.db import db_now, session_scope, with_retry
from services.domain import AnalyzerKind, Feature, features_text
from services.models import Analysis, AnswerRow, Detection, Frame, FrameUsage, Status
from services.question_sets import question_rows
from services.questions import Question

# Tables made by SQLModel, used through Core: one statement per write, no ORM identity fetches.
_table: sa.Table = Analysis.__table__  # type: ignore[attr-defined]
_frames: sa.Table = Frame.__table__  # type: ignore[attr-defined]
_detections: sa.Table = Detection.__table__  # type: ignore[attr-defined]
_answers: sa.Table = AnswerRow.__table__  # type: ignore[attr-defined]
_usage: sa.Table = FrameUsage.__table__  # type: ignore[attr-defined]


def worker_name(kind: str = "worker") -> str:
    """A lease owner id unique to this process and thread of work."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{kind}:{uuid.uuid4().hex[:8]}"


def queue_analysis(
    engine: Engine,
    *,
    video_id: str,
    analyzer: AnalyzerKind | str,
    created_by: str,
    sample_fps: float,
    max_frames: int | None,
    frames_planned: int,
    features: tuple[Feature, ...] | tuple[str, ...] = (),
    adaptive: bool = False,
    estimated_cost: float = 0.0,
    questions: tuple[Question, ...] = (),
    full_shot_pass: bool = False,
    sampling_plan: str | None = None,
) -> Analysis:
    """Add a queued Analysis (with the questions it asks of every frame, in the same
    transaction); a worker picks it up. `analyzer`: a member, or its value. `full_shot_pass`:
    a sparse (seeking) run also decodes every frame once to find shots at frame precision.
    `sampling_plan`: shot-aware sampling's plan (ShotPlan.to_json), sampled instead of the rate."""
    analysis = Analysis(
        video_id=video_id,
        analyzer=AnalyzerKind(analyzer),
        features=features_text(features),
        sample_fps=sample_fps,
        max_frames=max_frames,
        adaptive=adaptive,
        full_shot_pass=full_shot_pass,
        sampling_plan=sampling_plan,
        frames_planned=frames_planned,
        estimated_cost=estimated_cost,
        created_by=created_by,
    )

    def add() -> Analysis:
        with session_scope(engine) as session:
            session.add(analysis)
            session.add_all(question_rows(analysis.id, questions))
        return analysis

    return with_retry(add)


def _claimable():
    return sa.or_(
        _table.c.status == Status.queued,
        sa.and_(_table.c.status == Status.running, _table.c.lease_expires_at < db_now()),
    )


def _held_by(owner: str):
    """This owner's lease, unexpired by the database's clock, on an analysis still running."""
    return sa.and_(
        _table.c.lease_owner == owner,
        _table.c.status == Status.running,
        _table.c.lease_expires_at > db_now(),
    )


def _stored(column: str):
    """Recount from the frame rows, in the same statement: the progress is what is stored."""
    frames = _frames.c
    value = sa.func.count() if column == "frames_done" else sa.func.sum(frames.transactions)
    counted = sa.select(value).where(frames.analysis_id == _table.c.id).scalar_subquery()
    return sa.func.coalesce(counted, 0)


def claim(engine: Engine, owner: str, lease_seconds: int, analysis_id: str | None = None):
    """Claim one queued (or abandoned) analysis, oldest first; returns its id or None.

    Leases are compared against the database's clock, so a worker whose own clock runs ahead
    never takes over a live one.
    """
    with Session(engine) as session:
        query = select(Analysis.id).where(_claimable())
        query = query.order_by(col(Analysis.created_at)).limit(5)
        if analysis_id:
            query = query.where(Analysis.id == analysis_id)
        candidates = list(session.exec(query))
    for candidate in candidates:
        stmt = (
            _table.update()
            .where(_table.c.id == candidate, _claimable())
            .values(
                status=Status.running,
                lease_owner=owner,
                lease_expires_at=db_now(lease_seconds),
                started_at=sa.func.coalesce(_table.c.started_at, db_now()),
                frames_done=_stored("frames_done"),
                transactions=_stored("transactions"),
            )
        )
        if _execute(engine, stmt) == 1:
            return candidate
    return None


def _update_held(engine: Engine, analysis_id: str, owner: str, /, **values) -> bool:
    stmt = _table.update().where(_table.c.id == analysis_id, _held_by(owner)).values(**values)
    return _execute(engine, stmt) == 1


def heartbeat(
    engine: Engine, analysis_id: str, owner: str, lease_seconds: int, **status
) -> bool:
    """Extend the lease (and note what the run waits for: `status`, e.g. status_message);
    False when it was lost (expired, taken over), cancelled or deleted. Progress is not written
    here: record_frame writes it with each frame."""
    return _update_held(engine, analysis_id, owner, lease_expires_at=db_now(lease_seconds),
                        **status)


def finish(
    engine: Engine, analysis_id: str, owner: str, status: Status, error: str | None = None,
    truncated: bool = False, **values,
) -> bool:
    """Record the outcome and release the lease, if this owner still holds it."""
    return _update_held(
        engine, analysis_id, owner, status=status, error_message=error, truncated=truncated,
        finished_at=db_now(), lease_owner=None, lease_expires_at=None, **values,
    )


def hand_back(engine: Engine, analysis_id: str, owner: str) -> bool:
    """A stopping worker puts its running analysis back in the queue at once (frames kept)."""
    return _update_held(engine, analysis_id, owner, status=Status.queued, lease_owner=None,
                        lease_expires_at=None, status_message=None, waiting_until=None)


def still_ours(engine: Engine, analysis_id: str, owner: str) -> bool:
    """Whether this owner still runs the analysis (not cancelled, deleted or taken over)."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(_table.c.status, _table.c.lease_owner).where(_table.c.id == analysis_id)
        ).first()
    return row is not None and row.status == Status.running and row.lease_owner == owner


def record_frame(
    engine: Engine, analysis_id: str, owner: str, lease_seconds: int,
    frame: dict, detections: list[dict], answers: list[dict] | None = None,
    usage: dict | None = None,
) -> bool:
    """Store a frame's row, its detections, its answers and token counts, and the progress they
    make, in one transaction.

    Only while `owner` holds the running analysis: after a cancel, a delete or a lost lease
    nothing is written and False comes back (the caller removes the blobs it wrote). The lease
    is extended on the way. Detections go in one executemany, no id fetched per row.
    """
    index = frame["frame_index"]

    def write() -> bool:
        with engine.begin() as conn:
            progress = (
                _table.update()
                .where(_table.c.id == analysis_id, _held_by(owner))
                .values(frames_done=_table.c.frames_done + 1,
                        transactions=_table.c.transactions + frame.get("transactions", 0),
                        lease_expires_at=db_now(lease_seconds))
            )
            if conn.execute(progress).rowcount != 1:
                return False
            conn.execute(sa.insert(_frames), [frame])
            if detections:
                conn.execute(sa.insert(_detections), detections)
            if answers:
                conn.execute(sa.insert(_answers), answers)
            if usage:
                conn.execute(sa.insert(_usage), [usage])
        return True

    try:
        return with_retry(write)
    except IntegrityError:
        # A retry of a commit that did go through stored it already (its progress with it).
        if not frame_is_stored(engine, analysis_id, index):
            raise
        return True


def frame_is_stored(engine: Engine, analysis_id: str, frame_index: int) -> bool:
    query = sa.select(_frames.c.id).where(_frames.c.analysis_id == analysis_id,
                                         _frames.c.frame_index == frame_index)
    with engine.connect() as conn:
        return conn.execute(query).first() is not None


def nobody_will_store(engine: Engine, analysis_id: str, frame_index: int) -> bool:
    """True when this frame is not stored and cannot be any more (cancelled, ended or deleted):
    its blobs are then orphans. A running analysis (taken over) rewrites the same keys."""
    current = get_analysis(engine, analysis_id)
    if current is not None and current.status.cancellable:
        return False
    return not frame_is_stored(engine, analysis_id, frame_index)


def cancel(engine: Engine, analysis_id: str) -> bool:
    """Cancel a queued or running analysis: from now on its worker can store nothing more."""
    stmt = (
        _table.update()
        .where(
            _table.c.id == analysis_id,
            _table.c.status.in_([s for s in Status if s.cancellable]),
        )
        .values(status=Status.cancelled, finished_at=db_now(), lease_owner=None,
                lease_expires_at=None, status_message=None, waiting_until=None)
    )
    return _execute(engine, stmt) == 1


def live_processes(engine: Engine, analyzer: AnalyzerKind = AnalyzerKind.azure) -> int:
    """How many processes run an analysis with this analyser under a lease that has not expired."""
    with Session(engine) as session:
        owners = session.exec(
            select(Analysis.lease_owner).where(
                Analysis.status == Status.running,
                Analysis.analyzer == analyzer,
                col(Analysis.lease_expires_at) > db_now(),
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
