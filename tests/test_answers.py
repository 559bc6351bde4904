"""Answers as stored rows: read back, answers.csv, answer segments, usage, and deleted with their
analysis (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.db import session_scope
from services.insights.answers import (
    answer_segments,
    answers_table,
    load_answered,
    load_answers,
    load_usage,
    questions_document,
    usage_document,
    usage_totals,
)
from services.insights.exports import to_csv
from services.insights.results import load_frames
from services.library import delete_analysis
from services.models import AnalysisQuestion, AnswerRow, FrameUsage
from services.question_sets import load_questions, question_rows
from services.questions import check_answer, parse_questions
from services.vision.openai_tokens import Prices
from tests.fixtures.factories import add_analysis, frame_row

QUESTIONS = parse_questions([
    {"key": "hat", "text": "Is anyone without a hard hat?", "type": "yes_no"},
    {"key": "people", "text": "How many people?", "type": "count"},
    {"key": "posture", "text": "Posture", "type": "choice", "choices": ["standing", "sitting"]},
    {"key": "board", "text": "Whiteboard text?", "type": "text"},
])
# Per frame: hat, people, posture, board (frame 3 was refused: no answers, not analysed).
GIVEN = {0: ("yes", 2, "standing", "SAFETY FIRST"), 1: ("yes", 3, "standing", None),
         2: ("no", 0, "kneeling", None), 4: ("cannot_tell", -1, "sitting", "Пожарный выход")}


def _stored(engine) -> str:
    analysis_id = add_analysis(engine)
    with session_scope(engine) as session:
        session.add_all(question_rows(analysis_id, QUESTIONS))
        for i in range(5):
            session.add(frame_row(analysis_id, i, remote_analysed=i != 3,
                                  error="content filter" if i == 3 else None))
        for i, values in GIVEN.items():
            for q, value in zip(QUESTIONS, values, strict=True):
                a = check_answer(q, value)
                session.add(AnswerRow(analysis_id=analysis_id, frame_index=i, question_key=a.key,
                                      number=a.number, text=a.text, valid=a.valid))
            session.add(FrameUsage(analysis_id=analysis_id, frame_index=i, prompt_tokens=1500,
                                   completion_tokens=60, cached_tokens=1024,
                                   model="gpt-4.1-mini-2025-04-14", region="Sweden Central"))
    return analysis_id


def test_answers_read_back_as_one_row_per_analysed_frame(engine):
    """Test answers.csv: a column per question key, yes/no/empty, numbers as numbers, the
    choice, the text; invalid answers kept as given and listed; refused frames absent."""
    analysis_id = _stored(engine)
    assert load_questions(engine, analysis_id) == QUESTIONS
    table = answers_table(QUESTIONS, load_frames(engine, analysis_id),
                          load_answers(engine, analysis_id))
    assert list(table.columns) == ["frame_index", "timestamp_s", "hat", "people", "posture",
                                   "board", "invalid"]
    assert table["frame_index"].tolist() == [0, 1, 2, 4]
    assert table["hat"].tolist() == ["yes", "yes", "no", None]
    assert table["people"].tolist() == [2, 3, 0, -1]
    assert table["posture"].tolist() == ["standing", "standing", "kneeling", "sitting"]
    assert table["invalid"].tolist() == [None, None, "posture", "people"]
    csv = to_csv(table).decode()
    assert csv.splitlines()[1] == "0,0.0,yes,2,standing,SAFETY FIRST,"
    assert "Пожарный выход" in csv


def test_answers_become_segments_over_consecutive_analysed_frames(engine):
    """Test runs of yes, of each choice and of a count at or above its threshold; invalid
    answers and cannot tell make none; a refused frame breaks no run of the frames around it."""
    analysis_id = _stored(engine)
    frames = load_frames(engine, analysis_id)
    segments = answer_segments(QUESTIONS, frames, load_answers(engine, analysis_id))
    runs = {(s.label, s.start_s, s.end_s, s.frames) for s in segments.itertuples()}
    assert runs == {
        ("hat: yes", 0.0, 0.04, 2),
        ("posture: standing", 0.0, 0.04, 2),
        ("posture: sitting", 0.16, 0.16, 1),
        ("people ≥ 1", 0.0, 0.04, 2),
    }
    assert set(segments["kind"]) == {"answer"}
    raised = answer_segments(QUESTIONS, frames, load_answers(engine, analysis_id), {"people": 3})
    assert set(raised["label"]) >= {"people ≥ 3"}
    assert "people ≥ 1" not in set(raised["label"])


def test_usage_totals_and_cost(engine):
    """Test that the tokens the service counted add up and are priced at the given prices."""
    analysis_id = _stored(engine)
    totals = usage_totals(load_usage(engine, analysis_id), Prices(0.40, 1.60))
    assert totals["prompt_tokens"] == 4 * 1500 and totals["completion_tokens"] == 4 * 60
    assert totals["requests"] == 4
    assert totals["cost_usd"] == round((6000 * 0.40 + 240 * 1.60) / 1e6, 6)


def test_each_question_is_summarised_for_the_insights_json(engine):
    """Test the summary per question: frames answered, cannot tell and invalid; the share of
    yes, the mean of a count and the frames per choice over the answers that kept the rules;
    and the usage with its cost, the prices, the estimate and the model."""
    analysis_id = _stored(engine)
    answered = load_answered(engine, analysis_id, Prices(0.40, 1.60))
    assert answered is not None and answered.questions == QUESTIONS
    docs = questions_document(answered)
    assert [(d["key"], d["type"], d["choices"]) for d in docs] == [
        ("hat", "yes_no", []), ("people", "count", []),
        ("posture", "choice", ["standing", "sitting"]), ("board", "text", [])]
    assert [d["summary"] for d in docs] == [
        {"frames_answered": 3, "frames_cannot_tell": 1, "frames_invalid": 0,
         "share_yes": pytest.approx(2 / 3)},
        {"frames_answered": 3, "frames_cannot_tell": 0, "frames_invalid": 1,
         "mean": pytest.approx(5 / 3)},
        {"frames_answered": 3, "frames_cannot_tell": 0, "frames_invalid": 1,
         "frames_per_choice": {"standing": 2, "sitting": 1}},
        {"frames_answered": 2, "frames_cannot_tell": 2, "frames_invalid": 0},
    ]
    assert usage_document(answered, 0.05) == {
        "prompt_tokens": 6000, "completion_tokens": 240, "cached_tokens": 4096,
        "reasoning_tokens": 0, "requests": 4, "cost_usd": 0.002784, "estimated_cost_usd": 0.05,
        "input_price_per_million": 0.40, "output_price_per_million": 1.60,
        "models": ["gpt-4.1-mini-2025-04-14"]}
    assert load_answered(engine, add_analysis(engine), Prices(0.40, 1.60)) is None


def test_questions_answers_and_usage_go_with_their_analysis(engine, settings):
    """Test that deleting an analysis deletes its questions, answers and token rows too."""
    from services.storage.factory import make_blob_store

    analysis_id = _stored(engine)
    delete_analysis(engine, make_blob_store(settings), analysis_id)
    with engine.connect() as conn:
        for table in (AnalysisQuestion, AnswerRow, FrameUsage):
            count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            assert count == 0, table.__tablename__


def test_question_sets_are_saved_by_name_listed_replaced_and_deleted(engine):
    """Test the saved sets analysts reuse: a Unicode name, replaced on a second save."""
    from services.question_sets import (
        delete_question_set,
        get_question_set,
        list_question_sets,
        save_question_set,
    )

    save_question_set(engine, "  Site   safety ", QUESTIONS, "ana@example.com")
    save_question_set(engine, "Sécurité du chantier", QUESTIONS[:1], "eve@example.com")
    assert [s.name for s in list_question_sets(engine)] == ["Sécurité du chantier",
                                                            "Site safety"]
    save_question_set(engine, "Site safety", QUESTIONS[:2], "eve@example.com")
    saved = get_question_set(engine, "Site safety")
    assert saved is not None and saved.questions == QUESTIONS[:2]
    assert delete_question_set(engine, "Site safety") is True
    assert delete_question_set(engine, "Site safety") is False
    assert get_question_set(engine, "Site safety") is None
