"""Notes pinned to moments of an analysis: add, list, edit and delete (the author's only).

Nothing is lost silently: an edit or a delete first copies the note as it was into note_edit,
in the same transaction; a deleted note stays as a row, flagged, so its history stays readable.
Text is Unicode, cut to its column by the model layer (HumanText), never refused for length.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from services.db import database_errors, session_scope, with_retry
from services.models import utcnow
from services.review.base import ReviewError, author_name, checked_moment
from services.review.models import Note, NoteEdit

NOTE_COLUMNS = ["id", "analysis_id", "at_s", "about", "text", "author", "created_at",
                "updated_at"]


@dataclass(frozen=True)
class NoteView:
    """A note as the page, the CLI and the exports show it."""

    id: int
    analysis_id: str
    at_s: float
    about: str | None
    text: str
    author: str
    created_at: datetime
    updated_at: datetime

    @property
    def edited(self) -> bool:
        return self.updated_at > self.created_at


def _view(note: Note) -> NoteView:
    assert note.id is not None
    return NoteView(note.id, note.analysis_id, note.at_s, note.about, note.text, note.author,
                    note.created_at, note.updated_at)


def _text(text: str | None) -> str:
    cleaned = str(text or "").strip()
    if not cleaned:
        raise ReviewError("the note is empty")
    return cleaned


def _about(about: str | None) -> str | None:
    return " ".join(str(about).split()) or None if about else None


def add_note(engine: Engine, analysis_id: str, at_s: float, text: str, author: str,
             about: str | None = None) -> NoteView:
    """A new note at `at_s` (within the video), optionally about a question key or label."""
    body, who = _text(text), author_name(author)
    at = checked_moment(engine, analysis_id, at_s)

    def add() -> NoteView:
        now = utcnow()
        note = Note(analysis_id=analysis_id, at_s=at, about=_about(about), text=body, author=who,
                    created_at=now, updated_at=now)
        with session_scope(engine) as session:
            return _saved(session, note)

    with database_errors("adding the note"):
        return with_retry(add)


def _saved(session, note: Note) -> NoteView:
    """The note written in this transaction, as shown (its id and times as stored)."""
    session.add(note)
    session.flush()
    session.refresh(note)
    return _view(note)


def _owned(session, note_id: int, author: str) -> Note:
    note = session.exec(select(Note).where(col(Note.id) == note_id)
                        .with_for_update()).first()
    if note is None or note.deleted:
        raise ReviewError(f"no note {note_id}")
    if note.author != author:
        raise ReviewError(f"note {note_id} is {note.author}'s: only its author can change it")
    return note


def _keep(session, note: Note, action: str, author: str) -> None:
    assert note.id is not None
    session.add(NoteEdit(note_id=note.id, analysis_id=note.analysis_id, action=action,
                         about=note.about, text=note.text, author=author, created_at=utcnow()))


def edit_note(engine: Engine, note_id: int, text: str, author: str,
              about: str | None = None) -> NoteView:
    """The note with its new text (and topic); the old ones go to its history. Author only."""
    body, who = _text(text), author_name(author)

    def edit() -> NoteView:
        with session_scope(engine) as session:
            note = _owned(session, note_id, who)
            _keep(session, note, "edit", who)
            note.text, note.about, note.updated_at = body, _about(about), utcnow()
            return _saved(session, note)

    with database_errors("editing the note"):
        return with_retry(edit)


def delete_note(engine: Engine, note_id: int, author: str) -> None:
    """Flag the note deleted, its text kept in its history. Author only."""
    who = author_name(author)

    def delete() -> None:
        with session_scope(engine) as session:
            note = _owned(session, note_id, who)
            _keep(session, note, "delete", who)
            note.deleted, note.updated_at = True, utcnow()
            session.add(note)

    with database_errors("deleting the note"):
        with_retry(delete)


def list_notes(engine: Engine, analysis_id: str) -> list[NoteView]:
    """The analysis's notes not deleted, in time order (then as written)."""
    query = (select(Note).where(col(Note.analysis_id) == analysis_id,
                                col(Note.deleted) == sa.false())
             .order_by(col(Note.at_s), col(Note.id)))
    with session_scope(engine) as session:
        return [_view(n) for n in session.exec(query)]


@dataclass(frozen=True)
class NoteChange:
    """A note as it was before one edit or its delete."""

    action: str
    about: str | None
    text: str
    author: str
    at: datetime


def note_history(engine: Engine, note_id: int) -> list[NoteChange]:
    """What the note said before each change, oldest first."""
    query = (select(NoteEdit).where(col(NoteEdit.note_id) == note_id)
             .order_by(col(NoteEdit.id)))
    with session_scope(engine) as session:
        return [_change(e) for e in session.exec(query)]


def note_histories(engine: Engine, analysis_id: str) -> dict[int, list[NoteChange]]:
    """Every note's history in the analysis (one query), oldest change first."""
    query = (select(NoteEdit).where(col(NoteEdit.analysis_id) == analysis_id)
             .order_by(col(NoteEdit.id)))
    found: dict[int, list[NoteChange]] = {}
    with session_scope(engine) as session:
        for edit in session.exec(query):
            found.setdefault(edit.note_id, []).append(_change(edit))
    return found


def _change(edit: NoteEdit) -> NoteChange:
    return NoteChange(edit.action, edit.about, edit.text, edit.author, edit.created_at)

