"""An Azure analysis in a real browser, against the Image Analysis emulator."""

from __future__ import annotations

import csv
import io

import pytest
from PIL import Image
from playwright.sync_api import expect

from services.insights import exports
from services.models import Status
from tests.e2e import ui
from tests.fixtures.videos import make_sample_clip
from tests.fixtures.vision_answers import RECORDED_SIZE, RESPONSES
from tests.fixtures.vision_emulator import VisionEmulator

pytestmark = pytest.mark.e2e

PERSON_BOX = (395, 241, 261, 333)  # x, y, w, h of the 0.96 person in the 864x576 recording


@pytest.fixture(scope="module")
def emulator():
    """The Image Analysis emulator, in this process, for the module's server."""
    with VisionEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def azure_server(start_server, emulator):
    """A server whose Azure analyser talks to the emulator."""
    return start_server({
        "AZURE_VISION_ENDPOINT": emulator.endpoint,
        "AZURE_VISION_KEY": emulator.key,
        "AZURE_VISION_FEATURES": "tags,objects,people,caption,read",
    })


@pytest.fixture
def sample_clip(tmp_path):
    """A 2 s video whose every frame is the SDK's 864x576 sample image."""
    return make_sample_clip(tmp_path / "sample-person.mp4", RESPONSES / "sample.png")


def _image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def _person_edge_red(image: Image.Image) -> float:
    """Share of the person box's right edge (scaled to the image) that is drawn in red.

    The right edge is the one no other box touches in the recording (the 0.88 "person" object
    box lies 3 px inside the left and top edges). The shown image is a JPEG, so each row takes
    the reddest pixel within a few pixels of the line.
    """
    sx, sy = image.width / RECORDED_SIZE[0], image.height / RECORDED_SIZE[1]
    x, y, w, h = PERSON_BOX
    right = round((x + w) * sx) - 1
    rows = range(round(y * sy) + 15, round((y + h) * sy) - 15, 2)

    def red(p) -> bool:
        r, g, b = p
        return r > 170 and r - g > 70 and r - b > 70

    hits = [any(red(image.getpixel((xx, yy))) for xx in range(right - 5, right + 2)) for yy in rows]
    return sum(hits) / len(hits)


def _shown_image(page) -> Image.Image:
    src = ui.thumbnail(page).get_attribute("src")
    return _image(page.request.get(src).body())


def test_azure_analysis_draws_boxes_and_lists_text(azure_server, emulator, page, steps,
                                                   sample_clip, tmp_path):
    """Test that an Azure analysis draws the person box on the frame and lists the OCR text."""
    ui.goto(page, azure_server.url)
    ui.upload(page, sample_clip)
    page.get_by_test_id("stRadio").get_by_text("Azure AI Vision").click()
    ui.wait_for_run(page)
    expect(page.get_by_test_id("stMultiSelect").filter(has_text="Azure features")) \
        .to_contain_text("Text (OCR)")
    expect(page.get_by_test_id("stMetric").filter(has_text="Azure transactions")) \
        .to_contain_text("2")
    steps.shot(page, "azure-chosen")

    analysis_id = ui.queue_and_open_results(page)
    analysis = ui.wait_finished(azure_server, analysis_id)
    assert analysis.status == Status.succeeded, analysis.error_message
    assert (analysis.frames_done, analysis.transactions) == (2, 2)
    assert emulator.violations == []
    ui.results_drawn(page)
    expect(page.get_by_test_id("stHeading").filter(has_text="People and objects over time")) \
        .to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="Max people in a frame")) \
        .to_contain_text("1")
    steps.shot(page, "results")

    # The person box is drawn in red over the stored thumbnail, where the plain one has none.
    engine, store = azure_server.services.engine, azure_server.services.store
    with engine.connect() as conn:
        key = conn.exec_driver_sql(
            "SELECT thumbnail_key FROM frame WHERE analysis_id = ? ORDER BY frame_index LIMIT 1",
            (analysis_id,)).scalar_one()
    plain = _image(store.read_bytes(key))
    boxed = _shown_image(page)
    assert boxed.size == plain.size
    assert _person_edge_red(boxed) > 0.8
    assert _person_edge_red(plain) < 0.1
    element_with_boxes = ui.thumbnail(page).screenshot()

    # Boxes off for people: the same frame without the red box.
    before = ui.thumbnail(page).get_attribute("src")
    page.get_by_test_id("stSidebar").get_by_role("button", name="People").click()
    ui.wait_for_run(page)
    expect(ui.thumbnail(page)).not_to_have_attribute("src", before)
    ui.wait_image_loaded(ui.thumbnail(page))
    assert _person_edge_red(_shown_image(page)) < 0.1
    assert ui.thumbnail(page).screenshot() != element_with_boxes
    steps.shot(page, "people-boxes-off")

    # The OCR table holds the recorded text line.
    page.get_by_role("tab", name="Text in the picture (OCR)").click()
    panel = page.get_by_role("tabpanel").filter(has=page.get_by_test_id("stDataFrame")) \
        .filter(has_text="text lines")
    expect(panel.get_by_test_id("stDataFrame").locator("table[role='grid']")) \
        .to_contain_text("Sample text")
    panel.scroll_into_view_if_needed()
    steps.shot(page, "ocr-text")

    detections_file = ui.download(page, "detections.csv", tmp_path)
    rows = ui.csv_rows(detections_file.read_bytes())
    assert rows == ui.csv_rows(ui.exported(azure_server, analysis_id, "detections"))
    person = next(r for r in rows if r["kind"] == "person" and float(r["confidence"]) > 0.5)
    assert tuple(int(person[k]) for k in "xywh") == PERSON_BOX
    assert any(r["kind"] == "text_line" and r["label"] == "Sample text" for r in rows)
    assert list(csv.reader(io.StringIO(detections_file.read_text("utf-8"))))[0] == \
        exports.DETECTIONS_CSV_COLUMNS
