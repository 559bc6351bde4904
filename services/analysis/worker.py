"""A worker claims queued analyses and runs them (a Streamlit server thread, or `cli.py worker`).

A fair queue: one worker runs up to FRAMEWISE_WORKER_ANALYSES analyses at once, all under the one
rate of their backend in this process, so a short analysis queued behind a long one is not stuck
behind it. Stopping (SIGTERM, the server shutting down) hands the running analyses back at once:
lease released, status queued, frames kept, so another worker resumes them within seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.analysis import jobs
from services.analysis.idle import IdleWatch
from services.analysis.pipeline import AnalysisRun, ProgressFn, RemoteFactory, StatusFn
from services.config import Settings
from services.db import database_error
from services.domain import AnalyzerKind, Feature
from services.library import get_video, purge_blobs
from services.models import Analysis, Status
from services.question_sets import load_questions
from services.storage.base import BlobStore, StorageError
from services.storage.temp import STALE_AFTER_S, sweep_system_temp
from services.vision.azure import AzureAnalyzer
from services.vision.base import Analyzer
from services.vision.cache import CachedAnalyzer
from services.vision.openai_chat import OpenAIAnalyzer
from services.vision.ratelimit import Wait, event_wait

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 10.0  # how long stop() waits for the runs it handed back to let go
PURGE_EVERY_S = 300.0  # how often blob deletes that failed are tried again


def cloud_factory(settings: Settings, store: BlobStore, engine: Engine) -> RemoteFactory:
    """Builds an analysis's cloud analyser behind the result cache: Azure AI Vision once per
    process and feature set; Azure OpenAI once per question set (its throttle is the endpoint's,
    shared by all of them)."""
    made: dict[tuple, Analyzer] = {}
    lock = threading.Lock()

    def build(analysis: Analysis) -> tuple[tuple, Callable[[], Analyzer]]:
        if analysis.analyzer is AnalyzerKind.openai:
            questions = load_questions(engine, analysis.id)
            asked = set(analysis.parsed_features)
            return ((analysis.analyzer, questions, tuple(sorted(asked))),
                    lambda: OpenAIAnalyzer.from_settings(
                        settings, questions, caption=Feature.caption in asked,
                        tags=Feature.tags in asked))
        features = analysis.parsed_features or settings.vision_features
        return ((analysis.analyzer, features),
                lambda: AzureAnalyzer.from_settings(settings, features=features))

    def factory(analysis: Analysis) -> Analyzer:
        key, make = build(analysis)
        with lock:
            if key not in made:
                made[key] = make()
            inner = made[key]
        video = get_video(engine, analysis.video_id)
        return CachedAnalyzer(inner, store, video.sha256) if video else inner

    return factory


@dataclass(frozen=True)
class WorkerEvent:
    """`runs` when the worker starts an analysis, `ended` with its status when it lets go."""

    event: str
    worker: str
    analysis_id: str
    status: Status | None = None


EventFn = Callable[[WorkerEvent], None]


class Worker:
    """Claims analyses under leases and runs up to `max_analyses` of them at once.

    For a server: `start()` when it starts, `stop()` when it stops. For a process:
    `run_forever()` in the main thread, `request_stop()` from a signal handler.
    """

    def __init__(
        self,
        *,
        engine: Engine,
        store: BlobStore,
        settings: Settings,
        remote_factory: RemoteFactory | None = None,
        owner: str | None = None,
        poll_s: float = 1.0,
        max_analyses: int | None = None,
        wait: Wait = event_wait,
        on_event: EventFn | None = None,
        clock: Callable[[], float] = time.monotonic,
        idle: IdleWatch | None = None,
        outage_wait_s: float = 5.0,
    ):
        self.engine = engine
        self.store = store
        self.settings = settings
        self.remote_factory = remote_factory or cloud_factory(settings, store, engine)
        self.owner = owner or jobs.worker_name()
        self.poll_s = poll_s
        self.outage_wait_s = outage_wait_s  # the pause before claiming again after a failed claim
        self.max_analyses = max_analyses or settings.worker_analyses
        self._wait = wait
        self.on_event = on_event  # what it runs and how each ended, for callers and tests
        self._clock = clock  # the runs' heartbeat timing
        self.idle = idle  # a server's worker rests when idle (services/analysis/idle.py)
        self._runs: dict[str, AnalysisRun] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._hand_back = True
        self._thread: threading.Thread | None = None

    # -- one analysis ---------------------------------------------------------------------------

    def run_one(
        self, analysis_id: str | None = None, on_progress: ProgressFn | None = None,
        on_status: StatusFn | None = None,
    ) -> tuple[str, Status] | None:
        """Claim and run one analysis (a given one, or the oldest waiting); None if none waits."""
        claimed = jobs.claim(self.engine, self.owner, self.settings.lease_seconds, analysis_id)
        if claimed is None:
            return None
        return claimed, self._run(claimed, on_progress, on_status)

    def _run(self, claimed: str, on_progress: ProgressFn | None = None,
             on_status: StatusFn | None = None) -> Status:
        log.info("worker %s runs analysis %s", self.owner, claimed)
        self._event("runs", claimed)
        run = AnalysisRun(
            claimed, self.owner, engine=self.engine, store=self.store, settings=self.settings,
            remote_factory=self.remote_factory, on_progress=on_progress, on_status=on_status,
            wait=self._wait, clock=self._clock,
        )
        with self._lock:
            self._runs[claimed] = run
            if self._stopping.is_set():  # stopped while it was being claimed
                run.hand_back = self._hand_back
                run.stop.set()
        try:
            status = run.run()
        finally:
            with self._lock:
                self._runs.pop(claimed, None)
        log.info("worker %s finished analysis %s: %s", self.owner, claimed, status)
        self._event("ended", claimed, status)
        return status

    def _event(self, event: str, analysis_id: str, status: Status | None = None) -> None:
        if self.on_event is not None:
            self.on_event(WorkerEvent(event, self.owner, analysis_id, status))

    def _run_logged(self, claimed: str) -> None:
        """An analysis thread's whole life: run() records failures itself, so what reaches here
        is a database outage (the lease lapses and a later claim resumes it) or a bug."""
        try:
            self._run(claimed)
        except SQLAlchemyError as exc:
            log.warning("worker %s: analysis %s left to its lease: %s", self.owner, claimed,
                        database_error(exc, "running the analysis"))
        except Exception:  # a bug: the thread's end, logged with its traceback, not on stderr
            log.exception("worker %s: analysis %s ended unexpectedly", self.owner, claimed)

    # -- the loop -------------------------------------------------------------------------------

    def running(self) -> list[str]:
        """Ids of the analyses this worker runs now."""
        with self._lock:
            return list(self._runs)

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Claim and run analyses until stopped (`stop` set, or request_stop()); then hand back."""
        self.sweep_temp()
        threads: list[threading.Thread] = []
        purged_at = -PURGE_EVERY_S
        try:
            def stopped() -> bool:
                return self._stopping.is_set() or (stop is not None and stop.is_set())

            while not stopped():
                threads = [t for t in threads if t.is_alive()]
                if self.idle is not None and threads:
                    self.idle.touch()
                elif self.idle is not None and self.idle.quiet_due():
                    log.info("worker %s rests: idle for %.0f s", self.owner, self.idle.idle_s)
                    woken = self.idle.rest(stopped, self.engine.dispose)
                    log.info("worker %s %s", self.owner, "woken" if woken else "looks for work")
                    continue
                if time.monotonic() - purged_at >= PURGE_EVERY_S:
                    purged_at = time.monotonic()
                    self.purge_blobs()
                claimed = None
                if len(threads) < self.max_analyses:
                    try:
                        claimed = jobs.claim(self.engine, self.owner, self.settings.lease_seconds)
                    except SQLAlchemyError as exc:  # the database is down: try again later
                        log.warning("worker %s: %s", self.owner,
                                    database_error(exc, "claiming an analysis"))
                        self._idle(stop, max(self.poll_s, self.outage_wait_s))
                        continue
                if claimed is None:
                    self._idle(stop, self.poll_s)
                    continue
                if self.idle is not None:
                    self.idle.touch()
                thread = threading.Thread(target=self._run_logged, args=(claimed,),
                                          daemon=True, name=f"analysis-{claimed[:8]}")
                thread.start()
                threads.append(thread)
        finally:  # a bug ends the loop too: what runs still goes back to the queue
            self.request_stop(self._hand_back)
            for thread in threads:
                thread.join(STOP_TIMEOUT_S)

    def _idle(self, stop: threading.Event | None, seconds: float) -> None:
        # Wake for a stop from either side: the caller's event or request_stop().
        if stop is None:
            self._stopping.wait(seconds)
        else:
            stop.wait(seconds)

    def request_stop(self, hand_back: bool = True) -> None:
        """Stop claiming; with hand_back, put the running analyses back in the queue at once.

        Never blocks, so a signal handler may call it. Without hand_back they run to their end.
        """
        with self._lock:
            self._hand_back = hand_back
            self._stopping.set()
            runs = list(self._runs.values()) if hand_back else []
        if self.idle is not None:
            self.idle.interrupt()
        for run in runs:
            run.hand_back = True
            run.stop.set()

    def start(self) -> None:
        """Run the loop in a background thread (the server's embedded worker)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self.run_forever, name="framewise-worker",
                                        daemon=True)
        self._thread.start()
        log.info("worker %s started", self.owner)

    @property
    def alive(self) -> bool:
        """True while the background loop started by start() runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, hand_back: bool = True, timeout: float | None = STOP_TIMEOUT_S) -> None:
        """Stop the background loop; hand back (or, without hand_back, finish) what runs."""
        self.request_stop(hand_back)
        if self._thread is not None:
            self._thread.join(timeout if hand_back else None)
        log.info("worker %s stopped", self.owner)

    def purge_blobs(self) -> int:
        """Retry the blob deletes that failed after their rows were deleted; returns those left,
        or -1 when the database could not be read (a failed blob delete just stays pending)."""
        try:
            return purge_blobs(self.engine, self.store)
        except SQLAlchemyError as exc:  # the next round tries again
            log.warning("worker %s: %s", self.owner,
                        database_error(exc, "purging pending blob deletes"))
            return -1

    def sweep_temp(self) -> int:
        """Remove temp files a killed process left (older than STALE_AFTER_S); returns bytes."""
        try:
            freed = self.store.sweep_temp(STALE_AFTER_S) + sweep_system_temp(STALE_AFTER_S)
        except (OSError, StorageError) as exc:  # an unreadable folder must not stop the worker
            log.warning("worker %s: temp sweep failed: %s: %s", self.owner,
                        type(exc).__name__, exc)
            return 0
        if freed:
            log.info("worker %s removed %d bytes of stale temporary files", self.owner, freed)
        return freed
