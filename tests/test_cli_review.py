"""`cli.py note` and `cli.py review` as a user runs them: one JSON line, the author from --user,
FRAMEWISE_USER or `local`; bad input one `error:` line, exit 2, nothing written."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from services.review.corrections import load_reviews
from services.review.models import Correction, Note
from services.review.notes import list_notes
from tests.fixtures.cli import cli
from tests.test_answers import _stored


@pytest.fixture
def stored(env, engine, database_url):
    """An analysis with questions and answers, in the database the CLI uses."""
    return {**env, "DATABASE_URL": database_url}, engine, _stored(engine)


def _line(done) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_note_and_review_store_their_author(stored):
    """Test a note and corrections from the CLI: the author from --user, else FRAMEWISE_USER,
    else local; the correction lands on the analysed frame nearest --at."""
    env, engine, aid = stored
    first = _line(cli(env, "note", aid, "--at", "0.5", "Пожарный выход blocked", "--about",
                      "hat"))
    assert (first["author"], first["at_s"], first["about"]) == ("local", 0.5, "hat")
    _line(cli({**env, "FRAMEWISE_USER": "eve@example.com"}, "note", aid, "--at", "1", "two"))
    _line(cli({**env, "FRAMEWISE_USER": "eve@example.com"}, "note", aid, "--at", "1.5", "three",
              "--user", "ana@example.com"))
    assert [(n.text, n.author) for n in list_notes(engine, aid)] == [
        ("Пожарный выход blocked", "local"), ("two", "eve@example.com"),
        ("three", "ana@example.com")]
    set_value = _line(cli(env, "review", aid, "--at", "0.05", "--question", "people", "--value",
                          "4", "--user", "ana@example.com"))
    assert (set_value["frame_index"], set_value["timestamp_s"], set_value["number"],
            set_value["verdict"]) == (1, 0.04, 4.0, "value")
    right = _line(cli(env, "review", aid, "--at", "0", "--question", "posture", "--right"))
    assert (right["text"], right["verdict"], right["author"]) == ("standing", "right", "local")
    reviews = load_reviews(engine, aid)
    assert [(r.question_key, r.author) for r in reviews.itertuples()] == [
        ("people", "ana@example.com"), ("posture", "local")]


@pytest.mark.parametrize(("args", "message"), [
    (("note", "{aid}", "--at", "0.5", "  "), "error: the note is empty"),
    (("note", "{aid}", "--at", "9", "late"), "error: 9 s is after the end of the video (2 s)"),
    (("note", "f" * 32, "--at", "0", "lost"), f"error: no analysis with id {'f' * 32}"),
    (("review", "{aid}", "--at", "0", "--question", "people", "--value", "many"),
     "error: people takes a whole number, 0 or more, not 'many'"),
    (("review", "{aid}", "--at", "0", "--question", "hair", "--value", "1"),
     "error: no question 'hair'; the analysis asked hat, people, posture, board"),
    (("review", "{aid}", "--at", "0", "--question", "hat", "--value", "no", "--right"),
     "error: give --value VALUE or --right (the model was right), not both"),
    (("review", "{aid}", "--at", "0", "--value", "no"),
     "error: review needs --at and --question (or --detection)"),
    (("review", "{aid}", "--detection", "99"), "error: no detection 99 in this analysis"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(stored, args, message):
    """Test each bad note or review: one line on stderr, exit 2, no row."""
    env, engine, aid = stored
    done = cli(env, *(a.replace("{aid}", aid) for a in args))
    assert (done.returncode, done.stderr.splitlines(), done.stdout) == (2, [message], "")
    with engine.connect() as conn:
        for table in (Note, Correction):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0
