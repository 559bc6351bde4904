"""12. Row writes: frames and their detections stored the way the pipeline stores them.

Each frame goes through services.analysis.jobs.record_frame (the frame row, its detections in one
executemany, the fenced progress update, one transaction) on a fresh SQLite database and on the
tests' throwaway PostgreSQL; rows per second = (frames + detections) / wall time, median of 3.
"""

from __future__ import annotations

import time

from sqlalchemy.engine import Engine

from bench.common import Row, log, median
from bench.harness import on_databases
from services.analysis import jobs
from services.db import session_scope
from services.models import Video

SECTION = "12. Row writes"
FRAMES, PER_FRAME, REPEATS = 300, 50, 3
# The same frames written by main's pipeline before bulk inserts (commit 4d3af90: the ORM added a
# Frame and 50 Detection objects per frame and fetched each new id), 3 runs interleaved with 3 of
# record_frame on this machine (1-minute load about 3), the same PostgreSQL settings.
BEFORE = {"SQLite": "3,437 rows/s (2,588 to 4,001)", "PostgreSQL": "2,500 rows/s (2,060 to 2,828)"}


def _analysis(engine: Engine, n: int) -> str:
    video = Video(original_filename="bench.mp4", blob_key=f"videos/rows{n}-{time.time_ns()}.mp4",
                  size_bytes=1, sha256="0" * 64, duration_s=FRAMES, fps=1.0, width=1280,
                  height=720, codec="h264", uploaded_by="bench")
    with session_scope(engine) as session:
        session.add(video)
    queued = jobs.queue_analysis(engine, video_id=video.id, analyzer="azure", created_by="bench",
                                 sample_fps=1.0, max_frames=None, frames_planned=FRAMES)
    assert jobs.claim(engine, "bench", 600, queued.id) == queued.id
    return queued.id


def _frame(aid: str, i: int) -> tuple[dict, list[dict]]:
    frame = dict(analysis_id=aid, frame_index=i, timestamp_s=float(i), width=1280, height=720,
                 thumbnail_key=f"analyses/{aid}/thumbs/{i:07d}.jpg", caption="a scene",
                 caption_confidence=0.8, brightness=0.5,
                 contrast=0.2, sharpness=0.3, colourfulness=0.1, motion=0.01, is_black=False,
                 shot_index=0, remote_analysed=True, transactions=1)
    found = [dict(analysis_id=aid, frame_index=i, kind="object", label=f"thing {j}",
                  confidence=0.5, x=j, y=j, w=10, h=10) for j in range(PER_FRAME)]
    return frame, found


def measure(engine: Engine, n: int) -> float:
    """Rows per second for FRAMES frames of PER_FRAME detections each."""
    aid = _analysis(engine, n)
    work = [_frame(aid, i) for i in range(FRAMES)]
    started = time.perf_counter()
    for frame, found in work:
        assert jobs.record_frame(engine, aid, "bench", 600, frame, found)
    wall = time.perf_counter() - started
    return FRAMES * (1 + PER_FRAME) / wall


def _rows(name: str, engine: Engine) -> list[Row]:
    rates = [measure(engine, n) for n in range(REPEATS)]
    log(f"   {name}: " + ", ".join(f"{r:,.0f}" for r in rates) + " rows/s")
    return [Row(SECTION, f"rows written per second on {name} ({FRAMES} frames x (1 + "
                f"{PER_FRAME} detections))", f"{median(rates):,.0f} rows/s", "", None, None,
                f"median of {REPEATS} ({', '.join(f'{r:,.0f}' for r in rates)}); before bulk "
                f"inserts: {BEFORE[name]}; jobs.record_frame, one transaction per frame")]


def rows(postgres: bool = True) -> list[Row]:
    log(f"12. row writes: {FRAMES} frames x (1 + {PER_FRAME}) rows, SQLite and PostgreSQL")
    return on_databases(SECTION, _rows, postgres)
