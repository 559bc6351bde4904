"""Search across analyses (services/insights/search.py) over rows made by the pipeline, on SQLite
and PostgreSQL: segments, newest analyses first, case, wildcards, kinds, confidence and limit."""

from __future__ import annotations

import pytest

from services.db import session_scope
from services.insights.search import like_pattern, search
from services.models import AnswerRow, Status
from services.question_sets import question_rows
from services.questions import check_answers, parse_questions
from tests.fixtures.factories import add_analysis, detection_row, frame_row
from tests.fixtures.library import SALE_LINE, WORD_LINE

BASE = "http://framewise.test"


def find(library, query: str, **kwargs):
    kwargs.setdefault("min_confidence", 0.5)
    return search(library.services.engine, query, public_url=BASE, **kwargs)


def test_a_word_in_one_stretch_of_the_second_analysis_is_exactly_one_segment(scene_library):
    """Test that 'zebra' finds one segment of analysis b, 3 s to 5 s, with a link to 3 s."""
    [hit] = find(scene_library, "zebra")
    assert hit.document() == {
        "analysis_id": scene_library.b, "video": "crossing.mp4", "kind": "text_line",
        "label": WORD_LINE, "start_s": 3.0, "end_s": 5.0, "frames": 3,
        "max_confidence": pytest.approx(0.97),
        "link": f"{BASE}/results?analysis={scene_library.b}&t=3",
    }
    assert hit.thumbnail_key.endswith("/thumbs/0000003.jpg")
    assert [h.label for h in find(scene_library, "ZeBrA CROSS")] == [WORD_LINE]


def test_results_are_newest_analyses_first_and_in_time_order(scene_library):
    """Test that a label of both analyses lists b's segments before a's."""
    hits = find(scene_library, "furniture")
    assert [(h.analysis_id, h.kind, h.start_s, h.end_s) for h in hits] == [
        (scene_library.b, "tag", 0.0, 7.0), (scene_library.a, "tag", 0.0, 7.0)]
    captions = find(scene_library, "wearing a mask", kinds=("caption",))
    assert [h.analysis_id for h in captions] == [scene_library.b, scene_library.a]
    assert {h.frames for h in captions} == {8}


def test_wildcards_in_the_query_match_only_themselves(scene_library):
    """Test that %, _ and [ in a query are literal characters, not LIKE patterns."""
    for query in ("%", "_", "50%_off", "[today]", "[t"):
        assert [h.label for h in find(scene_library, query)] == [SALE_LINE], query
    assert find(scene_library, "50%x") == [] and find(scene_library, "[x]") == []
    assert like_pattern(" A%b_[c\\ ") == "%a\\%b\\_\\[c\\\\%"


def test_kind_minimum_confidence_and_limit(scene_library):
    """Test that --kind keeps one kind, the confidence drops weak labels, and limit caps rows."""
    person = find(scene_library, "person")
    assert {h.kind for h in person} == {"tag", "object", "person", "caption"}
    assert {h.kind for h in find(scene_library, "person", kinds=("object",))} == {"object"}
    assert len(find(scene_library, "using")) == 2  # the 0.536 tag, in both analyses
    assert find(scene_library, "using", min_confidence=0.6) == []
    assert len(find(scene_library, "person", limit=2)) == 2
    assert find(scene_library, "   ") == [] and find(scene_library, "no such thing") == []
    with pytest.raises(ValueError, match="unknown kind"):
        find(scene_library, "x", kinds=("smart_crop",))


def test_case_is_ignored_in_every_script(engine):
    """Test that search folds case in Cyrillic, Greek and accented Latin, not ASCII only (SQLite's
    own lower() folds ASCII only)."""
    aid = add_analysis(engine, analyzer="azure", status=Status.succeeded)
    labels = ("ПЕШЕХОДНЫЙ ПЕРЕХОД", "Οδός Ερμού", "CAFÉ CRÈME")
    with session_scope(engine) as session:
        session.add(frame_row(aid, 0, remote_analysed=True))
        session.add_all(detection_row(aid, 0, "text_line", label) for label in labels)
    for query, label in (("пешеходный", labels[0]), ("ΕΡΜΟΎ", labels[1]),
                         ("café crème", labels[2])):
        found = search(engine, query, public_url=BASE, min_confidence=0.5)
        assert [h.label for h in found] == [label], query


