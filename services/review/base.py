"""What notes and corrections share: their one-line error, the author and the moment checked."""

from __future__ import annotations

import math

from sqlalchemy.engine import Engine

from services.db import session_scope
from services.models import Analysis, Video


class ReviewError(ValueError):
    """A note or correction that cannot be stored; the message is one line for the user."""


def author_name(author: str | None) -> str:
    """The author, trimmed; a review without one is refused (the signed-in user, or the CLI's)."""
    name = " ".join(str(author or "").split())
    if not name:
        raise ReviewError("a note or correction needs its author")
    return name


def checked_moment(engine: Engine, analysis_id: str, at_s: float) -> float:
    """`at_s` if the analysis exists and the moment is within its video; ReviewError if not."""
    try:
        at = float(at_s)
    except (TypeError, ValueError):
        raise ReviewError(f"not a moment in seconds: {str(at_s)[:30]!r}") from None
    if not math.isfinite(at) or at < 0:
        raise ReviewError("the moment must be a number of seconds, 0 or more")
    with session_scope(engine) as session:
        analysis = session.get(Analysis, analysis_id)
        if analysis is None:
            raise ReviewError(f"no analysis with id {str(analysis_id)[:40]}")
        video = session.get(Video, analysis.video_id)
    if video is not None and at > video.duration_s + 1e-6:
        raise ReviewError(f"{at:g} s is after the end of the video ({video.duration_s:g} s)")
    return at
