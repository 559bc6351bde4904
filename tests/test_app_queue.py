"""The results page and the app process for the queue: what a run waits for, refused frames,
Retry, and secrets masked in the server's logs. AppTest on real services, runs made by the
pipeline with a scripted remote analyser (tests/fixtures/analyzers.py)."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from streamlit.testing.v1 import AppTest

from services.analysis import jobs
from services.analysis.worker import Worker
from services.context import Services
from services.models import Status
from services.upload.ingest import ingest_video
from services.vision.base import WaitState
from tests.fixtures.analyzers import ScriptedAnalyzer
from tests.fixtures.apptest import app, switch_to
from tests.fixtures.tools import wait_for
from tests.fixtures.workers import stored

ROOT = Path(__file__).resolve().parents[1]
SECRET = "fwk-5ec2e7-SECRET-vision-key-0042"


def results(aid: str) -> AppTest:
    at = app().run()
    assert not at.exception, at.exception
    switch_to(at, "results")
    at.query_params.update(analysis=aid)
    at.run()
    assert not at.exception, at.exception
    return at


def queued(services: Services, path: Path, frames: int) -> str:
    with path.open("rb") as stream:
        video = ingest_video(services.engine, services.store, stream, filename=path.name,
                             uploaded_by="local")
    return jobs.queue_analysis(services.engine, video_id=video.id, analyzer="azure",
                               created_by="local", sample_fps=2.0, max_frames=None,
                               frames_planned=frames).id


def worker_for(services: Services, remote: ScriptedAnalyzer) -> Worker:
    return Worker(engine=services.engine, store=services.store, settings=services.settings,
                  remote_factory=lambda analysis: remote)


def warnings(at: AppTest) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", str(w.value)) for w in at.warning]


def test_the_results_page_says_what_a_running_analysis_waits_for(app_services, video_factory):
    """Test that while the service throttles, the page says so with the frames analysed."""
    aid = queued(app_services, video_factory(seconds=4), 8)
    remote = ScriptedAnalyzer(hold_from=3, wait_state=WaitState("Azure AI Vision is throttling",
                                                                30.0))
    worker = worker_for(app_services, remote)
    runner = threading.Thread(target=worker.run_one, args=(aid,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: (a := jobs.get_analysis(app_services.engine, aid)).status_message
                 and a.frames_done == 3, "the wait to be recorded", timeout=30)
        shown = warnings(results(aid))
        assert any(re.fullmatch(r"Azure AI Vision is throttling: waiting (2\d|30) s; 3 of 8 "
                                r"frames analysed", w) for w in shown), shown
    finally:
        remote.release.set()
        runner.join(30)
    assert jobs.get_analysis(app_services.engine, aid).status == Status.succeeded
    assert not any("throttling" in w for w in warnings(results(aid)))


def test_the_results_page_counts_the_frames_the_service_refused(app_services, video_factory):
    """Test that a succeeded analysis with a refused frame says how many and why."""
    aid = queued(app_services, video_factory(seconds=2), 4)
    assert worker_for(app_services, ScriptedAnalyzer(refuse={1})).run_one(aid) == (
        aid, Status.succeeded)
    shown = warnings(results(aid))
    assert any(w.startswith("1 frame was not analysed: the service refused it (first reason: "
                            "Azure AI Vision refused the frame (400 InvalidImageFormat")
               for w in shown), shown


def test_retry_on_the_results_page_queues_a_failed_analysis_again(app_services, video_factory):
    """Test that Retry analysis re-queues a failed analysis, its stored frames kept."""
    aid = queued(app_services, video_factory(seconds=4), 8)
    assert worker_for(app_services, ScriptedAnalyzer(fail_at=3)).run_one(aid) == (
        aid, Status.failed)
    at = results(aid)
    assert "retry it" in str(at.error[0].value)
    at.button(key=f"retry_{aid}").click().run()
    assert not at.exception, at.exception
    row = jobs.get_analysis(app_services.engine, aid)
    assert (row.status, row.error_message, row.frames_done) == (Status.queued, None, 3)
    assert at.get("progress")  # the page now follows the queued analysis
    again = ScriptedAnalyzer()
    assert worker_for(app_services, again).run_one(aid) == (aid, Status.succeeded)
    assert sorted(again.seen) == [3, 4, 5, 6, 7]
    assert sorted(stored(app_services.engine, aid)) == list(range(8))


def test_the_app_masks_secrets_in_the_server_log(app_services, monkeypatch, caplog):
    """Test that once app.py has run, a log line of the server process carrying a secret
    setting's value shows *** instead (the production worker logs there)."""
    monkeypatch.setenv("AZURE_VISION_KEY", SECRET)
    at = app().run()
    assert not at.exception, at.exception
    with caplog.at_level(logging.INFO):
        logging.getLogger("services.analysis.worker").warning("answer for key %s", SECRET)
    assert SECRET not in caplog.text and "answer for key ***" in caplog.text
