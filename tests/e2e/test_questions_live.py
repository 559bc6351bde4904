"""Answers fill in while the analysis runs: the results page, open in Chromium, charts the
answers stored so far and keeps drawing the rest as they arrive, with no reload.

The chat-completions emulator answers the first frames and holds the others (as a slow
deployment would) until the test has seen the partial chart; then it answers them all."""

from __future__ import annotations

import json
import threading

import pytest
from playwright.sync_api import expect

from tests.e2e import ui
from tests.fixtures.openai_emulator import OpenAIEmulator
from tests.fixtures.tools import wait_for
from tests.fixtures.videos import make_video

pytestmark = pytest.mark.e2e
ANSWERED_FIRST = 3  # red 0-2 s, blue 2-3 s: all dim, so "yes in 0%"; then green and white: 50%
BRIGHT = "Is the frame bright?"


class HeldEmulator(OpenAIEmulator):
    """Answers ANSWERED_FIRST requests, then holds each next one until `release` is set."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.release = threading.Event()
        self._arrived = 0
        self._count = threading.Lock()

    def handle(self, handler, raw: bytes, arrived: float) -> None:
        with self._count:
            self._arrived += 1
            held = self._arrived > ANSWERED_FIRST
        if held:
            self.release.wait(120)  # set by the test once it has seen the partial page
        super().handle(handler, raw, arrived)


@pytest.fixture(scope="module")
def emulator():
    with HeldEmulator(tpm=None, rpm=None) as running:
        yield running


@pytest.fixture(scope="module")
def server(start_server, emulator):
    return start_server(ui.openai_settings(emulator))


def test_answers_are_charted_as_they_arrive(server, emulator, page, steps, tmp_path):
    video = make_video(tmp_path / "lights.mp4", seconds=8, fps=10, pattern="cuts",
                       cuts=(2.0, 4.0, 6.0))
    questions = tmp_path / "questions.json"
    questions.write_text(json.dumps([{"key": "bright", "text": BRIGHT, "type": "yes_no"}]),
                         encoding="utf-8")
    queued = server.cli("analyze", str(video), "--analyzer", "openai", "--questions",
                        str(questions), "--no-caption", "--no-tags", "--no-wait")
    analysis_id = queued["analysis_id"]
    wait_for(lambda: emulator.requests >= ANSWERED_FIRST, "the first answers", timeout=60)
    try:
        ui.goto(page, f"{server.url}/results?analysis={analysis_id}")
        charts = page.get_by_test_id("stVegaLiteChart")
        expect(charts.filter(has_text="yes in 0% of the frames answered")).to_have_count(
            1, timeout=60_000)
        expect(page.get_by_test_id("stProgress")).to_have_count(1)  # still running
        steps.shot(page, "partial-answers")
    finally:
        emulator.release.set()
    # The same page, not reloaded, draws the rest: the green and white frames say yes.
    expect(page.get_by_test_id("stProgress")).to_have_count(0, timeout=60_000)
    # While the page redraws, the old chart and the new one may both be there for a moment.
    expect(charts.filter(has_text="yes in 50% of the frames answered")).to_have_count(
        1, timeout=60_000)
    expect(charts.filter(has_text=BRIGHT)).to_have_count(1)
    steps.shot(page, "all-answers")
    analysis = ui.wait_finished(server, analysis_id)
    assert analysis.status == "succeeded" and analysis.frames_done == 8, analysis.error_message
