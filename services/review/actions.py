"""What an analyst asks of the results page's review controls, as plain values, and doing it.

The page's components return one of these; `apply` does it as the signed-in user and says what it
did in one line (ReviewError when it cannot, nothing written).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from services.review.corrections import review_answer, review_detection
from services.review.notes import add_note, delete_note, edit_note


@dataclass(frozen=True)
class AddNote:
    at_s: float
    text: str
    about: str | None = None


@dataclass(frozen=True)
class EditNote:
    note_id: int
    text: str
    about: str | None = None


@dataclass(frozen=True)
class DeleteNote:
    note_id: int


@dataclass(frozen=True)
class ReviewAnswer:
    at_s: float
    key: str
    value: str | None  # None: the model was right


@dataclass(frozen=True)
class ReviewDetection:
    detection_id: int
    wrong: bool = True


ReviewAction = AddNote | EditNote | DeleteNote | ReviewAnswer | ReviewDetection


def apply(engine: Engine, analysis_id: str, author: str, action: ReviewAction) -> str:
    """Do `action` as `author`; a short sentence saying what was done."""
    if isinstance(action, AddNote):
        note = add_note(engine, analysis_id, action.at_s, action.text, author, action.about)
        return f"Note added at {note.at_s:g} s."
    if isinstance(action, EditNote):
        edit_note(engine, action.note_id, action.text, author, action.about)
        return "Note saved; its earlier text is kept in its history."
    if isinstance(action, DeleteNote):
        delete_note(engine, action.note_id, author)
        return "Note deleted; its text is kept in its history."
    if isinstance(action, ReviewAnswer):
        done = review_answer(engine, analysis_id, action.at_s, action.key, author,
                             value=action.value)
        said = "the model's answer marked right" if action.value is None else "answer corrected"
        return f"Frame at {done.timestamp_s:g} s: {done.question_key} {said}."
    done = review_detection(engine, analysis_id, action.detection_id, author,
                            wrong=action.wrong)
    return f"Detection {action.detection_id} marked {'wrong' if action.wrong else 'right'}."
