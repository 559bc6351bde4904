"""What a running analysis is waiting for, in words: the same sentence on the page and the CLI."""

from __future__ import annotations

import math
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from services.models import Analysis, Frame, Status, utcnow
from services.vision.base import WaitState


def waiting_message(waiting: WaitState | None) -> str | None:
    """The stored part of a wait: what holds the run back (the seconds are kept beside it)."""
    return waiting.message if waiting is not None else None


def wait_text(
    message: str | None, until: datetime | None, done: int, planned: int,
    now: datetime | None = None,
) -> str | None:
    """E.g. "Azure AI Vision is throttling: waiting 5 s; 12 of 30 frames analysed"."""
    if not message:
        return None
    left = None if until is None else (until - (now or utcnow())).total_seconds()
    how = f"waiting {math.ceil(left)} s" if left is not None and left > 0 else "retrying"
    return f"{message}: {how}; {done:,} of {planned:,} frames analysed"


def analysis_wait_text(analysis: Analysis, now: datetime | None = None) -> str | None:
    """The wait sentence of a running analysis as its worker last recorded it, or None."""
    if analysis.status != Status.running:
        return None
    return wait_text(analysis.status_message, analysis.waiting_until, analysis.frames_done,
                     analysis.frames_planned, now)


def frames_failed(engine: Engine, analysis_id: str) -> int:
    """How many stored frames the service refused (stored as not analysed, with its reason)."""
    query = sa.select(sa.func.count()).select_from(Frame).where(
        col(Frame.analysis_id) == analysis_id, col(Frame.error).is_not(None)
    )
    with engine.connect() as conn:
        return int(conn.scalar(query) or 0)
