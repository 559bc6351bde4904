"""Drive the real pipeline as users get it: settings, services, ingest, queue, Worker.run_one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, select

from bench.common import Timing, timed
from services.analysis import jobs
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import Services, open_services
from services.library import video_info
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
    features = services.settings.vision_features if analyzer == "azure" else ()
    queued = jobs.queue_analysis(
        services.engine, video_id=video.id, analyzer=analyzer, created_by="bench",
        sample_fps=fps, max_frames=max_frames, frames_planned=planned, features=features,
        adaptive=adaptive,
    )
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings)
    with timed() as t:
        worker.run_one(queued.id)
    return Run(jobs.get_analysis(services.engine, queued.id), t)


def remote_times(services: Services, analysis_id: str) -> list[float]:
    """Timestamps of the frames of an analysis that went to the remote analyser."""
    with Session(services.engine) as session:
        rows = session.exec(select(Frame.timestamp_s).where(
            Frame.analysis_id == analysis_id, Frame.remote_analysed == True  # noqa: E712
        )).all()
    return sorted(float(t) for t in rows)
