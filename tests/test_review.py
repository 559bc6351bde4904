"""Notes pinned to moments and corrections of the model's answers, as stored rows (SQLite and
PostgreSQL): author-only edits with history, values checked per question type, the newest
correction in force with both kept, answers in force everywhere answers are read, agreement per
question, and every row deleted with its analysis."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from services.db import session_scope
from services.domain import AnalyzerKind, Export
from services.insights.answers import (
    answer_segments,
    load_answered,
    load_answers,
    load_model_answers,
    questions_document,
)
from services.insights.exports import export_files
from services.insights.results import load_detections, load_frames
from services.library import delete_analysis
from services.models import Analysis, Detection
from services.review.agreement import agreement
from services.review.base import ReviewError
from services.review.corrections import (
    load_reviews,
    review_answer,
    review_detection,
    review_history,
    wrong_detections,
)
from services.review.models import MAX_NOTE, Correction, Note, NoteEdit
from services.review.notes import add_note, delete_note, edit_note, list_notes, note_history
from tests.fixtures.factories import add_analysis, detection_row, frame_row
from tests.test_answers import QUESTIONS, _stored

ANA, EVE = "ana@example.com", "eve@example.com"


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def test_notes_are_added_listed_in_time_order_and_unicode(engine):
    """Test that notes land at their moment with author and times, list in time order, keep
    Unicode, and that text longer than its column is cut to fit instead of refused."""
    analysis_id = add_analysis(engine)
    late = add_note(engine, analysis_id, 1.5, "  Пожарный выход 🚪 blocked  ", ANA, about="hat")
    early = add_note(engine, analysis_id, 0.25, "x" * (MAX_NOTE + 50), EVE)
    notes = list_notes(engine, analysis_id)
    assert [n.id for n in notes] == [early.id, late.id]
    assert notes[1].text == "Пожарный выход 🚪 blocked" and notes[1].about == "hat"
    assert notes[1].author == ANA and notes[1].created_at.tzinfo is not None
    assert len(notes[0].text) == MAX_NOTE and not notes[0].edited
    assert list_notes(engine, add_analysis(engine)) == []


@pytest.mark.parametrize(("at", "text", "author", "words"), [
    (0.5, "   ", ANA, "the note is empty"),
    (2.5, "late", ANA, "after the end of the video"),
    (-1, "early", ANA, "0 or more"),
    (float("nan"), "nan", ANA, "0 or more"),
    (0.5, "who?", "  ", "needs its author"),
])
def test_a_bad_note_is_refused_in_one_line_and_nothing_is_written(engine, at, text, author,
                                                                  words):
    """Test each bad note: one line saying what is wrong, no row."""
    analysis_id = add_analysis(engine)  # its video lasts 2 s
    with pytest.raises(ReviewError, match=words) as raised:
        add_note(engine, analysis_id, at, text, author)
    assert "\n" not in str(raised.value)
    with pytest.raises(ReviewError, match="no analysis"):
        add_note(engine, "f" * 32, 0.5, "x", ANA)
    assert _count(engine, Note) == 0


def test_only_its_author_edits_or_deletes_a_note_and_history_keeps_every_text(engine):
    """Test that an edit keeps the text before it, another analyst's edit or delete is refused
    and changes nothing, and a delete hides the note but keeps it and its history."""
    analysis_id = add_analysis(engine)
    note = add_note(engine, analysis_id, 1.0, "first", ANA)
    edited = edit_note(engine, note.id, "second", ANA, about="people")
    assert edited.text == "second" and edited.about == "people" and edited.edited
    for change in (lambda: edit_note(engine, note.id, "eve's", EVE),
                   lambda: delete_note(engine, note.id, EVE)):
        with pytest.raises(ReviewError, match="only its author"):
            change()
    assert [n.text for n in list_notes(engine, analysis_id)] == ["second"]
    delete_note(engine, note.id, ANA)
    assert list_notes(engine, analysis_id) == []
    assert [(h.action, h.text, h.author) for h in note_history(engine, note.id)] == [
        ("edit", "first", ANA), ("delete", "second", ANA)]
    with pytest.raises(ReviewError, match=f"no note {note.id}"):
        edit_note(engine, note.id, "again", ANA)
    assert _count(engine, Note) == 1 and _count(engine, NoteEdit) == 2


@pytest.mark.parametrize(("key", "value", "words"), [
    ("hat", "maybe", "hat takes yes, no or cannot_tell"),
    ("people", "-1", "people takes a whole number, 0 or more"),
    ("people", "2.5", "whole number"),
    ("posture", "kneeling", "posture takes one of standing, sitting"),
    ("board", "  ", "board needs a text"),
    ("nope", "1", "no question 'nope'; the analysis asked hat, people, posture, board"),
])
def test_a_value_that_breaks_its_question_type_is_refused(engine, key, value, words):
    """Test that a correction is checked against its question's type: one line, nothing stored."""
    analysis_id = _stored(engine)
    with pytest.raises(ReviewError, match=words):
        review_answer(engine, analysis_id, 0.0, key, ANA, value=value)
    assert _count(engine, Correction) == 0


