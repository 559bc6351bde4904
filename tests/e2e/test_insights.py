"""Finding moments across analyses in a real browser: two Azure analyses (the Vision emulator,
answering blue frames with one more OCR line), search from the CLI and the Search page, the
results page at the segment, its segments.csv, a share link that keeps the view, and compare."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest
from playwright.sync_api import expect

from tests.e2e import ui
from tests.fixtures.app_server import PYTHON, ROOT
from tests.fixtures.library import FEATURES, SALE_LINE, WORD_LINE, make_scene_videos
from tests.fixtures.scenes import BLUE, GREEN, SceneEmulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emulator():
    with SceneEmulator(lines={BLUE: WORD_LINE, GREEN: SALE_LINE}) as running:
        yield running


@pytest.fixture(scope="module")
def server(start_server, emulator):
    """A server against the emulator; the CLI runs the analyses (no embedded worker)."""
    return start_server({
        "AZURE_VISION_ENDPOINT": emulator.endpoint, "AZURE_VISION_KEY": emulator.key,
        "AZURE_VISION_FEATURES": FEATURES, "FRAMEWISE_EMBEDDED_WORKER": "0",
    })


def cli_lines(server, *args: str) -> list[dict]:
    done = subprocess.run([str(PYTHON), "cli.py", *args], cwd=ROOT, env=server.server_env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def choose(page, box_label: str, option: str) -> None:
    """Pick an option of a Streamlit select box by its shown text: typing filters the long
    list (only the options in view are rendered), then the one left is clicked."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=box_label)
    box.click()
    page.keyboard.type(option)
    page.get_by_role("option").filter(has_text=option).first.click()
    ui.wait_for_run(page)
    expect(box.get_by_role("combobox")).to_have_value(option)


