"""Question sets as data: keys, types, choices, the strict schema, and answers checked."""

from __future__ import annotations

import json

import pytest

from services.questions import (
    CANNOT_TELL,
    Answer,
    Question,
    QuestionError,
    check_answer,
    check_answers,
    load_questions_file,
    make_key,
    parse_questions,
    questions_from_json,
    questions_prompt,
    questions_to_json,
    response_schema,
)

SITE_SAFETY = [
    {"text": "Is anyone not wearing a hard hat?", "type": "yes_no"},
    {"key": "people", "text": "How many people are on the platform?", "type": "count"},
    {"text": "Posture of the main person", "type": "choice",
     "choices": "standing / sitting / bending / lying"},
    {"key": "crowding", "text": "Rate the crowding", "type": "score"},
    {"text": "What is written on the whiteboard?", "type": "text"},
]


def test_a_question_set_gets_stable_keys_and_typed_choices():
    """Test that keys come from the text when not given, choices split from a typed cell."""
    questions = parse_questions(SITE_SAFETY)
    assert [q.key for q in questions] == ["is_anyone_not_wearing_a_hard_hat", "people",
                                         "posture_of_the_main_person", "crowding",
                                         "what_is_written_on_the_whiteboard"]
    assert questions[2].choices == ("standing", "sitting", "bending", "lying")
    assert questions_from_json(questions_to_json(questions)) == questions


def test_made_keys_are_ascii_start_with_a_letter_and_never_clash():
    """Test that keys made from texts are safe column names and distinct from given ones."""
    assert make_key("Ist jemand ohne Helm? Über 5 Meter!") == "ist_jemand_ohne_helm_uber_5_meter"
    assert make_key("3 people?") == "q_3_people"
    assert make_key("Сколько людей?") == "question"  # nothing ASCII left
    questions = parse_questions([{"text": "people", "type": "count"},
                                 {"key": "people", "text": "How many?", "type": "count"},
                                 {"text": "People", "type": "count"}])
    assert [q.key for q in questions] == ["people_2", "people", "people_3"]


@pytest.mark.parametrize("items, reason", [
    ([], "no questions"),
    ("not a list", "must be a list"),
    ([{"text": "", "type": "count"}], "has no text"),
    ([{"text": "a", "type": "rating"}], "has type 'rating'"),
    ([{"text": "a", "type": "choice", "choices": ["only"]}], "2 to 20 different choices"),
    ([{"text": "a", "type": "count", "choices": ["x", "y"]}], "only a choice question"),
    ([{"key": "A b", "text": "a", "type": "count"}], "lower-case letters"),
    ([{"key": "x", "text": "a", "type": "count"}, {"key": "x", "text": "b", "type": "count"}],
     "repeats the key 'x'"),
    ([{"key": "timestamp_s", "text": "a", "type": "number"}], "answers table uses already"),
    ([{"text": "a", "type": "yes_no", "colour": "red"}], "unknown fields: colour"),
    ([{"text": "a", "type": "choice", "choices": ["x", CANNOT_TELL]}], "reserved"),
    ([{"text": f"q{i}", "type": "count"} for i in range(21)], "at most 20"),
])
def test_a_bad_question_set_is_refused_with_one_line(items, reason):
    """Test that each kind of bad question set gets a one-line reason naming the question."""
    with pytest.raises(QuestionError) as info:
        parse_questions(items)
    assert reason in str(info.value) and "\n" not in str(info.value)


def _objects(schema: dict):
    yield schema
    for value in schema.get("properties", {}).values():
        yield from _objects(value)


def test_the_schema_is_azure_strict_and_every_type_can_abstain():
    """Test that every object lists all its properties as required and allows nothing more, no
    ranges are used, and each answer can say cannot tell."""
    questions = parse_questions(SITE_SAFETY + [{"text": "Distance in metres", "type": "number"}])
    schema = response_schema(questions, caption=True, tags=True)
    for node in _objects(schema):
        if node.get("type") == "object":
            assert set(node["required"]) == set(node["properties"])
            assert node["additionalProperties"] is False
        assert not {"minimum", "maximum", "pattern"} & set(node)
    answers = schema["properties"]["answers"]["properties"]
    for q in questions:
        prop = answers[q.key]
        assert CANNOT_TELL in prop.get("enum", []) or "null" in prop["type"], q.key
    assert answers["posture_of_the_main_person"]["enum"][:4] == ["standing", "sitting",
                                                                "bending", "lying"]
    assert set(schema["required"]) == {"answers", "caption", "tags"}
    assert list(response_schema(questions)["properties"]) == ["answers"]
    assert all(q.key in questions_prompt(questions) for q in questions)


def test_answers_out_of_range_are_kept_and_marked_invalid():
    """Test that a negative count, a score of 12, a fractional count, an unlisted choice and a
    wrong type are kept as given and marked invalid, never fixed."""
    q = {x.key: x for x in parse_questions(SITE_SAFETY + [{"key": "m", "text": "m",
                                                          "type": "number"}])}
    posture, hat = q["posture_of_the_main_person"], q["is_anyone_not_wearing_a_hard_hat"]
    assert check_answer(q["people"], -1) == Answer("people", -1.0, None, valid=False)
    assert check_answer(q["people"], 2.5) == Answer("people", 2.5, None, valid=False)
    assert check_answer(q["crowding"], 12) == Answer("crowding", 12.0, None, valid=False)
    assert check_answer(posture, "kneeling") == Answer(posture.key, None, "kneeling", False)
    assert check_answer(q["people"], "three") == Answer("people", None, "three", valid=False)
    assert check_answer(hat, "maybe").valid is False
    assert check_answer(q["m"], -3.5) == Answer("m", -3.5, None)  # any number is a number


def test_valid_answers_and_cannot_tell():
    """Test that in-range answers are valid, yes/no carry 1/0, and cannot tell is no value."""
    q = {x.key: x for x in parse_questions(SITE_SAFETY)}
    hat = q["is_anyone_not_wearing_a_hard_hat"]
    assert check_answer(hat, "yes") == Answer(hat.key, 1.0, "yes")
    assert check_answer(hat, "no") == Answer(hat.key, 0.0, "no")
    assert check_answer(q["crowding"], 10) == Answer("crowding", 10.0, None)
    assert check_answer(q["people"], 0).valid
    for value in (None, CANNOT_TELL):
        assert check_answer(hat, value).cannot_tell
        assert check_answer(q["people"], value).cannot_tell
    answers = check_answers(q.values(), {"people": 3})
    assert [a.valid for a in answers] == [False, True, False, False, False]  # left out: invalid
    assert not any(a.cannot_tell for a in answers if a.key != "people")


def test_a_questions_file_is_read_or_refused_in_one_line(tmp_path):
    """Test the CLI's --questions FILE: JSON list read; unreadable or not JSON refused."""
    good = tmp_path / "q.json"
    good.write_text(json.dumps(SITE_SAFETY), encoding="utf-8")
    assert len(load_questions_file(good)) == 5
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    for path, reason in ((bad, "not JSON"), (tmp_path / "none.json", "cannot read")):
        with pytest.raises(QuestionError, match=reason):
            load_questions_file(path)


def test_question_as_dict_round_trip():
    """Test that a question's dict names only what it has (no empty choices)."""
    assert Question("a", "A?", "count").as_dict() == {"key": "a", "text": "A?", "type": "count"}
