"""Page helpers for the browser tests: waiting for runs, stable test ids, step screenshots.

Waiting for a run: Streamlit's stApp element carries data-test-script-state ("initial",
"running", "rerunRequested", "notRunning", ...). A MutationObserver installed in every document
of the page (RUNS_JS, added by goto) counts the runs that began (the state leaving an idle value);
wait_for_run waits until a run began since the last wait returned, then until the app is idle. An
action may start no run at all (not every click reruns the script): then the wait for a start
gives up after RUN_START_MS and only the idle state is awaited.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import time
import weakref
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image
from playwright.sync_api import Download, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from services.analysis.jobs import get_analysis
from services.insights import exports
from services.models import Analysis

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
PROGRESS_JS = """() => {
  const bar = document.querySelector("[data-testid='stProgress']");
  if (!bar) return null;
  const value = bar.querySelector("[role='progressbar']");
  return [value ? value.getAttribute("aria-valuenow") : null, bar.innerText.trim()];
}"""
RUNS_JS = """(() => {
  if (window.__fwRuns !== undefined) return;
  const busy = new Set(["running", "rerunRequested"]);
  const app = document.querySelector("[data-testid='stApp']");
  window.__fwRuns = app && busy.has(app.getAttribute("data-test-script-state")) ? 1 : 0;
  window.__fwSeen = 0;
  new MutationObserver(records => {
    for (const r of records) {
      if (!busy.has(r.oldValue)) window.__fwRuns += 1;
    }
  }).observe(document, {subtree: true, attributes: true, attributeOldValue: true,
                        attributeFilter: ["data-test-script-state"]});
})()"""
RUN_BEGAN_JS = "() => window.__fwRuns > window.__fwSeen"
RUN_SEEN_JS = "() => { window.__fwSeen = window.__fwRuns; }"
RUN_START_MS = 5_000  # how long an action may take to start its run (a loaded machine)
_observed: weakref.WeakSet[Page] = weakref.WeakSet()
NEXT_FRAME_JS = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
# An expander's <details> animates its height for 500 ms after a click, its overflow hidden; the
# inline height goes when the animation ends (and comes back while it re-animates to new content).
EXPANDER_OPEN_JS = """details => details.open && details.getAnimations().length === 0
  && !details.style.height"""
MAIN_HEIGHT_JS = """() => {
  const main = document.querySelector("[data-testid='stMain']");
  return main ? main.scrollHeight : document.documentElement.scrollHeight;
}"""


def wait_for_run(page: Page, timeout: float = 30_000) -> None:
    """Wait until the app has finished the script run an action started (and nothing is stale)."""
    page.evaluate(RUNS_JS)  # a document goto did not open: count from now on
    try:
        page.wait_for_function(RUN_BEGAN_JS, timeout=RUN_START_MS)
    except PlaywrightTimeoutError:
        pass  # the action started no run
    page.wait_for_selector(CONNECTED, timeout=timeout)
    page.wait_for_selector(IDLE, timeout=timeout)
    expect(page.locator("[data-stale='true']")).to_have_count(0, timeout=timeout)
    page.evaluate(RUN_SEEN_JS)


def goto(page: Page, url: str) -> None:
    if page not in _observed:  # every document this page opens from now on counts its runs
        page.add_init_script(RUNS_JS)
        _observed.add(page)
    page.goto(url)
    wait_for_run(page)


def nav(page: Page, title: str) -> None:
    """Follow a link of the sidebar navigation."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    wait_for_run(page)


def query(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def upload(page: Page, files, timeout: float = 60_000) -> None:
    """Choose a file in the upload widget (a path, or a name/mimeType/buffer payload) and wait
    until it has streamed to the server and the page has run with the outcome."""
    choose_file(page, files)
    upload_finished(page, timeout)


def upload_finished(page: Page, timeout: float = 60_000) -> None:
    """Wait until the widget is back to its file picker and the page ran with the outcome."""
    expect(page.get_by_test_id("fwUploadDropzone")).to_be_visible(timeout=timeout)
    wait_for_run(page, timeout=timeout)


def choose_file(page: Page, files) -> None:
    """Pick a file in the upload widget; the browser starts streaming it at once."""
    page.get_by_test_id("fwUploadInput").set_input_files(files)


def set_number(page: Page, label: str, value: float) -> None:
    box = page.get_by_label(label)
    box.fill(f"{value:g}")
    box.press("Enter")
    wait_for_run(page)
    expect(box).to_have_value(re.compile(rf"^{value:g}(\.0+)?$"))


def queue_and_open_results(page: Page) -> str:
    """Click Queue analysis, follow the link to its results; returns the analysis id."""
    page.get_by_role("button", name="Queue analysis").click()
    expect(page.get_by_text("Analysis queued")).to_be_visible(timeout=30_000)
    page.get_by_role("link", name="Open the results").click()
    page.wait_for_url(re.compile(r"/results\?analysis="))
    return query(page)["analysis"]


def progress(page: Page) -> tuple[str | None, str] | None:
    """(aria-valuenow, text) of the progress bar, or None when there is none."""
    found = page.evaluate(PROGRESS_JS)
    return tuple(found) if found else None


def progress_change(page: Page, last: tuple[str | None, str] | None,
                    timeout: float) -> tuple[str | None, str] | None:
    """Wait until the progress bar shows something other than `last` (or appears, or goes)."""
    page.wait_for_function(
        f"last => JSON.stringify(({PROGRESS_JS})()) !== JSON.stringify(last)",
        arg=list(last) if last is not None else None, timeout=timeout)
    return progress(page)


def open_expander(page: Page, label: str) -> Locator:
    """Open an expander and wait until its opening animation has ended. While it runs, the
    content's boxes stand still but are clipped: Playwright scrolls the <details> itself to reveal
    a button, the growing height scrolls it back between mousedown and mouseup, and the click
    lands beside the button with no error (a lost click, seen in the two-analyst journey)."""
    expander = page.get_by_test_id("stExpander").filter(has_text=label)
    expander.get_by_text(label).click()
    page.wait_for_function(EXPANDER_OPEN_JS, arg=expander.locator("details").element_handle())
    return expander


def thumbnail(page: Page) -> Locator:
    return page.get_by_test_id("stImage").locator("img").first


def wait_image_loaded(image: Locator) -> None:
    """Wait until an <img> has finished loading its current src."""
    image.page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                 arg=image.element_handle())


