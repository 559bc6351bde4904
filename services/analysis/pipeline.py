"""One analysis: sampled frames -> local statistics (+ the remote analyser) -> rows and artefacts.

Idempotent: frames already stored are skipped (fed to the local analyser only, to keep motion and
shot state), so a resumed run continues at the first missing frame and never doubles a row.
"""

from __future__ import annotations

import io
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass, replace

from PIL import Image
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from services.analysis import jobs
from services.analysis.adaptive import ADAPTIVE_EVERY_S
from services.config import Settings
from services.db import session_scope, with_retry
from services.library import get_video, remove_leftovers, video_info
from services.models import Analysis, Detection, Frame, Status, Video
from services.storage.base import BlobStore, artefact_key
from services.video.frames import SampledFrame
from services.video.probe import VideoError
from services.video.sampling import sample_frames
from services.vision.base import Analyzer, AnalyzerError, FrameResult
from services.vision.local import LocalAnalyzer
from services.vision.ratelimit import share_rate, shared_limiter

log = logging.getLogger(__name__)
THUMB_SIDE = 640
HEARTBEAT_EVERY_S = 1.0
# A run joining others on the same Vision endpoint waits until they have all recounted the live
# processes (they do at each heartbeat) before its first request, so the shares never overlap.
JOIN_GRACE_S = HEARTBEAT_EVERY_S + 0.5

RemoteFactory = Callable[[Analysis], Analyzer]
ProgressFn = Callable[[int, int], None]


@dataclass
class _Pending:
    frame: SampledFrame  # without pixels: only what rows and artefacts need
    stats: dict
    future: Future | None


class AdaptivePolicy:
    """Send a frame to the remote analyser on a new shot, on strong motion, or every N seconds."""

    def __init__(self, every_s: float = ADAPTIVE_EVERY_S, motion_threshold: float = 0.08):
        self.every_s = every_s
        self.motion_threshold = motion_threshold
        self._last_t: float | None = None
        self._last_shot: int | None = None

    def should_send(self, timestamp_s: float, stats: dict) -> bool:
        shot = stats.get("shot_index")
        send = (
            self._last_t is None
            or shot != self._last_shot
            or float(stats.get("motion") or 0.0) > self.motion_threshold
            or timestamp_s - self._last_t >= self.every_s - 1e-6
        )
        if send:
            self._last_t, self._last_shot = timestamp_s, shot
        return send


def thumbnail(frame: SampledFrame) -> bytes:
    """A small JPEG for the frame viewer; boxes are scaled from the analysed frame's size."""
    if frame.rgb is not None:
        img = Image.fromarray(frame.rgb)
    else:
        img = Image.open(io.BytesIO(frame.jpeg))
    if max(img.size) <= THUMB_SIDE:
        return frame.jpeg
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=80)
    return out.getvalue()


