"""Section 9: the Streamlit server's memory while Chromium uploads 1 GB videos through the Upload
page (one, then two at once), against the server's idle memory: goal within 250 MB of idle.

The server is `streamlit run app.py` (tests/fixtures/app_server.py); its VmRSS is read once the
page has loaded (idle), VmHWM (peak) is reset just before the upload and read once the page
shows the stored video. The video is a 4 s clip padded with an MP4 `free` box to 1 GiB.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import OUT, Row, limit_row, log, scratch
from tests.e2e import ui
from tests.fixtures.app_server import AppServer
from tests.fixtures.browser import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from tests.fixtures.uploads import padded_video
from tests.fixtures.videos import make_video

SECTION = "9. Browser upload memory"
BUDGET_MB = 250
GIB = 1024**3


def gib_video() -> Path:
    """The 1 GiB upload, made once under bench/out/."""
    path = OUT / "upload-1gib.mp4"
    if path.exists() and path.stat().st_size == GIB:
        return path
    clip = make_video(OUT / "upload-clip.mp4", seconds=4)
    length, chunks = padded_video(clip, GIB)
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
    assert path.stat().st_size == length
    return path


def _uploads(server: AppServer, browser, video: Path, count: int) -> tuple[float, float, float]:
    """(idle RSS, peak RSS, RSS after) in MB around `count` simultaneous uploads of `video`."""
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(count)]
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:
            page.set_default_timeout(600_000)
            ui.goto(page, server.url)
        time.sleep(2)  # let the runs' allocations settle before reading the idle figure
        idle = server.memory_mb("VmRSS")
        server.reset_peak_memory()
        started = time.monotonic()
        for page in pages:
            ui.choose_file(page, video)
        for page in pages:
            ui.upload_finished(page, timeout=900_000)
            page.get_by_role("button", name="Queue analysis").wait_for(timeout=60_000)
        log(f"   {count} x {video.stat().st_size / GIB:.0f} GiB in "
            f"{time.monotonic() - started:.0f} s")
        return idle, server.memory_mb("VmHWM"), server.memory_mb("VmRSS")
    finally:
        for context in contexts:
            context.close()


def rows() -> list[Row]:
    from playwright.sync_api import sync_playwright

    video = gib_video()
    out: list[Row] = []
    with scratch("upload-") as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        server = AppServer(home=Path(tmp), env={"FRAMEWISE_MAX_UPLOAD_MB": "2048"})
        server.start()
        try:
            for count in (1, 2):
                log(f"9. upload memory: {count} browser upload(s) of 1 GiB at once")
                idle, peak, after = _uploads(server, browser, video, count)
                what = "one 1 GB upload" if count == 1 else "two 1 GB uploads at once"
                notes = (f"idle {idle:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB; "
                         "Chromium on loopback, local folder store, streamlit run app.py")
                out.append(limit_row(SECTION, f"server peak RSS over idle, {what}", peak - idle,
                                     BUDGET_MB, "MB", notes, fmt=".0f"))
                out.append(limit_row(SECTION, f"server RSS over idle after {what}", after - idle,
                                     BUDGET_MB, "MB", notes, fmt=".0f"))
        finally:
            server.stop()
            browser.close()
    return out
