"""A worker claims queued analyses and runs them (a Streamlit server thread, or `cli.py worker`)."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.engine import Engine

from services import jobs
from services.config import Settings
from services.models import Analysis, Status
from services.pipeline import AnalysisRun, ProgressFn, RemoteFactory
from services.storage import BlobStore
from services.vision.base import Analyzer

log = logging.getLogger(__name__)


def azure_factory(settings: Settings) -> RemoteFactory:
    """Builds the Azure analyser lazily, once per process, for analyses that ask for it."""
    made: list[Analyzer] = []
    lock = threading.Lock()

    def factory(analysis: Analysis) -> Analyzer:
        from services.vision.azure import AzureAnalyzer

        if not settings.vision_endpoint:
            from services.vision.base import AnalyzerError

            raise AnalyzerError("the Azure analyser needs AZURE_VISION_ENDPOINT to be set")
        features = tuple(f for f in analysis.features.split(",") if f) or settings.vision_features
        with lock:
            if not made or made[0].features != features:
                made[:] = [AzureAnalyzer.from_settings(settings, features=features)]
            return made[0]

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
        self.remote_factory = remote_factory or azure_factory(settings)
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
        return claimed, run.run()

    def run_forever(self, stop: threading.Event) -> None:
        """Loop until stop is set; errors are logged and the loop goes on."""
        while not stop.is_set():
            try:
                if self.run_one() is None:
                    stop.wait(self.poll_s)
            except Exception:
                log.exception("worker %s: unexpected error", self.owner)
                stop.wait(max(self.poll_s, 5.0))
