"""Question sets: the named sets the team reuses ("Site safety"), saved, listed, loaded and
deleted; and the set each analysis asks (its AnalysisQuestion rows).

Saving under an existing name replaces that set (the Upload page's "Save as"); a name is
Unicode, trimmed, at most 100 characters, and never empty.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from services.db import database_errors, session_scope, with_retry
from services.models import AnalysisQuestion, QuestionSet, utcnow
from services.questions import (
    Question,
    QuestionError,
    parse_questions,
    questions_from_json,
    questions_to_json,
)

MAX_NAME = 100


@dataclass(frozen=True)
class SavedSet:
    name: str
    questions: tuple[Question, ...]
    created_by: str


def _name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise QuestionError("give the question set a name")
    if len(name) > MAX_NAME:
        raise QuestionError(f"a question set's name has at most {MAX_NAME} characters")
    return name


def save_question_set(engine: Engine, name: str, questions: tuple[Question, ...],
                      user: str) -> SavedSet:
    """Save (or replace) the set under this name; raises QuestionError for a bad name."""
    name = _name(name)
    if not questions:
        raise QuestionError("there are no questions to save")

    def save() -> None:
        with session_scope(engine) as session:
            row = session.exec(select(QuestionSet).where(col(QuestionSet.name) == name)).first()
            if row is None:
                row = QuestionSet(name=name, questions_json="", created_by=user)
            row.questions_json = questions_to_json(questions)
            row.updated_at = utcnow()
            session.add(row)

    with database_errors("saving the question set"):
        with_retry(save)
    return SavedSet(name, questions, user)


def list_question_sets(engine: Engine) -> list[SavedSet]:
    """Every saved set, by name."""
    query = sa.select(col(QuestionSet.name), col(QuestionSet.questions_json),
                      col(QuestionSet.created_by))
    with database_errors("reading the question sets"), engine.connect() as conn:
        rows = conn.execute(query).all()
    # Sorted here, accents aside: each database collates Unicode its own way.
    return sorted((SavedSet(name, questions_from_json(text), by) for name, text, by in rows),
                  key=lambda s: _sort_key(s.name))


def _sort_key(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name)
    return "".join(c for c in plain if not unicodedata.combining(c)).casefold()


def get_question_set(engine: Engine, name: str) -> SavedSet | None:
    return next((s for s in list_question_sets(engine) if s.name == _name(name)), None)


def delete_question_set(engine: Engine, name: str) -> bool:
    """Delete the set of this name; False when there was none."""
    table = QuestionSet.__table__  # type: ignore[attr-defined]

    def delete() -> int:
        with engine.begin() as conn:
            return conn.execute(table.delete().where(table.c.name == _name(name))).rowcount

    with database_errors("deleting the question set"):
        return with_retry(delete) > 0


# --- the set an analysis asks -------------------------------------------------------------------


def load_questions(engine: Engine, analysis_id: str) -> tuple[Question, ...]:
    """The analysis's questions in the order they were written (none for other analysers)."""
    query = (sa.select(AnalysisQuestion).where(col(AnalysisQuestion.analysis_id) == analysis_id)
             .order_by(col(AnalysisQuestion.position)))
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    if not rows:
        return ()
    return parse_questions([{"key": r["key"], "text": r["text"], "type": r["type"],
                             "choices": json.loads(r["choices_json"] or "null")} for r in rows])


def question_rows(analysis_id: str, questions: Iterable[Question]) -> list[AnalysisQuestion]:
    """The AnalysisQuestion rows an analysis is queued with."""
    return [AnalysisQuestion(analysis_id=analysis_id, position=i, key=q.key, text=q.text,
                             type=q.type,
                             choices_json=json.dumps(list(q.choices), ensure_ascii=False)
                             if q.choices else None)
            for i, q in enumerate(questions)]