def test_a_word_of_the_second_analysis_is_found_opened_exported_shared_and_compared(
        server, new_context, steps, tmp_path):
    """Test the Done-when scenario: the word only in analysis b's frames at 3-5 s is exactly one
    segment from the CLI and the Search page, its link opens the results page at 3 s,
    segments.csv holds it and a label of every frame as one row each, the share link keeps the
    label and the confidence, and compare gives each label's share of frames in both."""
    bars, crossing = make_scene_videos(tmp_path)
    a = server.cli("analyze", str(bars), "--analyzer", "azure", "--fps", "1")["analysis_id"]
    b = server.cli("analyze", str(crossing), "--analyzer", "azure", "--fps", "1")["analysis_id"]
    link = f"{server.url}/results?analysis={b}&t=3"

    # The CLI: one JSON object, the segment of b.
    [found] = cli_lines(server, "search", "zebra")
    assert {k: found[k] for k in ("analysis_id", "video", "label", "start_s", "end_s",
                                  "frames", "link")} == {
        "analysis_id": b, "video": "crossing.mp4", "label": WORD_LINE, "start_s": 3.0,
        "end_s": 5.0, "frames": 3, "link": link}

    # The Search page: the same single segment, with a thumbnail and the same link.
    page = new_context().new_page()
    ui.goto(page, server.url)
    ui.nav(page, "Search")
    box = page.get_by_label("Find")
    box.fill("zebra")
    box.press("Enter")
    ui.wait_for_run(page)
    buttons = page.get_by_test_id("stLinkButton")
    expect(buttons).to_have_count(1)
    assert buttons.locator("a").get_attribute("href") == link
    # The result card: the innermost block holding both the link and the thumbnail.
    card = page.get_by_test_id("stVerticalBlock").filter(has=buttons) \
        .filter(has=page.get_by_test_id("stImage")).last
    expect(card).to_contain_text(WORD_LINE)
    expect(card).to_contain_text("0:03.0 to 0:05.0 · 3 frames")
    expect(card.get_by_test_id("stImage")).to_have_count(1)
    ui.wait_image_loaded(card.get_by_test_id("stImage").locator("img"))
    assert ui.query(page)["q"] == "zebra"
    steps.shot(page, "search")

    # Its link: the results page of b at 3 s.
    ui.goto(page, link)
    ui.results_drawn(page)
    expect(ui.slider_label(page)).to_have_text("0:03.0")
    expect(ui.frame_caption(page)).to_contain_text("Frame 3 at 0:03.0")

    # A click on the sign's bar in the segment timeline selects its label and jumps to 6 s.
    bar = page.get_by_test_id("stVegaLiteChart").locator(
        f"[aria-roledescription='bar'][aria-label*='{SALE_LINE}']")
    expect(bar).to_have_count(1)
    bar.click()
    ui.wait_for_run(page)
    expect(ui.slider_label(page)).to_have_text("0:06.0")
    expect(page.get_by_test_id("stSelectbox").filter(has_text="Selected label")
           .get_by_role("combobox")).to_have_value(f"text: {SALE_LINE}")
    assert ui.query(page)["label"] == f"text_line:{SALE_LINE}"
    steps.shot(page, "timeline-clicked")

    # Select the word's label (back to 3 s), raise the confidence one step: both ride in the
    # share link.
    choose(page, "Selected label", f"text: {WORD_LINE}")
    expect(ui.slider_label(page)).to_have_text("0:03.0")
    expect(page.get_by_text("now in the one from 0:03.0 to 0:05.0 (3 frames)")).to_be_visible()
    ui.slider_thumb(page, "Minimum confidence").focus()
    page.keyboard.press("ArrowRight")
    ui.wait_for_run(page)
    expect(ui.slider_label(page, "Minimum confidence")).to_have_text("0.55")
    code = page.get_by_test_id("stCode").first
    expect(code).to_contain_text("conf=0.55")
    shared = "".join(code.inner_text().split())
    assert shared == (f"{server.url}/results?analysis={b}&t=3&conf=0.55"
                      "&label=text_line%3AZEBRA+crossing+42")
    steps.shot(page, "results-label-selected")

    # segments.csv from the page: the stretch is one row, a label of every frame one row.
    rows = list(csv.DictReader(io.StringIO(
        ui.download(page, "segments.csv", tmp_path).read_text("utf-8"))))
    assert [(r["start_s"], r["end_s"], r["frames"]) for r in rows if r["label"] == WORD_LINE] \
        == [("3.0", "5.0", "3")]
    furniture = [r for r in rows if r["kind"] == "tag" and r["label"] == "furniture"]
    assert [(r["start_s"], r["end_s"], r["frames"]) for r in furniture] == [("0.0", "7.0", "8")]
    assert {r["analysis_id"] for r in rows} == {b}
    # frames.csv from the page at the slider's 0.55 is what `export --min-confidence 0.55`
    # writes: the counts are taken at the confidence asked, not stored when the frame was.
    page_frames = ui.download(page, "frames.csv", tmp_path).read_bytes()
    exported = tmp_path / "cli-frames.csv"
    cli_lines(server, "export", b, "--frames", str(exported), "--min-confidence", "0.55")
    assert page_frames == exported.read_bytes()
    first = next(csv.DictReader(io.StringIO(page_frames.decode("utf-8"))))
    assert (first["people_count"], first["object_count"]) == ("1", "5")
    assert "plant" in first["tags"] and "using" not in first["tags"]  # the 0.536 tag is out

    # A colleague opens the share link: same label, confidence and moment.
    other = new_context().new_page()
    ui.goto(other, shared)
    ui.results_drawn(other)
    expect(ui.slider_label(other)).to_have_text("0:03.0")
    expect(ui.slider_label(other, "Minimum confidence")).to_have_text("0.55")
    expect(other.get_by_test_id("stSelectbox").filter(has_text="Selected label")
           .get_by_role("combobox")).to_have_value(f"text: {WORD_LINE}")
    expect(other.get_by_text("now in the one from 0:03.0 to 0:05.0 (3 frames)")).to_be_visible()
    steps.shot(other, "opened-from-share-link")

    # compare: every label's share of frames in both analyses.
    [doc] = cli_lines(server, "compare", a, b)
    shares = {(r["kind"], r["label"]): (r["share_a"], r["share_b"], r["only"])
              for r in doc["labels"]}
    assert shares[("text_line", WORD_LINE)] == (0.0, 0.375, "b")
    assert shares[("text_line", SALE_LINE)] == (0.0, 0.25, "b")
    assert shares[("tag", "furniture")] == (1.0, 1.0, None)
    ui.goto(other, f"{server.url}/compare?a={a}&b={b}")
    expect(other.get_by_role("heading", name="Labels")).to_be_visible()
    expect(other.get_by_test_id("stVegaLiteChart")).to_have_count(5)
    steps.shot(other, "compare")
