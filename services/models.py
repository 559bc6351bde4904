"""SQLModel tables: Video, Analysis, Frame, Detection, blob deletes still to retry, and the question
analyser's question sets, questions, answers (as the model gave them) and token counts.

Boxes are in pixels of the analysed frame, origin top left.
Indexed string columns carry explicit lengths because SQL Server cannot index VARCHAR(MAX).
Human text is HumanText: NVARCHAR on SQL Server (VARCHAR turns non-Latin text into `?` under
Azure SQL's default collation), cut to its column on the way in, never an error (the column
types are in services/columns.py; the review tables in services/review/models.py).
The schema changes only through a migration (services/migrations/versions/).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.columns import (  # noqa: F401  (fit_text, new_id, UTCDateTime: used through here)
    KEY_TYPE,
    ROW_ID,
    HumanText,
    UTCDateTime,
    fit_text,
    new_id,
    utcnow,
)
from services.columns import id_field as _id_field
from services.columns import time_field as _time_field
from services.domain import AnalyzerKind, Feature, stored_features
from services.questions import MAX_ANSWER_TEXT, MAX_TEXT


class Status(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        """Ended: a worker can store nothing more for it."""
        return self in (Status.succeeded, Status.failed, Status.cancelled)

    @property
    def cancellable(self) -> bool:
        """Queued or running: a cancel ends it."""
        return self in (Status.queued, Status.running)

    @property
    def retryable(self) -> bool:
        """Failed or cancelled: a retry queues it again, from its first missing frame."""
        return self in (Status.failed, Status.cancelled)


def _enum_type(enum: type[StrEnum], length: int) -> sa.Enum:
    """A StrEnum column stored as its values in VARCHAR(length), read back as members."""
    return sa.Enum(enum, native_enum=False, length=length, validate_strings=True,
                   values_callable=lambda members: [m.value for m in members])


STATUS_TYPE = _enum_type(Status, 16)


class Video(SQLModel, table=True):
    """An uploaded video: the blob key is generated, the original name is for display only."""

    id: str = _id_field()
    original_filename: str = Field(sa_type=HumanText(255))
    blob_key: str = Field(sa_type=sa.String(200), unique=True)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(sa_type=sa.String(64), index=True)
    duration_s: float
    fps: float
    width: int
    height: int
    codec: str = Field(sa_type=sa.String(40))
    rotation: int = 0
    uploaded_by: str = Field(sa_type=HumanText(255))
    uploaded_at: datetime = _time_field(nullable=False, index=True)


class Analysis(SQLModel, table=True):
    """One run of an analyser over a video's sampled frames; doubles as the job queue entry."""

    id: str = _id_field()
    video_id: str = Field(sa_type=sa.String(32), foreign_key="video.id", index=True)
    status: Status = Field(default=Status.queued, sa_type=STATUS_TYPE, index=True)
    analyzer: AnalyzerKind = Field(sa_type=_enum_type(AnalyzerKind, 16))
    features: str = Field(default="", sa_type=sa.String(200))
    sample_fps: float = 1.0
    max_frames: int | None = None
    adaptive: bool = False
    frames_planned: int = 0
    frames_done: int = 0
    transactions: int = 0
    estimated_cost: float = 0.0
    truncated: bool = False
    error_message: str | None = Field(default=None, sa_type=HumanText(2000))
    created_by: str = Field(sa_type=HumanText(255))
    created_at: datetime = _time_field(nullable=False, index=True)
    started_at: datetime | None = _time_field()
    finished_at: datetime | None = _time_field()
    lease_owner: str | None = Field(default=None, sa_type=sa.String(120))
    lease_expires_at: datetime | None = _time_field(index=True)
    # While the remote service holds the run back: what the worker waits for, and until when.
    status_message: str | None = Field(default=None, sa_type=HumanText(500))
    waiting_until: datetime | None = _time_field()
    # A sparse run seeks to each sample; when true it also decodes every frame to find shots.
    # Nullable (None: not asked) so adding it leaves existing rows as they were.
    full_shot_pass: bool | None = None
    # Shot-aware sampling's plan as JSON (services/analysis/shot_sampling.py); None: sample_fps.
    sampling_plan: str | None = Field(default=None, sa_type=sa.Text)

    @property
    def parsed_features(self) -> tuple[Feature, ...]:
        """The Azure AI Vision features asked for (none for a local analysis)."""
        return stored_features(self.features)

    @property
    def progress(self) -> float:
        if not self.frames_planned:
            return 1.0 if self.status.finished else 0.0
        return min(1.0, self.frames_done / self.frames_planned)


