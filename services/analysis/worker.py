"""A worker claims queued analyses and runs them (a Streamlit server thread, or `cli.py worker`)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from services.analysis import jobs
from services.analysis.pipeline import AnalysisRun, ProgressFn, RemoteFactory
from services.config import Settings
from services.library import get_video
from services.models import Analysis, Status
from services.storage.base import BlobStore
from services.vision.azure import AzureAnalyzer
from services.vision.base import Analyzer
from services.vision.cache import CachedAnalyzer

log = logging.getLogger(__name__)


def azure_factory(settings: Settings, store: BlobStore, engine: Engine) -> RemoteFactory:
    """Builds the Azure analyser once per process (per feature set), behind the result cache."""
    made: dict[tuple[str, ...], Analyzer] = {}
    lock = threading.Lock()

    def factory(analysis: Analysis) -> Analyzer:
        features = tuple(f for f in analysis.features.split(",") if f) or settings.vision_features
        with lock:
            if features not in made:
                made[features] = AzureAnalyzer.from_settings(settings, features=features)
            inner = made[features]
        video = get_video(engine, analysis.video_id)
        return CachedAnalyzer(inner, store, video.sha256) if video else inner

    return factory


class Worker:
    """Claims one analysis at a time under a lease and runs it to the end."""

    def __init__(
        self,
        *,
        engine: Engine,
        store: BlobStore,
        settings: Settings,
        remote_factory: RemoteFactory | None = None,
        owner: str | None = None,
        poll_s: float = 1.0,
    ):
        self.engine = engine
        self.store = store
        self.settings = settings
        self.remote_factory = remote_factory or azure_factory(settings, store, engine)
        self.owner = owner or jobs.worker_name()
        self.poll_s = poll_s

    def run_one(
        self, analysis_id: str | None = None, on_progress: ProgressFn | None = None
    ) -> tuple[str, Status] | None:
        """Claim and run one analysis (a given one, or the oldest waiting); None if none waits."""
        claimed = jobs.claim(self.engine, self.owner, self.settings.lease_seconds, analysis_id)
        if claimed is None:
            return None
        log.info("worker %s runs analysis %s", self.owner, claimed)
        run = AnalysisRun(
            claimed, self.owner, engine=self.engine, store=self.store, settings=self.settings,
            remote_factory=self.remote_factory, on_progress=on_progress,
        )
        status = run.run()
        log.info("worker %s finished analysis %s: %s", self.owner, claimed, status)
        return claimed, status

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until stop is set; errors are logged and the loop goes on."""
        while not stop.is_set():
            try:
                if self.run_one() is None:
                    stop.wait(self.poll_s)
            except Exception:
                log.exception("worker %s: unexpected error", self.owner)
                stop.wait(max(self.poll_s, 5.0))