def test_a_score_and_a_number_are_checked_too(engine):
    """Test the score's range and a number's finiteness."""
    from services.questions import parse_questions
    from services.review.corrections import parse_value

    score, number = parse_questions([{"key": "s", "text": "S", "type": "score"},
                                     {"key": "n", "text": "N", "type": "number"}])
    assert parse_value(score, "7") == (7.0, None) and parse_value(number, "-2.5") == (-2.5, None)
    for question, raw in ((score, "11"), (score, "x"), (number, "inf"), (number, "nan")):
        with pytest.raises(ReviewError, match=question.key):
            parse_value(question, raw)
    assert parse_value(score, "cannot_tell") == (None, None)


def test_the_newest_correction_is_in_force_and_both_are_kept(engine):
    """Test that a correction lands on the analysed frame nearest the moment, a second one of
    the same answer replaces the first in force while history keeps both, and marking right
    copies the model's answer; a frame without the model's answer cannot be marked right."""
    analysis_id = _stored(engine)
    first = review_answer(engine, analysis_id, 0.03, "people", ANA, value="4")
    assert (first.frame_index, first.timestamp_s, first.number) == (1, 0.04, 4.0)
    review_answer(engine, analysis_id, 0.04, "people", EVE, value="3")
    right = review_answer(engine, analysis_id, 0.0, "hat", EVE)
    assert (right.verdict, right.text, right.number) == ("right", "yes", 1.0)
    review_answer(engine, analysis_id, 0.16, "posture", ANA, value="standing")
    reviews = load_reviews(engine, analysis_id)
    assert [(r.frame_index, r.question_key, r.author) for r in reviews.itertuples()] == [
        (1, "people", EVE), (0, "hat", EVE), (4, "posture", ANA)]
    history = review_history(engine, analysis_id)
    assert history[history["question_key"] == "people"]["number"].tolist() == [4.0, 3.0]
    # The frame at 0.12 s was refused: 0.12 lands on a neighbour, which has answers.
    assert review_answer(engine, analysis_id, 0.12, "board", ANA).frame_index in (2, 4)