class Frame(SQLModel, table=True):
    """Per-frame results; unique on (analysis, frame index) so a retried frame never doubles."""

    __table_args__ = (sa.UniqueConstraint("analysis_id", "frame_index"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = Field(sa_type=sa.String(32), foreign_key="analysis.id", index=True)
    frame_index: int
    timestamp_s: float
    width: int
    height: int
    thumbnail_key: str | None = Field(default=None, sa_type=sa.String(200))
    raw_result_key: str | None = Field(default=None, sa_type=sa.String(200))
    caption: str | None = Field(default=None, sa_type=HumanText(1000))
    caption_confidence: float | None = None
    brightness: float | None = None
    contrast: float | None = None
    sharpness: float | None = None
    colourfulness: float | None = None
    motion: float | None = None
    is_black: bool | None = None
    shot_index: int | None = None
    remote_analysed: bool = False
    transactions: int = 0  # billable calls this frame cost (0 for local or cached results)
    # Why the service refused this frame (it is stored as not analysed); None when it was not.
    error: str | None = Field(default=None, sa_type=HumanText(1000))


class Detection(SQLModel, table=True):
    """One thing found in a frame: every detection is kept with its confidence."""

    __table_args__ = (sa.Index("ix_detection_analysis_frame", "analysis_id", "frame_index"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = Field(sa_type=sa.String(32), foreign_key="analysis.id")
    frame_index: int
    kind: str = Field(sa_type=sa.String(20))
    label: str | None = Field(default=None, sa_type=HumanText(4000))  # OCR lines
    confidence: float | None = None
    x: int | None = None
    y: int | None = None
    w: int | None = None
    h: int | None = None


class PendingBlobDelete(SQLModel, table=True):
    """A blob (or, ending in '/', a prefix) whose delete failed after its rows went: retried."""

    __tablename__ = "pending_blob_delete"

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    blob_key: str = Field(sa_type=sa.String(200), unique=True)
    created_at: datetime = _time_field(nullable=False)
    attempts: int = 0


# --- the question analyser (Azure OpenAI) -------------------------------------------------------

class QuestionSet(SQLModel, table=True):
    """A named question set analysts reuse (e.g. "Site safety"): the questions as JSON."""

    __tablename__ = "question_set"

    id: str = _id_field()
    name: str = Field(sa_type=HumanText(100), unique=True)
    questions_json: str = Field(sa_type=sa.UnicodeText)
    created_by: str = Field(sa_type=HumanText(255))
    updated_at: datetime = _time_field(nullable=False)


class AnalysisQuestion(SQLModel, table=True):
    """One question an analysis asks of every frame, in the order the analyst wrote them."""

    __tablename__ = "analysis_question"
    __table_args__ = (sa.UniqueConstraint("analysis_id", "key"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = Field(sa_type=sa.String(32), foreign_key="analysis.id")
    position: int
    key: str = Field(sa_type=KEY_TYPE)
    text: str = Field(sa_type=HumanText(MAX_TEXT))
    type: str = Field(sa_type=sa.String(16))
    choices_json: str | None = Field(default=None, sa_type=HumanText(4000))


class AnswerRow(SQLModel, table=True):
    """A question's answer on one frame, as the model gave it; unique per frame and question."""

    __tablename__ = "answer"
    __table_args__ = (sa.UniqueConstraint("analysis_id", "frame_index", "question_key"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = Field(sa_type=sa.String(32), foreign_key="analysis.id")
    frame_index: int
    question_key: str = Field(sa_type=KEY_TYPE)
    number: float | None = None
    text: str | None = Field(default=None, sa_type=HumanText(MAX_ANSWER_TEXT))
    valid: bool = True


class FrameUsage(SQLModel, table=True):
    """What the service counted for one frame's request, and who answered it."""

    __tablename__ = "frame_usage"
    __table_args__ = (sa.UniqueConstraint("analysis_id", "frame_index"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = Field(sa_type=sa.String(32), foreign_key="analysis.id")
    frame_index: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    model: str | None = Field(default=None, sa_type=sa.String(100))
    region: str | None = Field(default=None, sa_type=sa.String(60))
    request_id: str | None = Field(default=None, sa_type=sa.String(100))


class Shot(SQLModel, table=True):
    """One shot of an analysis, found on every decoded frame: its times (from timestamps), the
    transition that began it (cut, fade or dissolve) and its keyframe thumbnail."""

    __table_args__ = (sa.UniqueConstraint("analysis_id", "shot_index"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = Field(sa_type=sa.String(32), foreign_key="analysis.id")
    shot_index: int
    start_s: float
    end_s: float
    transition: str = Field(sa_type=sa.String(10))
    keyframe_s: float | None = None
    keyframe_key: str | None = Field(default=None, sa_type=sa.String(200))


# The review tables (notes, their edits, corrections) live in their own module; importing it
# here registers them on SQLModel.metadata wherever the models are (migrations, deletes).
from services.review import models as _review_models  # noqa: E402,F401
