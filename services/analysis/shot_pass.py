"""A run's shots: stored with their keyframes, and each stored frame given the shot it shows.

A shot's keyframe is the thumbnail of the sampled frame nearest its middle when a sample falls
inside it (no new blob); a shot between two samples gets one frame of its own, decoded by a
seek to its middle (analyses/<id>/shots/<shot>.jpg, deleted with the analysis).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from subprocess import DEVNULL, PIPE, run

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from services.analysis.frame_rows import THUMB_SIDE
from services.analysis.jobs import _held_by
from services.db import with_retry
from services.models import Analysis, Frame, Shot
from services.storage.base import BlobStore, shot_keyframe_key, thumbnail_key
from services.video.probe import Source, ffmpeg_exe, input_args
from services.video.shots import Shot as FoundShot
from services.video.shots import scan_shots

SEEK_TIMEOUT_S = 60
_analyses: sa.Table = Analysis.__table__  # type: ignore[attr-defined]
_frames: sa.Table = Frame.__table__  # type: ignore[attr-defined]
_shots: sa.Table = Shot.__table__  # type: ignore[attr-defined]


def keyframe_jpeg(source: Source, at_s: float, max_side: int = THUMB_SIDE) -> bytes | None:
    """One frame at `at_s` as a JPEG at most max_side wide or high; None if none decodes."""
    scale = f"scale='min({max_side},iw)':'min({max_side},ih)':force_original_aspect_ratio=decrease"
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error",
           "-ss", f"{math.floor(at_s * 1e6) / 1e6:.6f}", *input_args(source),
           "-map", "0:V:0", "-vf", scale, "-frames:v", "1", "-q:v", "4",
           "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"]
    done = run(cmd, stdin=DEVNULL, stdout=PIPE, stderr=DEVNULL, timeout=SEEK_TIMEOUT_S)
    return done.stdout or None


def store_shots(engine: Engine, store: BlobStore, source: Source, analysis_id: str, owner: str,
                shots: list[FoundShot], samples: list[tuple[float, int]]) -> bool:
    """Keyframes, then the shot rows and every frame's shot index in one fenced transaction.

    `samples` are the stored frames as (timestamp, frame index). False when the analysis is no
    longer this owner's (nothing stored; keyframes written here are removed).
    """
    samples = sorted(samples)
    times = [t for t, _ in samples]
    rows, written = [], []
    for shot in shots:
        key = _sampled_keyframe(analysis_id, shot, samples, times)
        if key is None:
            jpeg = keyframe_jpeg(source, shot.keyframe_s)
            if jpeg is not None:
                key = shot_keyframe_key(analysis_id, shot.index)
                store.write_bytes(key, jpeg)
                written.append(key)
        rows.append({"analysis_id": analysis_id, "shot_index": shot.index,
                     "start_s": shot.start_s, "end_s": shot.end_s,
                     "transition": shot.transition, "keyframe_s": shot.keyframe_s,
                     "keyframe_key": key})

    def write() -> bool:
        with engine.begin() as conn:
            held = sa.select(_analyses.c.id).where(_analyses.c.id == analysis_id,
                                                   _held_by(owner))
            if conn.execute(held).first() is None:
                return False
            conn.execute(_shots.delete().where(_shots.c.analysis_id == analysis_id))
            if rows:
                conn.execute(sa.insert(_shots), rows)
            # The frame on screen at t shows the last shot started at or before t.
            for shot, nxt in zip(shots, [*shots[1:], None], strict=True):
                stmt = _frames.update().where(_frames.c.analysis_id == analysis_id,
                                              _frames.c.timestamp_s >= shot.start_s - 1e-6)
                if nxt is not None:
                    stmt = stmt.where(_frames.c.timestamp_s < nxt.start_s - 1e-6)
                conn.execute(stmt.values(shot_index=shot.index))
        return True

    if with_retry(write):
        return True
    for key in written:
        store.delete(key)
    return False


def _sampled_keyframe(analysis_id: str, shot: FoundShot, samples: list[tuple[float, int]],
                      times: list[float]) -> str | None:
    """The thumbnail of the sample inside the shot nearest its middle, if one is inside."""
    at = bisect.bisect_left(times, shot.keyframe_s)
    best = None
    for i in (at - 1, at):
        if 0 <= i < len(samples) and shot.start_s - 1e-6 <= times[i] < shot.end_s - 1e-6:
            if best is None or abs(times[i] - shot.keyframe_s) < abs(best[0] - shot.keyframe_s):
                best = samples[i]
    return thumbnail_key(analysis_id, best[1]) if best is not None else None


def finish_shots(engine: Engine, store: BlobStore, source: Source, analysis: Analysis,
                 owner: str, found: list[FoundShot] | None, duration_s: float,
                 alive: Callable[[], bool]) -> bool:
    """Store the shots the sampling decode found; a sparse (seeking) run found none, and with
    a full shot pass asked decodes every frame once more for them (heartbeating through
    `alive`). False: no longer ours."""
    if found is None:
        if not analysis.full_shot_pass:
            return True  # shots stay as the samples tell them (Frame.shot_index)
        found = scan_shots(source, duration_s, alive)
        if found is None:
            return False
    with engine.connect() as conn:
        samples = [(t, i) for t, i in conn.execute(
            sa.select(_frames.c.timestamp_s, _frames.c.frame_index)
            .where(_frames.c.analysis_id == analysis.id))]
    return store_shots(engine, store, source, analysis.id, owner, found, samples)
