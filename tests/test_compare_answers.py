"""Two analyses' answers compared question by question: summaries, and agreement on the same
moments of the same video (SQLite and PostgreSQL through compare())."""

from __future__ import annotations

from services.db import session_scope
from services.insights.compare import compare
from services.models import AnswerRow
from services.question_sets import question_rows
from services.questions import check_answer, parse_questions
from tests.fixtures.factories import add_analysis, add_video, frame_row

Q = parse_questions([
    {"key": "hat", "text": "Anyone without a hard hat?", "type": "yes_no"},
    {"key": "people", "text": "How many people?", "type": "count"},
    {"key": "board", "text": "Whiteboard?", "type": "text"},
])


def _analysis(engine, video_id: str, questions, values: dict[str, list]) -> str:
    analysis_id = add_analysis(engine, video_id)
    with session_scope(engine) as session:
        session.add_all(question_rows(analysis_id, questions))
        frames = len(next(iter(values.values())))
        for i in range(frames):
            session.add(frame_row(analysis_id, i, remote_analysed=True))
        by_key = {q.key: q for q in questions}
        for key, per_frame in values.items():
            for i, value in enumerate(per_frame):
                a = check_answer(by_key[key], value)
                session.add(AnswerRow(analysis_id=analysis_id, frame_index=i, question_key=key,
                                      number=a.number, text=a.text, valid=a.valid))
    return analysis_id


def test_answers_are_compared_question_by_question_on_the_same_moments(engine):
    """Test agreement over the moments both answered within the rules (cannot tell and invalid
    left out, text compared ignoring case and spaces), and a question only one asked."""
    video = add_video(engine)
    a = _analysis(engine, video.id, Q, {
        "hat": ["yes", "yes", "no", None, "maybe"],
        "people": [1, 2, 3, 4, 5],
        "board": ["EXIT", "Exit ", "no entry", None, "x"],
    })
    b = _analysis(engine, video.id, Q[:2] + parse_questions(
        [{"key": "mood", "text": "Mood", "type": "choice", "choices": ["calm", "busy"]}]), {
        "hat": ["yes", "no", "no", "yes", "yes"],
        "people": [1, 2, -1, 4, 6],
        "mood": ["calm", "busy", "calm", "calm", "busy"],
    })
    questions = {q.key: q for q in compare(engine, a, b, 0.5).questions}
    assert list(questions) == ["hat", "people", "board", "mood"]
    hat = questions["hat"]
    assert (hat.asked_by, hat.compared, hat.agreed) == ("both", 3, 2)  # frames 0, 1, 2
    assert hat.summary_a is not None and hat.summary_a["frames_invalid"] == 1
    people = questions["people"]
    assert (people.compared, people.agreed, people.agreement) == (4, 3, 0.75)  # -1 left out
    assert (questions["board"].asked_by, questions["board"].agreement) == ("a", None)
    assert questions["mood"].summary_a is None and questions["mood"].summary_b is not None
    document = compare(engine, a, b, 0.5).document()
    assert document["questions"][0]["key"] == "hat"


def test_analyses_of_different_videos_are_not_compared_moment_by_moment(engine):
    a = _analysis(engine, add_video(engine).id, Q[:1], {"hat": ["yes", "no"]})
    b = _analysis(engine, add_video(engine).id, Q[:1], {"hat": ["yes", "no"]})
    (hat,) = compare(engine, a, b, 0.5).questions
    assert (hat.compared, hat.agreement) == (0, None)
    assert hat.summary_a == hat.summary_b


def test_analyses_without_questions_compare_as_before(engine):
    video = add_video(engine)
    a, b = add_analysis(engine, video.id), add_analysis(engine, video.id)
    assert compare(engine, a, b, 0.5).questions == []