class AnalysisRun:
    """Runs one claimed analysis to its end, a cancellation or a lost lease."""

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
    ):
        self.analysis_id = analysis_id
        self.owner = owner
        self.engine = engine
        self.store = store
        self.settings = settings
        self.remote_factory = remote_factory
        self.on_progress = on_progress
        self.done = 0
        self.transactions = 0
        self._last_beat = 0.0
        self._alive = True
        self._video: Video | None = None

    def run(self) -> Status:
        analysis = jobs.get_analysis(self.engine, self.analysis_id)
        if analysis is None:
            return Status.failed
        try:
            truncated = self._process(analysis)
        except (AnalyzerError, VideoError) as exc:
            return self._finish(Status.failed, str(exc))
        except Exception as exc:  # the job must end with a reason, not a stuck lease
            log.exception("analysis %s failed", self.analysis_id)
            return self._finish(Status.failed, f"internal error: {type(exc).__name__}: {exc}")
        return self._finish(Status.succeeded, None, truncated=truncated)

    def _finish(self, status: Status, error: str | None, truncated: bool = False) -> Status:
        if jobs.finish(
            self.engine, self.analysis_id, self.owner, status, error,
            frames_done=self.done, transactions=self.transactions, truncated=truncated,
        ):
            return status
        # Cancelled, deleted or taken over meanwhile: report what the database says.
        jobs.settle_cancelled(self.engine, self.analysis_id, self.owner,
                              frames_done=self.done, transactions=self.transactions)
        current = jobs.get_analysis(self.engine, self.analysis_id)
        if current is None and self._video is not None:
            # Deleted while we ran: drop the blobs we wrote after the delete removed the rest.
            remove_leftovers(self.engine, self.store, self.analysis_id, self._video)
        return Status(current.status) if current else Status.cancelled

    def _process(self, analysis: Analysis) -> bool:
        video = get_video(self.engine, analysis.video_id)
        if video is None:
            raise VideoError("the video of this analysis was deleted")
        self._video = video
        self._analysis = analysis
        stored, self.transactions = self._stored()
        self.done = len(stored)
        local = LocalAnalyzer()
        remote = None
        if analysis.analyzer != "local":
            if self.remote_factory is None:
                raise AnalyzerError(f"analyser {analysis.analyzer!r} is not configured")
            remote = self.remote_factory(analysis)
            if self._share_rate(analysis) > 1:
                time.sleep(JOIN_GRACE_S)
                if not self._beat(analysis, force=True):
                    return False
        policy = AdaptivePolicy() if analysis.adaptive and remote else None
        in_flight = getattr(remote, "concurrency", 1)
        window = 2 * in_flight  # frames decoded ahead, so the requests never wait for ffmpeg
        pool = ThreadPoolExecutor(in_flight, "analyse") if remote else nullcontext()
        with self.store.local_path(video.blob_key) as path, pool as executor:
            stream = sample_frames(
                path, fps=analysis.sample_fps, max_frames=analysis.max_frames,
                info=video_info(video),
            )
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
                        future = executor.submit(remote.analyze, light)
                    pending.append(_Pending(light_thumb, stats, future))
                    while pending and (len(pending) >= window or _ready(pending[0])):
                        self._write(pending.popleft())
                    if not self._beat(analysis):
                        break
                while pending and self._alive:
                    self._write(pending.popleft())
                    self._beat(analysis)
                for item in pending:  # cancelled or lost: do not send what has not gone yet
                    if item.future is not None:
                        item.future.cancel()
            return stream.truncated

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
        now = time.monotonic()
        if self.on_progress:
            self.on_progress(self.done, analysis.frames_planned)
        if not force and now - self._last_beat < HEARTBEAT_EVERY_S:
            return self._alive
        self._last_beat = now
        self._alive = jobs.heartbeat(
            self.engine, self.analysis_id, self.owner, self.settings.lease_seconds,
            frames_done=self.done, transactions=self.transactions,
        )
        if self._alive:
            self._share_rate(analysis)
        return self._alive

    def _share_rate(self, analysis: Analysis) -> int:
        """Give this process its share of AZURE_VISION_MAX_TPS; returns the live process count."""
        endpoint = self.settings.vision_endpoint
        if analysis.analyzer != "azure" or not endpoint:
            return 0
        from services.vision.azure import HEADROOM

        processes = max(1, jobs.live_processes(self.engine, "azure"))
        rate = share_rate(self.settings.vision_max_tps, processes, HEADROOM)
        shared_limiter(endpoint, rate)  # the one limiter every Azure analyser here draws from
        return processes

    def _write(self, item: _Pending) -> None:
        """Store one frame's artefacts, then its Frame and Detection rows in one transaction."""
        result = FrameResult()
        if item.future is not None:
            # A frame in long retries must not let the lease lapse: keep heartbeating meanwhile.
            while not item.future.done():
                wait([item.future], timeout=HEARTBEAT_EVERY_S)
                self._beat(self._analysis)
            result = item.future.result()
        frame = item.frame
        thumb_key = artefact_key(self.analysis_id, "thumbs", frame.index, "jpg")
        self.store.write_bytes(thumb_key, frame.jpeg)
        raw_key = None
        if result.raw_json is not None:
            raw_key = artefact_key(self.analysis_id, "raw", frame.index, "json")
            self.store.write_bytes(raw_key, result.raw_json)
        row = _frame_row(self.analysis_id, frame, item.stats, result, thumb_key, raw_key,
                         self.settings.min_confidence, remote=item.future is not None)
        detections = [
            Detection(analysis_id=self.analysis_id, frame_index=frame.index, kind=d.kind,
                      label=d.label, confidence=d.confidence, x=d.x, y=d.y, w=d.w, h=d.h)
            for d in result.detections
        ]

        def insert() -> None:
            with session_scope(self.engine) as session:
                session.add(row)
                session.add_all(detections)

        try:
            with_retry(insert)
        except IntegrityError:
            # Another worker stored this frame after our lease expired; keep theirs.
            log.warning("frame %s of %s already stored", frame.index, self.analysis_id)
            return
        self.done += 1
        self.transactions += result.transactions


def _ready(item: _Pending) -> bool:
    return item.future is None or item.future.done()


def _frame_row(analysis_id, frame, stats, result, thumb_key, raw_key, min_conf, remote) -> Frame:
    counted = [d for d in result.detections if (d.confidence or 0.0) >= min_conf]
    return Frame(
        analysis_id=analysis_id,
        frame_index=frame.index,
        timestamp_s=frame.timestamp_s,
        width=frame.width,
        height=frame.height,
        thumbnail_key=thumb_key,
        raw_result_key=raw_key,
        caption=result.caption,
        caption_confidence=result.caption_confidence,
        people_count=sum(d.kind == "person" for d in counted) if remote else None,
        object_count=sum(d.kind == "object" for d in counted) if remote else None,
        brightness=stats.get("brightness"),
        contrast=stats.get("contrast"),
        sharpness=stats.get("sharpness"),
        colourfulness=stats.get("colourfulness"),
        motion=stats.get("motion"),
        is_black=stats.get("is_black"),
        shot_index=stats.get("shot_index"),
        remote_analysed=remote,
        transactions=result.transactions,
    )
