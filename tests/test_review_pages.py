"""Notes and corrections on the results page (AppTest on real services, two signed-in analysts):
a note at the selected moment and a correction in the frame viewer, each with its author, seen
by the other after a refresh; a note's link opens the page at its moment with the note
highlighted; only its author edits or deletes a note; untrusted note text stays inert; the
agreement per question."""

from __future__ import annotations

import json

import pytest
import streamlit as st

from components.text import escape_markdown
from services.db import session_scope
from services.domain import AnalyzerKind
from services.models import Analysis
from services.review.corrections import load_reviews
from services.review.models import MAX_NOTE
from services.review.notes import add_note, list_notes, note_history
from tests.fixtures.apptest import open_page, shown
from tests.fixtures.signin import signin_app
from tests.test_answers import _stored

ANA = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}
EVE = {"is_logged_in": True, "email": "eve@example.com", "name": "Eve"}
HOSTILE = "[click](javascript:alert(1)) <img src=x onerror=alert(1)> **bold** :red[x]"


@pytest.fixture
def analysis(app_services, monkeypatch) -> str:
    """An Azure OpenAI analysis with four questions answered on frames 0, 1, 2 and 4 (frame 3
    refused; tests/test_answers.py), in the app's database; two analysts may sign in."""
    monkeypatch.setenv("FRAMEWISE_ALLOWED_USERS", "@example.com")
    st.cache_resource.clear()
    analysis_id = _stored(app_services.engine)
    with session_scope(app_services.engine) as session:
        row = session.get(Analysis, analysis_id)
        row.analyzer, row.status = AnalyzerKind.openai, "succeeded"
    return analysis_id


def _page(user: dict, analysis_id: str, **query: str):
    return open_page("results", at=signin_app(user=user), analysis=analysis_id, **query)


def _button(at, label: str):
    return next(b for b in at.button if b.proto.label == label)


def _markdown(at) -> str:
    return "\n".join(shown(m.value) for m in at.markdown)


def test_two_analysts_leave_notes_and_corrections_and_see_each_others(app_services, analysis):
    """Test that Ana's note (at the selected moment) and correction, and Eve's, are stored with
    their authors, that each sees the other's after a refresh, and the agreement per question."""
    engine = app_services.engine
    ana = _page(ANA, analysis, t="0.04")
    ana.text_area[0].input("Hat missing on the left")  # a form: sent with its button
    ana.selectbox(key=f"note_about_{analysis}").set_value("hat")
    _button(ana, "Add note").click().run()
    assert not ana.exception, ana.exception
    ana.selectbox(key=f"review_q_{analysis}").set_value("people").run()
    ana.number_input(key=f"review_value_{analysis}_people").set_value(5).run()
    _button(ana, "Set this answer").click().run()
    assert not ana.exception, ana.exception

    eve = _page(EVE, analysis, t="0")
    assert "Hat missing on the left" in _markdown(eve) and "ana@example.com" in _markdown(eve)
    assert not any(b.proto.label == "Delete" for b in eve.button)  # not her note
    _button(eve, "The model is right").click().run()  # hat, the first question, at 0 s
    eve.text_area[0].input("Board readable here")
    _button(eve, "Add note").click().run()
    assert not eve.exception, eve.exception

    assert [(n.at_s, n.author, n.about) for n in list_notes(engine, analysis)] == [
        (0.0, "eve@example.com", None), (0.04, "ana@example.com", "hat")]
    assert [(r.frame_index, r.question_key, r.number, r.author)
            for r in load_reviews(engine, analysis).itertuples()] == [
        (1, "people", 5.0, "ana@example.com"), (0, "hat", 1.0, "eve@example.com")]

    ana.run()  # a refresh: Eve's note and correction are there
    assert "Board readable here" in _markdown(ana) and "eve@example.com" in _markdown(ana)
    agreement = next(d.value for d in ana.dataframe if "share_agreed" in d.value.columns)
    rows = {r.question: (r.reviewed, r.agreed) for r in agreement.itertuples()}
    assert rows == {"hat": (1, 1), "people": (1, 0), "posture": (0, 0), "board": (0, 0)}
    reviewed = next(d.value for d in ana.dataframe if "by" in d.value.columns)
    assert reviewed.to_dict("records") == [{"question": "How many people?", "reviewed": "5",
                                            "model": "3", "by": "ana@example.com"}]


