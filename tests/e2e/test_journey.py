"""The analyst's journey in a real browser: upload, live progress, results, share, downloads."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from services.analysis.jobs import get_analysis
from services.insights import exports
from services.models import Analysis, Detection, Frame, Status, Video
from tests.e2e import ui
from tests.fixtures.videos import make_video

pytestmark = pytest.mark.e2e


def _db_rows(server, table, analysis_id: str) -> list:
    with server.services.engine.connect() as conn:
        query = sa.select(table.frame_index, Frame.timestamp_s)
        if table is Detection:
            query = query.join(Frame, sa.and_(Frame.analysis_id == Detection.analysis_id,
                                              Frame.frame_index == Detection.frame_index))
        query = query.where(table.analysis_id == analysis_id).order_by(table.frame_index)
        return [tuple(r) for r in conn.execute(query)]


def _count(server, table) -> int:
    with server.services.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_upload_analyse_browse_and_download(app_server, page, steps, tmp_path):
    """Test that an uploaded video is analysed live, browsed frame by frame and exported."""
    # 40 s at 25 fps, sampled at 25 fps: 1,000 frames, long enough to watch the progress move.
    video = make_video(tmp_path / "journey.mp4", seconds=40, fps=25, size=(320, 240))
    ui.goto(page, app_server.url)
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    steps.shot(page, "upload-page")

    ui.upload(page, video)
    expect(page.get_by_text("Frames planned")).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Duration")).to_contain_text("0:40")
    ui.set_number(page, "Frames sampled per second", 25)
    expect(page.get_by_test_id("stMetric").filter(has_text="Frames planned")) \
        .to_contain_text("1,000")
    steps.shot(page, "video-probed")

    analysis_id = ui.queue_and_open_results(page)
    seen: list[tuple[str | None, str]] = []
    state = ui.progress(page)
    while True:
        if state is not None and state not in seen:
            seen.append(state)
            if len(seen) == 2:
                steps.shot(page, "progress")
        analysis = get_analysis(app_server.services.engine, analysis_id)
        if state is None and analysis and analysis.status.finished:
            break
        # The bar moved, came or went. Bounded per change, not for the whole run, whose length
        # follows the machine's load: a bar that stops changing fails, a slow one does not.
        state = ui.progress_change(page, state, timeout=60_000)
    assert len(seen) >= 2, f"the progress never moved: {seen}"
    assert len({v for v, _ in seen}) >= 2 or len({t for _, t in seen}) >= 2
    analysis = ui.wait_finished(app_server, analysis_id)
    assert analysis.status == Status.succeeded, analysis.error_message
    assert analysis.frames_done == 1000

    ui.results_drawn(page)
    expect(page.get_by_role("heading", name="journey.mp4")).to_be_visible()
    steps.shot(page, "results")

    # The frame selector: one step right shows the next frame's thumbnail.
    before_src = ui.thumbnail(page).get_attribute("src")
    expect(ui.frame_caption(page)).to_have_text(re.compile(r"^Frame 0 at 0:00\.0"))
    expect(ui.slider_label(page)).to_have_text("0:00.00")  # 25 frames a second: hundredths
    ui.slider_thumb(page).focus()
    page.keyboard.press("ArrowRight")
    expect(ui.slider_label(page)).to_have_text("0:00.04")
    expect(ui.thumbnail(page)).not_to_have_attribute("src", before_src)
    expect(ui.frame_caption(page)).to_have_text(re.compile(r"^Frame 1 at "))
    ui.wait_for_run(page)
    assert ui.query(page)["t"] == "0.04"
    steps.shot(page, "next-frame")

    # The downloads are the exports of the rows in the database.
    frames_file = ui.download(page, "frames.csv", tmp_path)
    detections_file = ui.download(page, "detections.csv", tmp_path)
    frames_rows = ui.csv_rows(frames_file.read_bytes())
    assert frames_rows == ui.csv_rows(ui.exported(app_server, analysis_id, "frames"))
    db_frames = _db_rows(app_server, Frame, analysis_id)
    assert len(frames_rows) == len(db_frames) == 1000
    assert [int(r["frame_index"]) for r in frames_rows] == [i for i, _ in db_frames]
    assert [float(r["timestamp_s"]) for r in frames_rows] == pytest.approx(
        [t for _, t in db_frames], abs=1e-6)
    detections_rows = ui.csv_rows(detections_file.read_bytes())
    assert detections_rows == ui.csv_rows(ui.exported(app_server, analysis_id, "detections"))
    assert len(detections_rows) == len(_db_rows(app_server, Detection, analysis_id))
    assert list(csv.reader(io.StringIO(detections_file.read_text("utf-8"))))[0] == \
        exports.DETECTIONS_CSV_COLUMNS
    steps.shot(page, "downloaded")


def test_share_link_reopens_the_same_moment(start_server, new_context, steps, tmp_path):
    """Test that the share link opens the same analysis at the same moment in a fresh browser."""
    # A server of its own: a results link is the very first visit after it starts, the case
    # where Streamlit still treats pages/ as a legacy multipage folder. The CLI runs the analysis:
    # an embedded worker could claim it first, and `analyze` would then end saying "running".
    app_server = start_server({"FRAMEWISE_EMBEDDED_WORKER": "0"})
    video = make_video(tmp_path / "shared-clip.mp4", seconds=8, pattern="cuts",
                       cuts=(2.0, 4.0, 6.0))
    analysis_id = app_server.cli("analyze", str(video), "--fps", "2")["analysis_id"]

    first = new_context().new_page()
    ui.goto(first, f"{app_server.url}/results?analysis={analysis_id}")
    ui.results_drawn(first)
    ui.slider_thumb(first).focus()
    for _ in range(5):
        first.keyboard.press("ArrowRight")
        ui.wait_for_run(first)
    expect(ui.slider_label(first)).to_have_text("0:02.5")
    code = first.get_by_test_id("stCode").first
    expect(code).to_contain_text("t=2.5")
    ui.wait_for_run(first)
    link = "".join(code.inner_text().split())
    assert link == f"{app_server.url}/results?analysis={analysis_id}&t=2.5"
    caption = ui.frame_caption(first).inner_text()
    src = ui.thumbnail(first).get_attribute("src")
    assert caption.startswith("Frame 5 at 0:02.5 · shot 2")  # the second segment of "cuts"
    steps.shot(first, "moment-chosen")

    second = new_context().new_page()  # a colleague: no cookies, no session state
    ui.goto(second, link)
    ui.results_drawn(second)
    expect(second.get_by_role("heading", name="shared-clip.mp4")).to_be_visible()
    assert ui.query(second) == {"analysis": analysis_id, "t": "2.5"}
    expect(ui.slider_label(second)).to_have_text("0:02.5")
    expect(ui.frame_caption(second)).to_have_text(caption)
    expect(ui.thumbnail(second)).to_have_attribute("src", src)
    steps.shot(second, "opened-from-link")


def _history_rows(page) -> int:
    """Rows of the Analyses history as the page shows them (0 with its 'No analyses yet')."""
    ui.nav(page, "Analyses")
    expect(page.get_by_role("heading", name="Analyses")).to_be_visible()
    grid = page.get_by_test_id("stDataFrame").locator("table[role='grid']")
    empty = page.get_by_text("No analyses yet.")
    expect(grid.or_(empty).first).to_be_attached()
    return 0 if empty.count() else ui.grid_rows(page)


def test_a_bad_upload_is_refused_with_its_reason_and_leaves_nothing(app_server, page, steps):
    """Test that a text file named clip.mp4 is refused with its reason and leaves no trace."""
    ui.goto(page, app_server.url)
    shown_before = _history_rows(page)
    counts_before = (_count(app_server, Video), _count(app_server, Analysis))
    blobs = app_server.data_dir / "blobs"
    files_before = sorted(p for p in blobs.rglob("*") if p.is_file())
    steps.shot(page, "history-before")

    ui.nav(page, "Upload")
    ui.upload(page, {"name": "clip.mp4", "mimeType": "video/mp4",
                     "buffer": b"This is a plain text file, not a video.\n" * 50})
    error = page.get_by_test_id("stAlert").filter(has_text="clip.mp4")
    expect(error).to_be_visible()
    text = error.inner_text()
    assert "cannot be analysed" in text, text
    reason = text.split("cannot be analysed:", 1)[1].strip()
    assert len(reason) > 10 and "Traceback" not in text and "\n" not in reason, text
    expect(page.get_by_role("button", name="Queue analysis")).to_have_count(0)
    steps.shot(page, "refused")

    assert (_count(app_server, Video), _count(app_server, Analysis)) == counts_before
    assert sorted(p for p in blobs.rglob("*") if p.is_file()) == files_before
    assert _history_rows(page) == shown_before
    steps.shot(page, "history-after")


def test_two_analysts_queue_at_once_and_both_see_both(app_server, new_context, steps, tmp_path):
    """Test that two analysts in two browsers queue at once and both see both analyses finish."""
    names = ("analyst-a.mp4", "analyst-b.mp4")
    videos = [make_video(tmp_path / names[0], seconds=6, pattern="black_middle", black=(2, 4)),
              make_video(tmp_path / names[1], seconds=6, pattern="cuts", cuts=(3.0,))]
    pages = [new_context().new_page(), new_context().new_page()]
    for page in pages:
        ui.goto(page, app_server.url)
    for page, video in zip(pages, videos, strict=True):
        ui.upload(page, video)
        ui.set_number(page, "Frames sampled per second", 4)
    for page in pages:  # both click within a moment of each other
        page.get_by_role("button", name="Queue analysis").click()
    ids = []
    for who, page in zip("ab", pages, strict=True):
        ids.append(_open_queued(page))
        steps.shot(page, f"queued-{who}")
    assert len(set(ids)) == 2
    for who, (page, analysis_id, name) in enumerate(zip(pages, ids, names, strict=True)):
        analysis = ui.wait_finished(app_server, analysis_id)
        assert analysis.status == Status.succeeded, analysis.error_message
        ui.results_drawn(page)
        expect(page.get_by_role("heading", name=name)).to_be_visible()
        steps.shot(page, f"results-{'ab'[who]}")
    for who, page in zip("ab", pages, strict=True):
        ui.nav(page, "Analyses")
        grid = page.get_by_test_id("stDataFrame").first.locator("table[role='grid']")
        for name in names:
            expect(grid).to_contain_text(name)
        expect(grid).not_to_contain_text("running")
        steps.shot(page, f"history-{who}")


def _open_queued(page) -> str:
    expect(page.get_by_text("Analysis queued")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Open the results").click()
    page.wait_for_url(re.compile(r"/results\?analysis="))
    return ui.query(page)["analysis"]
