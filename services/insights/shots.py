"""An analysis's shots as a table: the stored ones (frame precise, migration 0006), or for an
analysis without them (a sparse run without a full shot pass, an analysis made before 0006) the
shots its sampled frames tell, at the precision of the sampling.

Also the shot exports: shots.csv (shot_index, start_s, end_s, transition) and an EDL (CMX 3600).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col

from services.insights.results import row_tuples
from services.models import Shot

if TYPE_CHECKING:
    import pandas as pd

SHOT_COLUMNS = ["shot_index", "start_s", "end_s", "transition", "keyframe_s", "keyframe_key"]
CSV_COLUMNS = ["shot_index", "start_s", "end_s", "transition"]
JSON_COLUMNS = [*CSV_COLUMNS, "keyframe_s", "precise"]  # the insights JSON's "shots"
EDL_FPS = 25.0  # when the video's rate is unknown


def load_shots(engine: Engine, analysis_id: str, frames: pd.DataFrame | None = None,
               duration_s: float | None = None) -> pd.DataFrame:
    """SHOT_COLUMNS plus `precise` (found on every frame, or only from the samples), by time."""
    import pandas as pd

    query = (sa.select(*[getattr(Shot, c) for c in SHOT_COLUMNS])
             .where(col(Shot.analysis_id) == analysis_id).order_by(col(Shot.shot_index)))
    with engine.connect() as conn:
        rows = row_tuples(conn.execute(query))
    if rows or frames is None:
        table = pd.DataFrame(rows, columns=SHOT_COLUMNS)
        table["precise"] = True
        return table
    return shots_from_frames(frames, duration_s)


def shots_from_frames(frames: pd.DataFrame, duration_s: float | None = None) -> pd.DataFrame:
    """Shots as the sampled frames tell them: a shot starts at its first sampled frame."""
    import pandas as pd

    known = frames.dropna(subset=["shot_index"]).sort_values("timestamp_s")
    index = known["shot_index"].astype(float)
    known = known[index.ne(index.shift(fill_value=-1.0))]
    starts = known["timestamp_s"].astype(float).tolist()
    last = float(frames["timestamp_s"].max()) if len(frames) else 0.0
    end = max(float(duration_s or 0.0), last)
    table = pd.DataFrame({
        "shot_index": range(len(known)),
        "start_s": starts,
        "end_s": [*starts[1:], end][: len(starts)],
        "transition": "cut",
        "keyframe_s": starts,
        "keyframe_key": known["thumbnail_key"].tolist(),
    })
    table["precise"] = False
    return table


def shots_csv(shots: pd.DataFrame) -> bytes:
    """shots.csv: one row per shot, times in seconds to the microsecond."""
    return shots[CSV_COLUMNS].to_csv(index=False, float_format="%.6f").encode("utf-8")


def timecode(seconds: float, fps: float = EDL_FPS) -> str:
    """HH:MM:SS:FF of the frame at or after `seconds`, counted at the video's rate and written
    non-drop in its nearest whole rate (29.97 fps as 30: timecode frame n is video frame n)."""
    base = max(1, round(fps))
    frames = math.ceil(round(seconds * fps, 6))
    ff, total = frames % base, frames // base
    return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}:{ff:02d}"


def shots_edl(shots: pd.DataFrame, title: str, fps: float = EDL_FPS, reel: str = "AX") -> bytes:
    """A CMX 3600 edit decision list with one event per shot, source and record times equal
    (the shots as they are in the video). Every event is a cut (C): the transition that began
    the shot (cut, fade, dissolve) is named in its comment, since where a fade or dissolve
    starts and ends is not stored. Timecodes non-drop at the video's rate (`timecode`)."""
    safe = "".join(ch if 32 <= ord(ch) < 127 else "_" for ch in title)[:70] or "Framewise"
    lines = [f"TITLE: {safe}", "FCM: NON-DROP FRAME", ""]
    for i, shot in enumerate(shots.itertuples(index=False), start=1):
        start, end = timecode(float(shot.start_s), fps), timecode(float(shot.end_s), fps)
        lines.append(f"{i:03d}  {reel:<8} V     C        {start} {end} {start} {end}")
        lines.append(f"* FROM CLIP NAME: SHOT {int(shot.shot_index) + 1} ({shot.transition})")
        lines.append("")
    return "\r\n".join(lines).encode("ascii")