def test_answers_in_force_win_in_charts_segments_exports_and_the_json(engine):
    """Test that the reviewed value replaces the model's in load_answers (charts, segments,
    compare), that answers.csv has KEY, KEY_model and KEY_reviewed_by, and that the insights
    JSON carries both answers and each question's reviewed and agreed."""
    analysis_id = _stored(engine)
    with session_scope(engine) as session:
        session.get(Analysis, analysis_id).analyzer = AnalyzerKind.openai
    review_answer(engine, analysis_id, 0.08, "posture", ANA, value="sitting")  # was invalid
    review_answer(engine, analysis_id, 0.04, "hat", EVE, value="no")
    review_answer(engine, analysis_id, 0.0, "hat", ANA)
    review_answer(engine, analysis_id, 0.0, "people", ANA, value="3")
    answers = load_answers(engine, analysis_id)
    posture = answers[(answers["question_key"] == "posture") & (answers["frame_index"] == 2)]
    assert posture["text"].tolist() == ["sitting"] and posture["valid"].tolist() == [True]
    assert len(answers) == len(load_model_answers(engine, analysis_id))
    runs = answer_segments(QUESTIONS, load_frames(engine, analysis_id), answers)
    assert ("hat: yes", 0.0, 0.0) in {(s.label, s.start_s, s.end_s) for s in runs.itertuples()}

    files = export_files(engine, analysis_with(engine, analysis_id), 0.5,
                         (Export.answers, Export.json))
    rows = list(csv.DictReader(io.StringIO(files[Export.answers].decode())))
    assert list(rows[0])[:8] == ["frame_index", "timestamp_s", "hat", "hat_model",
                                 "hat_reviewed_by", "people", "people_model",
                                 "people_reviewed_by"]
    assert [(r["hat"], r["hat_model"], r["hat_reviewed_by"]) for r in rows[:2]] == [
        ("yes", "yes", ANA), ("no", "yes", EVE)]
    assert (rows[2]["posture"], rows[2]["posture_model"], rows[2]["invalid"]) == (
        "sitting", "kneeling", "")
    doc = json.loads(files[Export.json])
    assert doc["frames"][1]["answers"]["hat"] == "no"
    assert doc["frames"][1]["model_answers"]["hat"] == "yes"
    assert doc["frames"][1]["reviewed_by"] == {"hat": EVE}
    found = {q["key"]: (q["reviewed"], q["agreed"], q.get("mean_error")) for q in doc["questions"]}
    assert found == {"hat": (2, 1, None), "people": (1, 0, 1.0), "posture": (1, 0, None),
                     "board": (0, 0, None)}


def analysis_with(engine, analysis_id):
    with session_scope(engine) as session:
        return session.get(Analysis, analysis_id)


def test_agreement_per_question(engine):
    """Test reviewed, agreed and the mean error: an invalid or missing model answer disagrees,
    cannot tell on both sides agrees, text agrees ignoring case and spaces."""
    analysis_id = _stored(engine)
    review_answer(engine, analysis_id, 0.0, "people", ANA, value="2")  # model 2: agrees
    review_answer(engine, analysis_id, 0.04, "people", ANA, value="5")  # model 3: off by 2
    review_answer(engine, analysis_id, 0.16, "people", ANA, value="1")  # model -1 (invalid)
    review_answer(engine, analysis_id, 0.16, "hat", ANA, value="cannot_tell")  # agrees
    review_answer(engine, analysis_id, 0.0, "board", ANA, value="safety  first")  # agrees
    review_answer(engine, analysis_id, 0.04, "board", ANA, value="EXIT")  # model said nothing
    found = agreement(QUESTIONS, load_model_answers(engine, analysis_id),
                      load_reviews(engine, analysis_id))
    assert found == {"hat": {"reviewed": 1, "agreed": 1},
                     "people": {"reviewed": 3, "agreed": 1, "mean_error": pytest.approx(4 / 3)},
                     "posture": {"reviewed": 0, "agreed": 0},
                     "board": {"reviewed": 2, "agreed": 1}}
    answered = load_answered(engine, analysis_id, None)
    assert answered is not None
    assert [(d["reviewed"], d["agreed"]) for d in questions_document(answered)] == [
        (1, 1), (3, 1), (0, 0), (2, 1)]