def slider_thumb(page: Page, label: str = "Time") -> Locator:
    return page.get_by_test_id("stSlider").filter(has_text=label).get_by_role("slider")


def slider_label(page: Page, label: str = "Time") -> Locator:
    """The value shown above a slider's thumb."""
    slider = page.get_by_test_id("stSlider").filter(has_text=label)
    return slider.get_by_test_id("stSliderThumbValue")


def frame_caption(page: Page) -> Locator:
    """The caption under the thumbnail: 'Frame N at m:ss.s · shot k …'."""
    return page.get_by_test_id("stCaptionContainer").filter(
        has_text=re.compile(r"^Frame \d+ at ")).first


def grid_text(page: Page, nth: int = 0) -> str:
    """The text glide-data-grid keeps in its accessible table (the visible rows)."""
    table = page.get_by_test_id("stDataFrame").nth(nth).locator("table[role='grid']")
    return table.inner_text()


def grid_rows(page: Page, nth: int = 0) -> int:
    """Data rows of a st.dataframe (aria-rowcount counts the header row too)."""
    table = page.get_by_test_id("stDataFrame").nth(nth).locator("table[role='grid']")
    return int(table.get_attribute("aria-rowcount")) - 1


def download(page: Page, name: str, to: Path) -> Path:
    """Click a download button and save what the browser receives."""
    button = page.get_by_test_id("stDownloadButton").filter(has_text=name).locator("button")
    with page.expect_download() as info:
        button.click()
    got: Download = info.value
    path = to / got.suggested_filename
    got.save_as(path)
    return path


def openai_settings(emulator) -> dict[str, str]:
    """A server's settings for the chat-completions emulator, its limits far above the test's."""
    return {"AZURE_OPENAI_ENDPOINT": emulator.endpoint, "AZURE_OPENAI_API_KEY": emulator.key,
            "AZURE_OPENAI_TPM": "5000000", "AZURE_OPENAI_RPM": "5000"}


def painted_rows(element: Locator, rgb: tuple[int, int, int]) -> int:
    """How many pixel rows of the element, as drawn, hold the colour: how tall a mark is."""
    image = Image.open(io.BytesIO(element.screenshot())).convert("RGB")
    width, height = image.size
    pixels = image.load()
    return sum(any(all(abs(a - b) <= 6 for a, b in zip(pixels[x, y], rgb, strict=True))
                   for x in range(width)) for y in range(height))


class Steps:
    """Numbered full-page screenshots of one test: artifacts/<test>/<nn-step>.png."""

    def __init__(self, test_name: str):
        self.dir = ARTIFACTS / re.sub(r"[^\w.-]+", "_", test_name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.count = 0

    def shot(self, page: Page, step: str) -> Path:
        """Screenshot the whole page: the viewport grows to the height of Streamlit's main area."""
        self.count += 1
        path = self.dir / f"{self.count:02d}-{step}.png"
        size = page.viewport_size or {"width": 1440, "height": 1000}
        height = min(int(page.evaluate(MAIN_HEIGHT_JS)), 8000)
        if height > size["height"]:
            page.set_viewport_size({"width": size["width"], "height": height})
            page.evaluate(NEXT_FRAME_JS)  # laid out and painted at the new size
        try:
            page.screenshot(path=path, animations="disabled")
        finally:
            if height > size["height"]:
                page.set_viewport_size(size)
        return path


def csv_rows(data: bytes) -> list[dict[str, str]]:
    """A downloaded or exported CSV as dicts keyed by its header."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def exported(server, analysis_id: str, name: str) -> bytes:
    """What `cli.py export` writes for this analysis at the server's default confidence."""
    services = server.services
    analysis = get_analysis(services.engine, analysis_id)
    return exports.export_files(services.engine, analysis, services.settings.min_confidence,
                                (name,))[name]


def wait_finished(server, analysis_id: str, timeout: float = 120.0) -> Analysis:
    """Poll the server's database until the analysis has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        analysis = get_analysis(server.services.engine, analysis_id)
        if analysis is not None and analysis.status.finished:
            return analysis
        time.sleep(0.25)
    raise AssertionError(f"analysis {analysis_id} did not finish:\n{server.log_tail()}")


def results_drawn(page) -> None:
    """The finished results page: no progress bar, charts drawn, a thumbnail shown."""
    expect(page.get_by_test_id("stProgress")).to_have_count(0, timeout=60_000)
    wait_for_run(page)
    charts = page.get_by_test_id("stVegaLiteChart")
    # The jump strip and one chart per metric (folded away beside a question analysis's answers);
    # a loaded machine may still be drawing the last ones.
    expect(charts.first).to_be_visible()
    expect(charts.nth(5)).to_be_attached()
    for i in range(charts.count()):
        expect(charts.nth(i).locator("canvas, svg").first).to_be_attached()
    expect(thumbnail(page)).to_have_attribute("src", re.compile(r"(^data:image/|/media/)"))
    wait_image_loaded(thumbnail(page))
