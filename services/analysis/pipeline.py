"""One analysis: sampled frames -> local statistics (+ the remote analyser) -> rows and artefacts.

Idempotent: frames already stored are skipped (fed to the local analyser only, to keep motion and
shot state), so a resumed run continues at the first missing frame and never doubles a row. A
frame the service refuses is stored as not analysed, with the service's reason. The remote
analyser is known only through the Analyzer protocol.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.adaptive import AdaptivePolicy
from services.analysis.frame_rows import answer_rows, frame_row, thumbnail
from services.analysis.progress import wait_text, waiting_message
from services.analysis.shot_pass import finish_shots
from services.analysis.shot_sampling import stored_plan
from services.config import Settings
from services.db import DatabaseError, database_error
from services.library import get_video, remove_orphan_cache, video_info
from services.models import Analysis, Frame, Status, Video, utcnow
from services.storage.base import BlobStore, StorageError, raw_result_key, thumbnail_key
from services.video.frames import SampledFrame
from services.video.probe import VideoError
from services.video.sampling import sample_at, sample_frames
from services.vision.base import (
    Analyzer,
    AnalyzerError,
    Cancelled,
    FrameRefused,
    FrameResult,
    WaitState,
)
from services.vision.local import LocalAnalyzer
from services.vision.ratelimit import Wait, event_wait

log = logging.getLogger(__name__)
HEARTBEAT_EVERY_S = 1.0
# How often a run looks for a cancel: its requests stop within about this (plus a query).
WATCH_EVERY_S = 0.5
# A run joining others on the same Vision endpoint waits until they have all recounted the live
# processes (they do at each heartbeat) before its first request, so the shares never overlap.
JOIN_GRACE_S = HEARTBEAT_EVERY_S + 0.5

RemoteFactory = Callable[[Analysis], Analyzer]
ProgressFn = Callable[[int, int], None]
StatusFn = Callable[[str | None], None]  # the wait message as it changes (None: not waiting)


@dataclass
class _Pending:
    frame: SampledFrame  # without pixels: only what rows and artefacts need
    stats: dict
    future: Future | None


class AnalysisRun:
    """Runs one claimed analysis to its end, a cancellation, a lost lease or a hand-back.

    `stop` is set when the run must end early: a cancel or a lost lease (noticed by the run's
    watcher within WATCH_EVERY_S), or the worker stopping (it sets `hand_back` first, so the
    analysis goes back to the queue). Every wait of the run and of its analyser wakes on it.
    """

    def __init__(
        self,
        analysis_id: str,
        owner: str,
        *,
        engine: Engine,
        store: BlobStore,
        settings: Settings,
        remote_factory: RemoteFactory | None = None,
        on_progress: ProgressFn | None = None,
        on_status: StatusFn | None = None,
        stop: threading.Event | None = None,
        wait: Wait = event_wait,
        clock: Callable[[], float] = time.monotonic,
        watch_every_s: float = WATCH_EVERY_S,
    ):
        self.analysis_id = analysis_id
        self.owner = owner
        self.engine = engine
        self.store = store
        self.settings = settings
        self.remote_factory = remote_factory
        self.on_progress = on_progress
        self.on_status = on_status
        self.stop = stop or threading.Event()
        self.hand_back = False
        self.done = 0
        self.transactions = 0
        self.status_message: str | None = None
        self._wait = wait
        self._clock = clock  # heartbeat timing; tests inject one that moves when told
        self._watch_every_s = watch_every_s  # how often the watcher looks for a cancel
        self._last_beat = -HEARTBEAT_EVERY_S
        self._alive = True
        self._video: Video | None = None
        self._remote: Analyzer | None = None
        self._executor: ThreadPoolExecutor | None = None

    def run(self) -> Status:
        analysis = jobs.get_analysis(self.engine, self.analysis_id)
        if analysis is None:
            return Status.failed
        self._analysis = analysis
        ended = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(ended,), daemon=True,
                                   name=f"watch-{self.analysis_id[:8]}")
        watcher.start()
        try:
            truncated = self._process(analysis)
        except Cancelled:
            truncated = False
        except (AnalyzerError, VideoError, DatabaseError, StorageError) as exc:
            if self.stop.is_set():  # abandoned on purpose: not a failure of the analysis
                return self._stopped()
            return self._finish(Status.failed, self._failure(exc, analysis))
        except SQLAlchemyError as exc:  # its text holds SQL and row data: name what failed only
            log.warning("analysis %s: %s", self.analysis_id, type(exc).__name__)
            return self._finish(Status.failed, str(database_error(exc, "running the analysis")))
        except Exception as exc:  # the job must end with a reason, not a stuck lease
            log.exception("analysis %s failed", self.analysis_id)
            return self._finish(Status.failed, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            ended.set()
        if self.stop.is_set():
            return self._stopped()
        return self._finish(Status.succeeded, None, truncated=truncated)

    def _video_input(self, key: str) -> str:
        """ffmpeg's input for the video; a file gone from storage is the video's failure."""
        try:
            return self.store.ffmpeg_input(key)
        except FileNotFoundError:
            raise VideoError("the video's file is no longer in storage: upload the video "
                             "again") from None

    def _failure(self, exc: Exception, analysis: Analysis) -> str:
        if not isinstance(exc, AnalyzerError) or not self.done:
            return str(exc)
        return (f"{exc}; {self.done} of {analysis.frames_planned} frames analysed: "
                "`python cli.py retry` or Retry on the results page continues from there")

    def _stopped(self) -> Status:
        """Ended early: handed back to the queue, or settled after a cancel or lost lease."""
        if self.hand_back and jobs.hand_back(self.engine, self.analysis_id, self.owner):
            return Status.queued
        return self._finish(Status.succeeded, None)  # only if nobody cancelled meanwhile

    def _finish(self, status: Status, error: str | None, truncated: bool = False) -> Status:
        if jobs.finish(self.engine, self.analysis_id, self.owner, status, error, truncated,
                       status_message=None, waiting_until=None):
            return status
        # Cancelled, deleted or taken over meanwhile: report what the database says.
        current = jobs.get_analysis(self.engine, self.analysis_id)
        if current is None and self._video is not None:
            # The Azure answers cached while the video was being deleted are ours to remove,
            # once the calls still in flight have ended (they send nothing more: stop is set).
            if self._executor is not None:
                self._executor.shutdown(wait=True)
            remove_orphan_cache(self.engine, self.store, self._video)
        return current.status if current else Status.cancelled

    def _watch(self, ended: threading.Event) -> None:
        """Notice a cancel (or a takeover) within WATCH_EVERY_S and stop the run's requests.

        A database error skips a look: the heartbeat fails the run if the outage lasts. Any
        other error is a bug and ends the watch with its traceback.
        """
        failing = False
        while not ended.wait(self._watch_every_s):
            try:
                ours = jobs.still_ours(self.engine, self.analysis_id, self.owner)
            except SQLAlchemyError as exc:
                if not failing:  # once per outage, not twice a second
                    log.warning("watch of %s: %s", self.analysis_id,
                                database_error(exc, "looking for a cancel"))
                failing = True
                continue
            failing = False
            if not ours:
                self.stop.set()
                return

    def _process(self, analysis: Analysis) -> bool:
        video = get_video(self.engine, analysis.video_id)
        if video is None:
            raise VideoError("the video of this analysis was deleted")
        self._video = video
        stored, self.transactions = self._stored()
        self.done = len(stored)
        local = LocalAnalyzer()
        remote = None
        if analysis.analyzer.cloud:
            if self.remote_factory is None:
                raise AnalyzerError(f"analyser {analysis.analyzer!r} is not configured")
            remote = self._remote = self.remote_factory(analysis)
            if self._share_rate(analysis) > 1:
                if self._wait(JOIN_GRACE_S, self.stop) or not self._beat(analysis, force=True):
                    return False
        policy = AdaptivePolicy() if analysis.adaptive and remote else None
        in_flight = remote.concurrency if remote else 1
        window = 2 * in_flight  # frames decoded ahead, so the requests never wait for ffmpeg
        executor = self._executor = ThreadPoolExecutor(in_flight, "analyse") if remote else None
        source = partial(self._video_input, video.blob_key)
        try:
            shot_plan = stored_plan(analysis.sampling_plan)
            if shot_plan is not None:  # shot-aware: the planned times, shots already known
                stream = sample_at(source, shot_plan.times, info=video_info(video))
            else:
                stream = sample_frames(source, fps=analysis.sample_fps,
                                       max_frames=analysis.max_frames, info=video_info(video))
            if stream.every_frame:
                stream.find_shots()
            with stream:
                pending: deque[_Pending] = deque()
                for frame in stream:
                    if frame.index in stored:
                        local.restore(frame, stored[frame.index])
                        continue
                    stats = local.analyze(frame).stats
                    light = replace(frame, jpeg=frame.jpeg, rgb=None)
                    light_thumb = replace(light, jpeg=thumbnail(frame))
                    future = None
                    sent = policy is None or policy.should_send(frame.timestamp_s, stats)
                    if remote and executor and sent:
                        future = executor.submit(remote.analyze, light, self.stop)
                    pending.append(_Pending(light_thumb, stats, future))
                    while pending and (len(pending) >= window or _ready(pending[0])):
                        self._write(pending.popleft())
                    if not self._beat(analysis):
                        break
                while pending and not self.stop.is_set():
                    self._write(pending.popleft())
                    self._beat(analysis)
            found = list(shot_plan.shots) if shot_plan is not None else stream.shots
            if not self.stop.is_set() and not finish_shots(
                    self.engine, self.store, source, analysis, self.owner, found,
                    video.duration_s, partial(self._beat, analysis)):
                self.stop.set()  # cancelled, deleted or taken over meanwhile
            return stream.truncated
        finally:
            if executor is not None:
                # Queued calls are dropped; calls in flight see the stop event and send nothing
                # more. Not waiting for them: an answer on its way is abandoned, not awaited.
                executor.shutdown(wait=False, cancel_futures=True)

    def _stored(self) -> tuple[dict[int, int], int]:
        """Shot index of each frame already stored, and the transactions they cost."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(Frame.frame_index, Frame.shot_index, Frame.transactions).where(
                    Frame.analysis_id == self.analysis_id
                )
            ).all()
        return {index: shot or 0 for index, shot, _ in rows}, sum(t for *_, t in rows)

    def _beat(self, analysis: Analysis, force: bool = False) -> bool:
        """Progress to the caller; every HEARTBEAT_EVERY_S (or on a new wait) to the database."""
        now = self._clock()
        waiting = self._remote.waiting() if self._remote is not None else None
        message = waiting_message(waiting)
        if message != self.status_message:
            self.status_message, force = message, True
            if self.on_status:
                self.on_status(wait_text(message, _until(waiting), self.done,
                                         analysis.frames_planned))
        if self.on_progress:
            self.on_progress(self.done, analysis.frames_planned)
        if self.stop.is_set():
            return False
        if not force and now - self._last_beat < HEARTBEAT_EVERY_S:
            return self._alive
        self._last_beat = now
        self._alive = jobs.heartbeat(
            self.engine, self.analysis_id, self.owner, self.settings.lease_seconds,
            status_message=message, waiting_until=_until(waiting),
        )
        if self._alive:
            self._share_rate(analysis)
        else:
            self.stop.set()
        return self._alive

    def _share_rate(self, analysis: Analysis) -> int:
        """Tell the remote analyser how many processes share its backend; returns the count."""
        if self._remote is None:
            return 0
        processes = max(1, jobs.live_processes(self.engine, analysis.analyzer))
        self._remote.share_rate(processes)
        return processes

    def _write(self, item: _Pending) -> None:
        """Store one frame's artefacts, then its Frame and Detection rows in one transaction."""
        result, error = FrameResult(), None
        if item.future is not None:
            # A frame in long retries must not let the lease lapse: keep heartbeating meanwhile.
            while not item.future.done():
                if self.stop.is_set():
                    raise Cancelled
                wait([item.future], timeout=WATCH_EVERY_S / 2)
                self._beat(self._analysis)
            try:
                result = item.future.result()
            except FrameRefused as exc:  # stored as not analysed, with the service's reason
                error = str(exc)
        frame = item.frame
        thumb_key = thumbnail_key(self.analysis_id, frame.index)
        self.store.write_bytes(thumb_key, frame.jpeg)
        raw_key = None
        if result.raw_json is not None:
            raw_key = raw_result_key(self.analysis_id, frame.index)
            self.store.write_bytes(raw_key, result.raw_json)
        row = frame_row(self.analysis_id, frame, item.stats, result, thumb_key, raw_key,
                        remote=item.future is not None and error is None, error=error)
        detections = [
            {"analysis_id": self.analysis_id, "frame_index": frame.index, "kind": d.kind,
             "label": d.label, "confidence": d.confidence, "x": d.x, "y": d.y, "w": d.w, "h": d.h}
            for d in result.detections
        ]
        answers, usage = answer_rows(self.analysis_id, frame.index, result)
        try:
            stored = jobs.record_frame(self.engine, self.analysis_id, self.owner,
                                       self.settings.lease_seconds,
                                       row.model_dump(exclude={"id"}), detections, answers,
                                       usage)
        except SQLAlchemyError as exc:
            raise database_error(exc, f"storing frame {frame.index}") from exc
        if not stored:  # cancelled, deleted or taken over: the frame is not ours to store
            self.stop.set()
            if jobs.nobody_will_store(self.engine, self.analysis_id, frame.index):
                for key in filter(None, (thumb_key, raw_key)):
                    self.store.delete(key)
            return
        self.done += 1
        self.transactions += result.transactions


def _until(waiting: WaitState | None) -> datetime | None:
    if waiting is None or waiting.seconds is None:
        return None
    return utcnow() + timedelta(seconds=waiting.seconds)


def _ready(item: _Pending) -> bool:
    return item.future is None or item.future.done()
