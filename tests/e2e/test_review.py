"""Reviewing together in real browsers: two analysts, each signed in in their own browser
context, leave a note and a correction on the same Azure OpenAI analysis, see each other's after
a refresh, read the agreement per question, and follow a note's link to its moment."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from services.review.corrections import load_reviews
from services.review.notes import list_notes
from tests.e2e import ui
from tests.e2e.test_signin import _auth_secrets, _sign_in_as, oidc_provider  # noqa: F401
from tests.fixtures.openai_emulator import OpenAIEmulator
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video

pytestmark = [pytest.mark.e2e,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # authlib, in the mock

ANA, EVE = "ana@example.com", "eve@elsewhere.example"  # the provider's two users
QUESTIONS = [{"key": "bright", "text": "Is the frame bright?", "type": "yes_no"},
             {"key": "level", "text": "How light is it?", "type": "count"}]


@pytest.fixture(scope="module")
def emulator():
    with OpenAIEmulator(tpm=None, rpm=None) as running:
        yield running


@pytest.fixture(scope="module")
def server(start_server, emulator, oidc_provider, tmp_path_factory):  # noqa: F811
    """A server with sign-in for both analysts and an analysis of 4 frames at 0, 1, 2 and 3 s
    (red, then blue: dim, the emulator answers bright "no"), run by the CLI (no embedded
    worker)."""
    server = start_server({"FRAMEWISE_ALLOWED_USERS": f"{ANA}, {EVE}",
                           "FRAMEWISE_EMBEDDED_WORKER": "0", **ui.openai_settings(emulator)},
                          secrets=_auth_secrets(oidc_provider))
    folder = tmp_path_factory.mktemp("review")
    video = make_video(folder / "lights.mp4", seconds=4, fps=10, pattern="cuts", cuts=(2.0,))
    questions = folder / "questions.json"
    questions.write_text(json.dumps(QUESTIONS), encoding="utf-8")
    done = server.cli("analyze", str(video), "--analyzer", "openai", "--questions",
                      str(questions), "--no-caption", "--no-tags")
    assert done["status"] == "succeeded", done
    server.analysis_id = done["analysis_id"]
    return server


def _signed_in(new_context, server, sub: str, t: str):
    """A browser context of its own, signed in as `sub`, on the results page at second t."""
    page = new_context().new_page()
    ui.goto(page, f"{server.url}/results?analysis={server.analysis_id}&t={t}")
    _sign_in_as(page, sub)
    expect(page.get_by_role("heading", name="Notes")).to_be_visible()
    return page


def _add_note(page, text: str) -> None:
    page.get_by_test_id("stTextArea").filter(has_text="Note at").locator("textarea").fill(text)
    page.get_by_role("button", name="Add note").click()
    ui.wait_for_run(page)


def _review(page, *, right: bool, answer: str | None = None) -> None:
    """Review the first question (bright) on the selected frame."""
    review = ui.open_expander(page, "Review an answer on this frame")
    if answer is not None:
        review.get_by_test_id("stRadio").get_by_text(answer, exact=True).click()
        ui.wait_for_run(page)
    review.get_by_role("button", name="The model is right" if right else "Set this answer").click()
    ui.wait_for_run(page)


def _stored(server, notes: int, reviews: int) -> None:
    """Wait until the clicks' runs have stored them: a loaded machine may start a run later
    than the page's wait for it, and a refresh before would miss it."""
    engine = server.services.engine
    wait_for(lambda: (len(list_notes(engine, server.analysis_id)),
                      len(load_reviews(engine, server.analysis_id))) == (notes, reviews),
             f"{notes} notes and {reviews} reviews stored", timeout=60)


def test_two_analysts_review_together(server, new_context, steps):
    ana = _signed_in(new_context, server, "ana", "0")
    eve = _signed_in(new_context, server, "eve", "3")
    _add_note(ana, "Red light: is that a warning?")
    _review(ana, right=False, answer="yes")  # the model said no at 0 s (red)
    _stored(server, 1, 1)
    steps.shot(ana, "ana-note-and-correction")
    _add_note(eve, "White from here on")
    _review(eve, right=True)  # the model's answer at 3 s (blue) stands
    _stored(server, 2, 2)
    steps.shot(eve, "eve-note-and-correction")

    for page, other, text in ((ana, EVE, "White from here on"),
                              (eve, ANA, "Red light: is that a warning?")):
        page.reload()
        ui.wait_for_run(page)
        expect(page.get_by_text(text)).to_be_visible()
        expect(page.get_by_test_id("stMain")).to_contain_text(other)
    agreement = ana.get_by_test_id("stDataFrame").locator("table[role='grid']").filter(
        has_text="share agreed")  # the grid's accessible table (it draws on a canvas)
    expect(agreement).to_contain_text("bright")
    # bright: 2 reviewed, 1 agreed (Ana's "yes" against the model's "no"), a share of 0.5.
    expect(agreement).to_contain_text(re.compile(r"bright\s*2\s*1\s*0\.5"))
    steps.shot(ana, "each-others-after-refresh")
    answers = ui.exported(server, server.analysis_id, "answers")
    rows = ui.csv_rows(answers)
    first, last = rows[0], rows[3]
    assert (first["bright"], first["bright_model"], first["bright_reviewed_by"]) == (
        "yes", "no", ANA)
    assert (last["bright"], last["bright_reviewed_by"]) == (last["bright_model"], EVE)

    link = eve.get_by_test_id("stCode").filter(has_text="note=").first.inner_text().strip()
    assert re.search(r"&t=0&note=\d+$", link), link  # Ana's note, the first in time order
    ui.goto(eve, link.replace("http://localhost:8501", server.url))
    expect(eve.get_by_text("Linked note")).to_be_visible()
    assert ui.query(eve)["t"] == "0"
    steps.shot(eve, "followed-note-link")
