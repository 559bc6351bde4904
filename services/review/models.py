"""The review tables: notes pinned to moments, their edits, and corrections of the model's
answers (issue 21). Registered on SQLModel.metadata by services/models.py, which imports this
module; the schema changes only through a migration (0007_notes_and_reviews.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from services.columns import KEY_TYPE, ROW_ID, HumanText, time_field
from services.questions import MAX_ANSWER_TEXT

MAX_NOTE = 2000  # characters of a note (cut to fit by HumanText, never refused)
MAX_ABOUT = 200  # the question key or label a note is about


def _analysis_fk() -> Any:
    """The analysis a review row belongs to; its rows go with it (services/library.py deletes
    every table with an analysis_id, the database cascades as well)."""
    return Field(sa_type=sa.String(32), foreign_key="analysis.id", ondelete="CASCADE")


class Note(SQLModel, table=True):
    """An analyst's note at a moment of an analysis, optionally about a question or a label.
    Edits and the delete keep the text before them in note_edit; a deleted note stays, flagged."""

    __table_args__ = (sa.Index("ix_note_analysis_at", "analysis_id", "at_s"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = _analysis_fk()
    at_s: float
    about: str | None = Field(default=None, sa_type=HumanText(MAX_ABOUT))
    text: str = Field(sa_type=HumanText(MAX_NOTE))
    author: str = Field(sa_type=HumanText(255))
    created_at: datetime = time_field(nullable=False)
    updated_at: datetime = time_field(nullable=False)
    deleted: bool = False


class NoteEdit(SQLModel, table=True):
    """A note as it was before one edit or its delete (action), who did it and when."""

    __tablename__ = "note_edit"
    __table_args__ = (sa.Index("ix_note_edit_note", "note_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    # No cascade from the note: SQL Server refuses a second cascade path from the analysis.
    note_id: int = Field(sa_type=ROW_ID, foreign_key="note.id")
    analysis_id: str = _analysis_fk()
    action: str = Field(sa_type=sa.String(10))
    about: str | None = Field(default=None, sa_type=HumanText(MAX_ABOUT))
    text: str = Field(sa_type=HumanText(MAX_NOTE))
    author: str = Field(sa_type=HumanText(255))
    created_at: datetime = time_field(nullable=False)


class Correction(SQLModel, table=True):
    """One analyst's review of one frame's answer to a question (question_key) or of one
    detection (detection_id): verdict right (the model's value, copied), value (the value set)
    or wrong (a detection). Rows are only added: the newest per answer or detection is in
    force, the ones before it are its history."""

    __table_args__ = (sa.Index("ix_correction_analysis_frame", "analysis_id", "frame_index"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=ROW_ID)
    analysis_id: str = _analysis_fk()
    frame_index: int
    question_key: str | None = Field(default=None, sa_type=KEY_TYPE)
    detection_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    verdict: str = Field(sa_type=sa.String(10))
    number: float | None = None
    text: str | None = Field(default=None, sa_type=HumanText(MAX_ANSWER_TEXT))
    author: str = Field(sa_type=HumanText(255))
    created_at: datetime = time_field(nullable=False)
