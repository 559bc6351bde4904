"""Drive the real pipeline as users get it: settings, services, ingest, queue, Worker.run_one;
and the fresh databases (SQLite, the tests' throwaway PostgreSQL) database sections measure."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from bench.common import Row, Timing, scratch, timed
from services.analysis import jobs
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import Services, open_services
from services.db import make_engine
from services.domain import AnalyzerKind
from services.library import video_info
from services.migrations import upgrade_schema
from services.models import Analysis, Frame, Video
from services.upload.ingest import ingest_video
from services.video.frames import planned_frames


def services_for(data_dir: Path, endpoint: str | None = None, key: str | None = None,
                 max_tps: float = 10.0, concurrency: int = 8) -> Services:
    """Services on their own data folder (SQLite + local blobs), Azure pointed at `endpoint`."""
    env = {"FRAMEWISE_DATA_DIR": str(data_dir), "FRAMEWISE_EMBEDDED_WORKER": "0"}
    if endpoint:
        env.update({
            "AZURE_VISION_ENDPOINT": endpoint, "AZURE_VISION_KEY": key or "",
            "AZURE_VISION_MAX_TPS": f"{max_tps:g}", "AZURE_VISION_CONCURRENCY": str(concurrency),
        })
    return open_services(load_settings(env, dotenv=None))


def ingest(services: Services, path: Path) -> Video:
    with open(path, "rb") as stream:
        return ingest_video(services.engine, services.store, stream, filename=path.name,
                            uploaded_by="bench")


@dataclass
class Run:
    analysis: Analysis
    timing: Timing


def analyse(services: Services, video: Video, *, analyzer: str, fps: float,
            max_frames: int | None = None, adaptive: bool = False) -> Run:
    """Queue an analysis of `video` and run it to the end with a Worker, timed."""
    planned = planned_frames(video_info(video), fps, max_frames)
    features = (services.settings.vision_features
                if AnalyzerKind(analyzer) is AnalyzerKind.azure else ())
    queued = jobs.queue_analysis(
        services.engine, video_id=video.id, analyzer=analyzer, created_by="bench",
        sample_fps=fps, max_frames=max_frames, frames_planned=planned, features=features,
        adaptive=adaptive,
    )
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings)
    with timed() as t:
        worker.run_one(queued.id)
    done = jobs.get_analysis(services.engine, queued.id)
    assert done is not None
    return Run(done, t)


def bulk_insert(engine: Engine, rows: dict[type[SQLModel], list[dict]]) -> None:
    """Rows as given, table after table in that order, in one transaction (no ORM objects)."""
    with engine.begin() as conn:
        for model, values in rows.items():
            conn.execute(sa.insert(model), values)


def remote_times(services: Services, analysis_id: str) -> list[float]:
    """Timestamps of the frames of an analysis that went to the remote analyser."""
    with Session(services.engine) as session:
        rows = session.exec(select(Frame.timestamp_s).where(
            Frame.analysis_id == analysis_id, Frame.remote_analysed == True  # noqa: E712
        )).all()
    return sorted(float(t) for t in rows)


def on_databases(section: str, measure: Callable[[str, Engine], list[Row]],
                 postgres: bool = True) -> list[Row]:
    """measure("SQLite", engine) on a fresh SQLite database, then (unless postgres=False)
    measure("PostgreSQL", engine) on a fresh throwaway PostgreSQL (tests/fixtures/database.py);
    a PostgreSQL that cannot be started becomes one "not run" row."""
    number, name = section.split(". ", 1)
    with scratch(f"db{number}-") as tmp:
        services = services_for(Path(tmp))
        out = measure("SQLite", services.engine)
        services.engine.dispose()
    if not postgres:
        return out
    import pytest

    from tests.fixtures.database import private_postgres

    with ExitStack() as stack:
        try:
            url = stack.enter_context(private_postgres())
        except (Exception, pytest.skip.Exception) as exc:  # skip: PostgreSQL is missing
            return [*out, Row(section, f"{name.lower()} on PostgreSQL", "not run", "", None,
                              None, "PostgreSQL could not be started: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else exc!r}")]
        engine = make_engine(url)
        upgrade_schema(engine)
        out += measure("PostgreSQL", engine)
        engine.dispose()
    return out