def test_a_detection_is_marked_wrong_and_right_again(engine):
    """Test that an Image Analysis detection marked wrong is listed as wrong until marked
    right again; an unknown detection is refused."""
    analysis_id = add_analysis(engine, analyzer="azure")
    with session_scope(engine) as session:
        session.add(frame_row(analysis_id, 0, remote_analysed=True))
        found = detection_row(analysis_id, 0, "object", "car")
        session.add(found)
        session.flush()
        detection_id = found.id
    review_detection(engine, analysis_id, detection_id, ANA)
    assert wrong_detections(engine, analysis_id) == {detection_id}
    assert load_detections(engine, analysis_id).empty  # no box, count, tag or segment from it
    review_detection(engine, analysis_id, detection_id, EVE, wrong=False)
    assert wrong_detections(engine, analysis_id) == set()
    assert load_detections(engine, analysis_id)["label"].tolist() == ["car"]
    with pytest.raises(ReviewError, match="no detection"):
        review_detection(engine, analysis_id, detection_id + 99, ANA)
    assert _count(engine, Detection) == 1


def test_notes_and_corrections_go_with_their_analysis(engine, settings):
    """Test that deleting an analysis deletes its notes, their history and its corrections."""
    from services.storage.factory import make_blob_store

    analysis_id = _stored(engine)
    kept = add_analysis(engine)
    note = add_note(engine, analysis_id, 0.5, "gone", ANA)
    edit_note(engine, note.id, "gone too", ANA)
    add_note(engine, kept, 0.5, "stays", ANA)
    review_answer(engine, analysis_id, 0.0, "hat", ANA)
    delete_analysis(engine, make_blob_store(settings), analysis_id)
    assert (_count(engine, Note), _count(engine, NoteEdit), _count(engine, Correction)) == (
        1, 0, 0)


def test_search_finds_answers_in_force_and_notes(engine):
    """Test that search finds a reviewed text answer by its reviewed value and no longer by the
    model's, and finds notes by text or topic (not deleted ones), linking to the note."""
    from services.insights.search import search

    analysis_id = _stored(engine)
    find = lambda words, **kw: search(engine, words, public_url="http://app",  # noqa: E731
                                      min_confidence=0.5, **kw)
    assert [r.label for r in find("safety")] == ["board: SAFETY FIRST"]
    review_answer(engine, analysis_id, 0.0, "board", EVE, value="Danger zone")
    review_answer(engine, analysis_id, 0.0, "board", ANA, value="Danger: wet floor")
    assert find("safety") == []
    assert [r.label for r in find("zone")] == []  # replaced by the newer correction
    assert [(r.label, r.start_s) for r in find("wet")] == [("board: Danger: wet floor", 0.0)]
    note = add_note(engine, analysis_id, 1.25, "Wet floor sign missing", ANA, about="board")
    gone = add_note(engine, analysis_id, 1.5, "wet again", ANA)
    delete_note(engine, gone.id, ANA)
    found = find("WET")
    assert [(r.kind, r.label, r.start_s) for r in found] == [
        ("answer", "board: Danger: wet floor", 0.0), ("note", "Wet floor sign missing", 1.25)]
    assert found[1].author == ANA and found[1].link == (
        f"http://app/results?analysis={analysis_id}&t=1.25&note={note.id}")
    assert [r.kind for r in find("board", kinds=("note",))] == ["note"]  # by its topic
    assert [r.kind for r in find("wet", kinds=("answer",))] == ["answer"]


def test_compare_shows_each_sides_agreement_with_the_reviews(engine):
    """Test that compare's summary of a question adds reviewed and agreed per analysis, from
    that analysis's reviews, and that its answers are those in force."""
    from services.insights.compare import compare

    a, b = _stored(engine), _stored(engine)
    review_answer(engine, a, 0.0, "people", ANA, value="2")  # the model said 2
    review_answer(engine, a, 0.04, "people", ANA, value="7")  # the model said 3
    people = next(q for q in compare(engine, a, b, 0.5).questions if q.key == "people")
    assert (people.summary_a["reviewed"], people.summary_a["agreed"]) == (2, 1)
    assert people.summary_a["mean_error"] == 2.0
    assert (people.summary_b["reviewed"], people.summary_b["agreed"]) == (0, 0)
    assert people.summary_a["mean"] == pytest.approx((2 + 7 + 0) / 3)  # in force: 2, 7, 0
