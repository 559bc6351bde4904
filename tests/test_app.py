"""App tests: every page runs headless through streamlit.testing.v1.AppTest, on real services.

The data folder is a fresh temporary one per test and FRAMEWISE_EMBEDDED_WORKER=0 keeps the
background worker from starting, so each test runs analyses itself with Worker.run_one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from services.analysis.jobs import queue_analysis
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import Services, open_services
from services.db import session_scope
from services.library import list_analyses
from services.models import Analysis, Detection, Frame, Status, Video
from services.review.corrections import wrong_detections
from services.upload.ingest import ingest_video
from tests.fixtures.apptest import app, open_page, shown, texts
from tests.fixtures.library import run_analysis
from tests.fixtures.uploads import upload_through_page, widget_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def services(app_services) -> Services:
    return app_services


def analysed(services: Services, video_path: Path, name: str = "clip.mp4") -> str:
    """Store a video and run a local analysis of it to the end here; returns its id."""
    return run_analysis(services, video_path, analyzer="local", fps=2.0, name=name,
                        user="local")


def blob_keys(services: Services, prefix: str = "") -> list[str]:
    return services.store.list(prefix)


def test_upload_page_is_the_default(services):
    """Test that the app opens on the upload page with a video-only upload widget holding a
    token for this session, and the user line."""
    at = app().run()
    assert not at.exception
    assert at.title[0].value == "Upload a video"
    assert not at.get("file_uploader")  # one upload path: the streaming widget
    data = widget_data(at)
    assert ".mp4" in data["suffixes"] and ".txt" not in data["suffixes"]
    assert data["session_id"] and len(data["token"]) >= 32
    assert data["limit_bytes"] == services.settings.max_upload_mb * 1024 * 1024
    assert "Signed in as local user (no sign-in configured)" in texts(at.sidebar, "caption")


def test_upload_then_queue(services, video_factory):
    """Test that an uploaded video is stored once, probed, estimated and queued with a link."""
    data = video_factory(seconds=3).read_bytes()
    at = app().run()
    assert upload_through_page(at, "my clip.mp4", data)[0] == 200
    assert not at.exception, at.exception
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Resolution"] == "320×240"
    assert metrics["Frames planned"] == "3"
    assert metrics["Estimated cost"] == "free"
    at.run()  # a rerun must not store the file again
    assert len(blob_keys(services, "videos/")) == 1
    at.button[0].click().run()
    assert not at.exception
    rows = list_analyses(services.engine)
    assert len(rows) == 1
    analysis, video = rows[0]
    assert (analysis.status, analysis.analyzer, analysis.frames_planned) == ("queued", "local", 3)
    assert video.original_filename == "my clip.mp4"
    assert at.success
    link = at.get("page_link")[-1]
    assert analysis.id in str(link.proto)


def test_azure_is_disabled_without_endpoint(services, video_factory):
    """Test that the Azure analyser cannot be chosen while AZURE_VISION_ENDPOINT is unset."""
    at = app().run()
    upload_through_page(at, "a.mp4", video_factory().read_bytes())
    radio = at.radio[0]
    assert radio.value == "local" and radio.disabled
    assert any("AZURE_VISION_ENDPOINT" in c for c in texts(at, "caption"))


def test_bad_file_is_refused_and_leaves_nothing(services):
    """Test that text bytes named .mp4 give one error line and add no row and no blob."""
    name = "[notes](javascript:alert(1)).mp4"
    at = app().run()
    status, _ = upload_through_page(at, name, b"hello, not a video\n" * 50)
    assert status == 422 and not at.exception
    assert len(at.error) == 1
    assert shown(at.error[0].value).startswith(f"{name} cannot be analysed: ")
    assert "](javascript" not in at.error[0].value  # the name is text, not a link
    assert not at.button  # nothing to queue
    assert blob_keys(services) == []
    with session_scope(services.engine) as session:
        assert session.exec(select(Video)).all() == []


def test_video_already_in_storage(services, video_factory):
    """Test that a video copied into storage can be registered and analysed from the upload page."""
    key = "videos/big-upload.mp4"
    with video_factory().open("rb") as stream:
        services.store.write_stream(key, stream)
    at = app().run()
    at.selectbox[0].set_value(key).run()
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Resolution"] == "320×240"
    assert [b.proto.label for b in at.button][-1] == "Queue analysis"
    at.button[-1].click().run()
    assert list_analyses(services.engine)[0][1].blob_key == key


def test_results_page_draws_everything(services, video_factory):
    """Test that a finished analysis shows metrics, charts, the frame, share link and downloads."""
    analysis_id = analysed(services, video_factory(seconds=3, pattern="cuts", cuts=(1.5,)))
    at = open_page("results", analysis=analysis_id, t="1.0")
    assert not at.exception, at.exception
    assert "Signed in as local user (no sign-in configured)" in texts(at.sidebar, "caption")
    labels = {m.label for m in at.metric}
    assert {"Frames", "Duration covered", "Shots", "Black frames", "Mean brightness"} <= labels
    assert len(at.get("vega_lite_chart")) >= 2  # jump strip and the per-frame values
    assert len(at.get("image")) == 3  # the frame, and the storyboard's keyframes of two shots
    assert [b.proto.label for b in at.get("download_button")] == [
        "frames.csv", "detections.csv", "segments.csv", "insights.json", "notes.csv",
        "shots.csv", "shots.edl"]
    link = at.code[0].value
    assert link == f"http://localhost:8501/results?analysis={analysis_id}&t=1"
    assert at.query_params["t"] == "1"
    assert at.select_slider[0].value == 1.0
    assert not at.get("video")  # the source video loads only when asked for
    at.toggle(key="play_video").set_value(True).run()
    assert not at.exception
    assert at.get("video")[0].proto.start_time == 1


def test_results_slider_moves_the_share_link(services, video_factory):
    """Test that moving the time slider updates ?t= and the share link."""
    analysis_id = analysed(services, video_factory(seconds=3))
    at = open_page("results", analysis=analysis_id)
    assert at.select_slider[0].value == 0.0
    at.select_slider[0].set_value(2.5).run()
    assert not at.exception
    assert at.query_params["t"] == "2.5"
    assert at.code[0].value.endswith("&t=2.5")


@pytest.mark.parametrize("query", [{"analysis": "0" * 32}, {}])
def test_results_without_a_known_analysis(services, query):
    """Test that a missing or unknown id gives a friendly message and a link to Analyses."""
    at = open_page("results", **query)
    assert not at.exception
    assert at.info and not at.error
    assert any("analyses" in str(p.proto) for p in at.get("page_link"))


def _queued(services, video_factory):
    """A generated video and a queued local analysis of it, which no worker runs."""
    with video_factory().open("rb") as stream:
        video = ingest_video(services.engine, services.store, stream, filename="q.mp4",
                             uploaded_by="local")
    return queue_analysis(services.engine, video_id=video.id, analyzer="local",
                          created_by="local", sample_fps=1.0, max_frames=None, frames_planned=3)


def test_results_while_queued_shows_progress(services, video_factory):
    """Test that a queued analysis shows its progress and no charts yet."""
    analysis = _queued(services, video_factory)
    at = open_page("results", analysis=analysis.id)
    assert not at.exception
    assert at.get("progress")
    assert not at.get("vega_lite_chart")


def test_analyses_lists_and_filters(services, video_factory):
    """Test that the history lists every analysis and the filter narrows it."""
    analysed(services, video_factory(), name="beach.mp4")
    analysed(services, video_factory(), name="forest.mp4")
    at = open_page("analyses")
    assert not at.exception
    assert len(at.dataframe[0].value) == 2
    at.text_input(key="analyses_filter").set_value("fores").run()
    table = at.dataframe[0].value
    assert list(table["video"]) == ["forest.mp4"]
    assert table["open"].iloc[0].startswith("results?analysis=")


def test_analyses_shows_unfinished_progress(services, video_factory):
    """Test that a queued analysis is listed with its progress while the table polls."""
    _queued(services, video_factory)
    at = open_page("analyses")
    assert not at.exception
    table = at.dataframe[0].value
    assert (table["status"].iloc[0], table["progress"].iloc[0]) == ("queued", 0.0)


def test_delete_analysis_needs_confirmation(services, video_factory):
    """Test that deleting an analysis needs the checkbox and removes its rows and blobs."""
    analysis_id = analysed(services, video_factory())
    assert blob_keys(services, f"analyses/{analysis_id}/")
    at = open_page("analyses")
    delete = at.button(key=f"delete_analysis_{analysis_id}")
    assert delete.disabled
    at.checkbox(key=f"confirm_analysis_{analysis_id}").check().run()
    at.button(key=f"delete_analysis_{analysis_id}").click().run()
    assert not at.exception
    assert list_analyses(services.engine) == []
    assert blob_keys(services, "analyses/") == []
    assert len(blob_keys(services, "videos/")) == 1  # the video stays
    assert at.success


def test_delete_video_removes_all_its_analyses(services, video_factory):
    """Test that deleting a video says how many analyses go, then removes them and every blob."""
    first = analysed(services, video_factory())
    video_id = list_analyses(services.engine)[0][1].id
    queue_analysis(services.engine, video_id=video_id, analyzer="local", created_by="local",
                   sample_fps=1.0, max_frames=None, frames_planned=3)  # a second one, queued
    at = open_page("analyses")
    assert any("all 2 of its analyses go" in c.value for c in at.caption)
    at.checkbox(key=f"confirm_video_{video_id}").check().run()
    at.button(key=f"delete_video_{video_id}").click().run()
    assert not at.exception
    assert list_analyses(services.engine) == []
    assert blob_keys(services) == []
    with session_scope(services.engine) as session:
        assert session.get(Analysis, first) is None


def test_bad_setting_stops_with_one_line(services, monkeypatch):
    """Test that an invalid setting shows one error naming it, with no traceback."""
    monkeypatch.setenv("FRAMEWISE_MAX_UPLOAD_MB", "lots")
    at = app().run()
    assert not at.exception
    assert len(at.error) == 1
    assert "setting FRAMEWISE_MAX_UPLOAD_MB must be" in shown(at.error[0].value)


def _azure_analysis(services: Services, video_path: Path, emulator) -> str:
    """An Azure analysis run by the real Worker against the Vision emulator (recorded answers:
    a person at 0.96 beside one at 0.0017), of a video whose file name is a payload."""
    hostile = video_path.with_name("[x](javascript:alert(1))<script>.mp4")
    shutil.copyfile(video_path, hostile)
    azure = load_settings({
        "FRAMEWISE_DATA_DIR": str(services.settings.data_dir),
        "AZURE_VISION_ENDPOINT": emulator.endpoint, "AZURE_VISION_KEY": emulator.key,
        "AZURE_VISION_FEATURES": "tags,people,read",
    }, dotenv=None)
    return run_analysis(open_services(azure), hostile, analyzer="azure", fps=1.0)


def test_a_detection_marked_wrong_in_the_frame_viewer_is_stored_and_left_out(
        services, video_factory, vision_emulator):
    """Test that the frame viewer's "Mark wrong" stores the correction for the detection
    chosen, and that it is then offered as "Mark right again"."""
    analysis_id = _azure_analysis(services, video_factory(seconds=2), vision_emulator)
    at = open_page("results", analysis=analysis_id, t="0")
    first = at.selectbox(key=f"review_detection_{analysis_id}_0").options[0]
    go = at.button(key=f"review_detection_go_{analysis_id}")
    assert go.proto.label == "Mark wrong"
    go.click().run()
    assert not at.exception, at.exception
    [wrong] = wrong_detections(services.engine, analysis_id)
    with session_scope(services.engine) as session:
        marked = session.get(Detection, wrong)
        assert marked is not None and first.startswith(f"{marked.kind}: {marked.label}")
    assert at.button(key=f"review_detection_go_{analysis_id}").proto.label == "Mark right again"


def test_results_of_an_azure_analysis(services, video_factory, vision_emulator):
    """Test that an Azure analysis adds counts, tags, text tables and confidence filtering."""
    analysis_id = _azure_analysis(services, video_factory(seconds=2), vision_emulator)
    at = open_page("results", analysis=analysis_id)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Max people in a frame"] == "1"  # the 0.0017 person is not counted
    assert metrics["Azure transactions"] == "2"  # one per sampled frame
    assert len(at.get("vega_lite_chart")) >= 4  # jump, metrics, counts, tags
    assert at.sidebar.slider[0].value == services.settings.min_confidence
    at.sidebar.slider[0].set_value(0.0).run()
    assert {m.label: m.value for m in at.metric}["Max people in a frame"] == "2"
    at.text_input(key=f"ocr_search_{analysis_id}").set_value("click").run()
    assert not at.exception
    # User text never reaches Markdown unescaped.
    rendered = texts(at, "markdown") + texts(at, "caption") + texts(at, "title")
    assert not any("](javascript" in r or "<script>" in r for r in rendered)


def _frames_stored(services: Services, analysis_id: str) -> int:
    with session_scope(services.engine) as session:
        return len(session.exec(select(Frame.frame_index)
                                .where(Frame.analysis_id == analysis_id)).all())


def test_cancel_a_queued_analysis(services, video_factory):
    """Test that Cancel analysis on a queued analysis cancels it in the database and the page."""
    analysis = _queued(services, video_factory)
    at = open_page("results", analysis=analysis.id)
    assert at.get("progress")
    at.button(key=f"cancel_{analysis.id}").click().run()
    assert not at.exception, at.exception
    assert list_analyses(services.engine)[0][0].status == Status.cancelled
    assert [shown(i.value) for i in at.info] == [
        "The analysis was cancelled before any frame was analysed."]
    # No progress and no cancel any more; a cancelled analysis can be retried.
    assert not at.get("progress") and [b.key for b in at.button] == [f"retry_{analysis.id}"]
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings)
    assert worker.run_one() is None  # no worker picks it up any more


def test_cancel_a_running_analysis_keeps_its_frames(services, video_factory):
    """Test that cancelling a running analysis stops its worker at its next heartbeat, keeps the
    frames stored so far and shows them, with their charts, under the cancelled status."""
    import threading
    from datetime import timedelta

    from services.analysis.jobs import get_analysis
    from services.analysis.pipeline import HEARTBEAT_EVERY_S
    from tests.fixtures.clock import FakeClock

    with video_factory(seconds=30).open("rb") as stream:
        video = ingest_video(services.engine, services.store, stream, filename="long.mp4",
                             uploaded_by="local")
    analysis = queue_analysis(services.engine, video_id=video.id, analyzer="local",
                              created_by="local", sample_fps=2.0, max_frames=None,
                              frames_planned=60)
    clock = FakeClock()  # heartbeats are due only when the test says so
    worker = Worker(engine=services.engine, store=services.store, settings=services.settings,
                    clock=clock)
    reached, clicked = threading.Event(), threading.Event()

    def hold(done, planned):
        if done >= 3 and not clicked.is_set():
            reached.set()  # the worker waits here, mid-analysis, until Cancel is clicked
            clicked.wait(timeout=60)
            clock.now += HEARTBEAT_EVERY_S  # then its next heartbeat is due

    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(worker.run_one(analysis.id, hold)))
    thread.start()
    try:
        assert reached.wait(timeout=60)
        at = open_page("results", analysis=analysis.id)
        assert at.get("progress") and at.get("vega_lite_chart")  # live, with charts
        at.button(key=f"cancel_{analysis.id}").click().run()
        assert not at.exception, at.exception
    finally:
        clicked.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert outcome == [(analysis.id, Status.cancelled)]
    stored = _frames_stored(services, analysis.id)
    assert 3 <= stored < 60
    assert get_analysis(services.engine, analysis.id).status == Status.cancelled

    at.run()  # within the settling time the page still polls, and reads every stored row
    assert not at.exception, at.exception
    [info] = at.info
    assert shown(info.value).startswith(f"The analysis was cancelled after {stored} of 60 frames")
    assert not at.get("progress")
    assert not [b for b in at.button if (b.key or "").startswith("cancel")]
    assert len(at.dataframe[0].value) == stored
    assert len(at.get("vega_lite_chart")) >= 2

    # Long after the cancel: the static page, with the same frames and the downloads.
    with session_scope(services.engine) as session:
        row = session.get(Analysis, analysis.id)
        row.finished_at = row.finished_at - timedelta(minutes=5)
    at.run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == stored
    assert {m.label: m.value for m in at.metric}["Frames"] == f"{stored} / 60"
    frames_csv = at.get("download_button")[0]
    assert frames_csv.proto.label == "frames.csv"
