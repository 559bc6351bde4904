"""Streamed uploads in a real browser: a video of a few hundred MB through the Upload page with
the server's memory measured, a cancel that leaves nothing, and refusals before the first byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from services.models import Video
from services.storage.local import TEMP_PREFIX
from tests.e2e import ui
from tests.fixtures.app_server import AppServer
from tests.fixtures.tools import wait_for
from tests.fixtures.uploads import padded_video
from tests.fixtures.videos import make_video

pytestmark = pytest.mark.e2e
MB = 1024 * 1024
BUDGET_MB = 250  # the goal: within 250 MB of the idle server


@pytest.fixture(scope="module")
def big_video(tmp_path_factory) -> Path:
    """A real 300 MB video: a 4 s clip and an MP4 `free` box (written once per module)."""
    folder = tmp_path_factory.mktemp("big")
    clip = make_video(folder / "clip.mp4", seconds=4)
    length, chunks = padded_video(clip, 300 * MB)
    path = folder / "big video.mp4"
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    assert path.stat().st_size == length
    return path


def videos(server: AppServer) -> list[Video]:
    with Session(server.services.engine) as s:
        return list(s.exec(select(Video)))


def leftovers(server: AppServer) -> list[Path]:
    """Every file under the data folder's blobs: stored videos and half-written temp files."""
    return [p for p in (server.data_dir / "blobs").rglob("*") if p.is_file()]


def temp_files(server: AppServer) -> list[Path]:
    """The half-written files of uploads under way."""
    return [p for p in leftovers(server) if p.name.startswith(TEMP_PREFIX)]


def test_a_300_mb_video_streams_through_the_page_within_250_mb_of_idle(app_server, page, steps,
                                                                       big_video):
    """Test that a 300 MB upload shows progress, is stored and probed, and the server's peak RSS
    stays within 250 MB of idle; the page then offers the analysis."""
    ui.goto(page, app_server.url)
    idle = app_server.memory_mb("VmRSS")
    app_server.reset_peak_memory()
    ui.choose_file(page, big_video)
    expect(page.get_by_test_id("fwUploadStatus")).to_contain_text(" MB of 300.0 MB")
    steps.shot(page, "uploading")
    ui.upload_finished(page, timeout=300_000)
    peak = app_server.memory_mb("VmHWM")
    after = app_server.memory_mb("VmRSS")
    expect(page.get_by_role("button", name="Queue analysis")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Duration")).to_contain_text("0:04")
    expect(page.get_by_test_id("stMetric").filter(has_text="Size")).to_contain_text("300.0 MB")
    steps.shot(page, "stored")
    [video] = [v for v in videos(app_server) if v.original_filename == "big video.mp4"]
    assert app_server.services.store.size(video.blob_key) == 300 * MB
    print(f"\nserver RSS idle {idle:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB")
    assert peak - idle < BUDGET_MB, f"idle {idle:.0f} MB, peak {peak:.0f} MB"
    assert after - idle < BUDGET_MB, f"idle {idle:.0f} MB, after {after:.0f} MB"


def test_a_cancelled_upload_leaves_no_blob_no_temp_file_and_no_row(app_server, page, steps,
                                                                   big_video):
    """Test that Cancel mid-upload stops it and the server keeps nothing of it."""
    ui.goto(page, app_server.url)
    before_files, before_rows = leftovers(app_server), len(videos(app_server))
    ui.choose_file(page, big_video)
    expect(page.get_by_test_id("fwUploadStatus")).to_contain_text(" MB of ")
    wait_for(lambda: temp_files(app_server), "the server writing the upload to a temp file")
    page.get_by_test_id("fwUploadCancel").click()
    expect(page.get_by_test_id("fwUploadDropzone")).to_be_visible()
    steps.shot(page, "cancelled")
    # The server notices the closed connection and removes the temp file (a finished upload
    # would rename it into place instead, and fail the assertions below).
    wait_for(lambda: not temp_files(app_server), "the server to drop the cancelled upload",
             timeout=30)
    assert leftovers(app_server) == before_files
    assert len(videos(app_server)) == before_rows


def test_files_refused_in_the_browser_send_nothing_and_show_the_services_message(
    start_server, page, steps, tmp_path
):
    """Test that a file over the limit and a non-video name are refused before the first byte,
    with the ingest service's messages, and nothing reaches storage."""
    server = start_server(env={"FRAMEWISE_MAX_UPLOAD_MB": "1"})
    ui.goto(page, server.url)
    ui.upload(page, {"name": "two.mp4", "mimeType": "video/mp4", "buffer": bytes(2 * MB)})
    alert = page.get_by_test_id("stAlert").filter(has_text="two.mp4")
    expect(alert).to_contain_text("two.mp4 is 2.0 MB, over the 1 MB upload limit")
    ui.upload(page, {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"minutes\n"})
    expect(page.get_by_test_id("stAlert").filter(has_text="notes.txt")) \
        .to_contain_text("notes.txt is not a video file; choose one of .mp4")
    steps.shot(page, "refused")
    assert leftovers(server) == [] and videos(server) == []