def test_a_note_link_opens_its_moment_with_the_note_highlighted_and_inert(app_services,
                                                                        analysis):
    """Test that ?note= highlights that note, ?t= sets the moment, hostile text stays text,
    and the note's own share link carries its moment and id."""
    note = add_note(app_services.engine, analysis, 0.16, HOSTILE, "ana@example.com")
    at = _page(EVE, analysis, t="0.16", note=str(note.id))
    assert at.select_slider[0].value == 0.16
    heads = [m.value for m in at.markdown if "Linked note" in m.value]
    assert len(heads) == 1 and "ana\\@example\\.com" in heads[0]
    body = next(m.value for m in at.markdown if "javascript" in m.value)
    assert body == escape_markdown(HOSTILE, MAX_NOTE)  # every Markdown character escaped
    assert shown(body) == HOSTILE
    links = [c.value for c in at.code if f"note={note.id}" in c.value]
    assert links == [f"http://localhost:8501/results?analysis={analysis}&t=0.16&note={note.id}"]


def test_only_the_author_edits_or_deletes_a_note_and_its_history_is_kept(app_services,
                                                                       analysis):
    """Test the author's Edit and Delete: the old text kept in the note's history."""
    note = add_note(app_services.engine, analysis, 0.0, "first words", "ana@example.com")
    at = _page(ANA, analysis)
    at.text_area(key=f"note_edit_text_{note.id}").input("better words")
    _button(at, "Save").click().run()
    assert not at.exception, at.exception
    assert [n.text for n in list_notes(app_services.engine, analysis)] == ["better words"]
    # Everyone sees what it said before, beside what it says now.
    eve = _page(EVE, analysis)
    earlier = next(e for e in eve.expander if e.label == "Earlier versions (1)")
    assert [m.value for m in earlier.markdown] == ["first words"]
    _button(at, "Delete").click().run()
    assert not at.exception, at.exception
    assert list_notes(app_services.engine, analysis) == []
    assert [(h.action, h.text) for h in note_history(app_services.engine, note.id)] == [
        ("edit", "first words"), ("delete", "better words")]


def test_the_search_page_finds_a_note_and_shows_it_as_text(app_services, analysis):
    """Test that a note with hostile text and author is found by the Search page, shown as
    text, with its author and a link that highlights it."""
    note = add_note(app_services.engine, analysis, 0.08, HOSTILE, "**eve** <b>@example.com")
    at = open_page("search", at=signin_app(user=ANA), q="onerror", kind="note")
    assert not at.exception, at.exception
    card = next(m.value for m in at.markdown if "note by" in m.value)
    assert card == (f"**{escape_markdown(HOSTILE, 200)}**  \n"
                    f"note by {escape_markdown('**eve** <b>@example.com', 120)} in clip\\.mp4")
    [button] = at.get("link_button")
    assert button.proto.url.endswith(f"&t=0.08&note={note.id}")



def _chart_texts(at) -> dict[str, str]:
    """Each titled chart's title, and everything it holds (spec and data) as text."""
    found = {}
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title", {})
        if isinstance(title, dict) and title.get("text"):
            data = b"".join(d.data.data for d in chart.proto.datasets)
            found[title["text"]] = chart.proto.spec + data.decode("utf-8", "replace")
    return found


def test_notes_are_marked_on_the_answer_charts_of_their_question(app_services, analysis):
    """Test that a note about a question is marked on that question's chart only, and a note
    about the moment on every question's chart."""
    engine = app_services.engine
    add_note(engine, analysis, 0.04, "Hat off here", "ana@example.com", about="hat")
    add_note(engine, analysis, 0.08, "Camera shakes", "eve@example.com")
    charts = _chart_texts(_page(ANA, analysis))
    assert len(charts) >= 2, list(charts)
    for title, text in charts.items():
        assert "Camera shakes" in text, title
        assert ("Hat off here" in text) == title.lower().startswith("is anyone"), title