def test_results_stay_newest_first_across_many_analyses(engine):
    """Test that with more analyses than one round reads, results keep newest-first order and a
    small limit returns the first results of the full answer."""
    from bench.search import build_library

    build_library(engine, n_analyses=30, frames_each=10, detections_each=70)
    every = search(engine, "tag07", public_url=BASE, min_confidence=0.0, limit=100_000)
    created = [h.created_at for h in every]
    assert len({h.analysis_id for h in every}) > 8  # more than the first round reads
    assert created == sorted(created, reverse=True) and len(every) > 15
    first = search(engine, "tag07", public_url=BASE, min_confidence=0.0, limit=15)
    assert [h.document() for h in first] == [h.document() for h in every[:15]]


ASKED = parse_questions([
    {"key": "posture", "text": "Posture?", "type": "choice", "choices": ["standing", "kneeling"]},
    {"key": "sign", "text": "What does the sign say?", "type": "text"},
    {"key": "hat", "text": "Is anyone without a hard hat?", "type": "yes_no"},
])


def _answered(engine, per_frame: dict[int, tuple], refused: int | None = None) -> str:
    """An Azure OpenAI analysis with the ASKED answers given per frame (posture, sign, hat)."""
    aid = add_analysis(engine, analyzer="openai", status=Status.succeeded)
    with session_scope(engine) as session:
        session.add_all(question_rows(aid, ASKED))
        for i in range(max(per_frame) + 1):
            session.add(frame_row(aid, i, remote_analysed=i != refused,
                                  thumbnail_key=f"analyses/{aid}/thumbs/{i:07d}.jpg"))
        for i, values in per_frame.items():
            for answer in check_answers(ASKED, dict(zip(("posture", "sign", "hat"), values,
                                                        strict=True))):
                session.add(AnswerRow(analysis_id=aid, frame_index=i, question_key=answer.key,
                                      number=answer.number, text=answer.text,
                                      valid=answer.valid))
    return aid


def test_text_answers_and_choices_are_found_as_answer_segments(engine):
    """Test that search finds a text answer and a choice in any case and script, as segments of
    consecutive frames with the same answer (a refused frame, not analysed, neither breaks nor
    joins a run), kind answer, no confidence, linking to the first frame; yes/no answers and
    answers that broke the rules are not found; --kind answer keeps only them."""
    aid = _answered(engine, {
        0: ("standing", "ПОЖАРНЫЙ ВЫХОД", "no"), 1: ("kneeling", "ПОЖАРНЫЙ ВЫХОД", "no"),
        2: ("kneeling", None, "no"), 4: ("kneeling", "пожарный выход", "yes"),
        5: ("crawling", "Exit", "no"),
    }, refused=3)
    signs = find_in(engine, "пожарный")
    assert [(h.label, h.start_s, h.end_s, h.frames) for h in signs] == [
        ("sign: ПОЖАРНЫЙ ВЫХОД", 0.0, 0.04, 2), ("sign: пожарный выход", 0.16, 0.16, 1)]
    [kneeling] = find_in(engine, "KNEEL")
    assert kneeling.document() == {
        "analysis_id": aid, "video": "clip.mp4", "kind": "answer", "label": "posture: kneeling",
        "start_s": 0.04, "end_s": 0.16, "frames": 3, "max_confidence": None,
        "link": f"{BASE}/results?analysis={aid}&t=0.04",
    }
    assert kneeling.thumbnail_key == f"analyses/{aid}/thumbs/0000001.jpg"
    assert find_in(engine, "crawling") == []  # not a listed choice: kept, marked invalid
    assert find_in(engine, "no") == [] and find_in(engine, "yes") == []  # yes/no answers
    assert [h.label for h in find_in(engine, "exit", kinds=("answer",))] == ["sign: Exit"]
    assert find_in(engine, "exit", kinds=("caption", "text_line")) == []


def find_in(engine, query: str, **kwargs):
    return search(engine, query, public_url=BASE, min_confidence=0.9, **kwargs)
