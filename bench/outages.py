"""10. Outages: a long stretch of 429s (Retry-After 5) and of 503s, survived by the pipeline.

The emulator (its own process) answers after 100 ms; from the first request after the first 8
answers it answers every request with the fault for the whole stretch. The analysis is an azure
run of 120 frames at AZURE_VISION_MAX_TPS=10 through Worker.run_one. Its floor is the outage
plus the frames at the client's full rate; the figure is the wall time over that floor.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import Row, log, scratch
from bench.emulator import EmulatorProcess
from bench.harness import analyse, ingest, services_for
from bench.videos import coded_video
from services.vision.azure import HEADROOM

SECTION = "10. Outages"
TPS, DELAY_S, FRAMES, CONCURRENCY = 10.0, 0.1, 120, 8
CASES = [
    ("40 s of 429 with Retry-After: 5", {"status": 429, "retry_after": "5", "seconds": 40,
                                          "after": 8}),
    ("20 s of 503", {"status": 503, "seconds": 20, "after": 8}),
]
OVER_FLOOR_S = 10.0  # recovery: one Retry-After at most, then the rate climbing back


def run_case(stretch: dict, video: Path) -> tuple[float, object, dict]:
    with EmulatorProcess(delay_s=DELAY_S, stretches=[stretch]) as emu, scratch("out-") as tmp:
        services = services_for(Path(tmp), emu.endpoint, emu.key, TPS, CONCURRENCY)
        video_row = ingest(services, video)
        run = analyse(services, video_row, analyzer="azure", fps=FRAMES / video_row.duration_s)
        services.engine.dispose()
        return run.timing.wall, run.analysis, emu.stats()


def rows(video: Path | None = None) -> list[Row]:
    video = video or coded_video()
    out: list[Row] = []
    for name, stretch in CASES:
        log(f"10. outages: {name} over {FRAMES} frames")
        wall, analysis, stats = run_case(stretch, video)
        seen = stats["stretches"][0]
        floor = stretch["seconds"] + FRAMES / (TPS * HEADROOM)
        over = wall - floor
        every = (analysis.status == "succeeded" and analysis.frames_done == FRAMES
                 and int(stats["statuses"].get("200", 0)) == FRAMES)
        log(f"   {wall:.1f} s, {analysis.status}, {seen['requests']} requests in the outage")
        out.append(Row(
            SECTION, f"{name}: wall time over the outage floor", f"{over:+.1f} s "
            f"({wall:.1f} s vs floor {floor:.1f} s)", f"<= {OVER_FLOOR_S:g} s, every frame",
            over / OVER_FLOOR_S, every and over <= OVER_FLOOR_S,
            f"{analysis.status}, {analysis.frames_done}/{FRAMES} frames, {analysis.transactions} "
            f"transactions; floor = {stretch['seconds']} s outage + {FRAMES} frames at "
            f"{TPS * HEADROOM:g} TPS"))
        limit = stretch["seconds"] + CONCURRENCY  # ~1 a second, plus those in flight at its start
        out.append(Row(
            SECTION, f"{name}: requests during the outage", f"{seen['requests']} in "
            f"{stretch['seconds']} s (most in 1 s: {seen['max_in_1s']})",
            f"<= {limit} (1/s + {CONCURRENCY} in flight)", seen["requests"] / limit,
            seen["requests"] <= limit,
            f"{stats['requests']} requests in all; statuses {stats['statuses']}"))
    return out
