"""10. Outages: a long stretch of 429s (Retry-After 5) and of 503s, survived by the pipeline.

The emulator (its own process) answers after 100 ms; from the first request after the first 8
answers it answers every request with the fault for the whole stretch. The analysis is an azure
run of the first 120 frames at 1 fps at AZURE_VISION_MAX_TPS=10 through Worker.run_one. Its floor
is the same analysis without an outage (run just before, in its own data folder) plus the
outage; the figure is the wall time over that floor: what the outage cost beyond itself.
"""

from __future__ import annotations

from pathlib import Path

from bench.common import Row, log, scratch
from bench.emulator import EmulatorProcess
from bench.harness import analyse, ingest, services_for
from bench.videos import coded_video
from services.models import Analysis
from services.vision.azure import HEADROOM

SECTION = "10. Outages"
TPS, DELAY_S, FRAMES, CONCURRENCY = 10.0, 0.1, 120, 8
CASES: list[tuple[str, dict]] = [
    ("40 s of 429 with Retry-After: 5", {"status": 429, "retry_after": "5", "seconds": 40,
                                          "after": 8}),
    ("20 s of 503", {"status": 503, "seconds": 20, "after": 8}),
]
OVER_FLOOR_S = 10.0  # recovery: one Retry-After at most, then the rate climbing back


def run_case(stretch: dict | None, video: Path) -> tuple[float, Analysis, dict]:
    stretches = [stretch] if stretch else []
    with EmulatorProcess(delay_s=DELAY_S, stretches=stretches) as emu, scratch("out-") as tmp:
        services = services_for(Path(tmp), emu.endpoint, emu.key, TPS, CONCURRENCY)
        video_row = ingest(services, video)
        run = analyse(services, video_row, analyzer="azure", fps=1.0, max_frames=FRAMES)
        services.engine.dispose()
        return run.timing.wall, run.analysis, emu.stats()


def rows(video: Path | None = None) -> list[Row]:
    video = video or coded_video()
    out: list[Row] = []
    log(f"10. outages: {FRAMES} frames without an outage (the baseline)")
    base, base_analysis, _ = run_case(None, video)
    if base_analysis.status != "succeeded":
        raise RuntimeError(f"the baseline run ended {base_analysis.status}")
    log(f"   baseline {base:.1f} s")
    for name, stretch in CASES:
        log(f"10. outages: {name} over {FRAMES} frames")
        wall, analysis, stats = run_case(stretch, video)
        seen = stats["stretches"][0]
        floor = base + stretch["seconds"]
        over = wall - floor
        every = (analysis.status == "succeeded" and analysis.frames_done == FRAMES
                 and int(stats["statuses"].get("200", 0)) == FRAMES)
        log(f"   {wall:.1f} s, {analysis.status}, {seen['requests']} requests in the outage")
        out.append(Row(
            SECTION, f"{name}: wall time over the outage floor", f"{over:+.1f} s "
            f"({wall:.1f} s vs floor {floor:.1f} s)", f"<= {OVER_FLOOR_S:g} s, every frame",
            over / OVER_FLOOR_S, every and over <= OVER_FLOOR_S,
            f"{analysis.status}, {analysis.frames_done}/{FRAMES} frames, {analysis.transactions} "
            f"transactions; floor = the same run without an outage ({base:.1f} s; {FRAMES} "
            f"frames at {TPS * HEADROOM:g} TPS would take {FRAMES / (TPS * HEADROOM):.1f} s) + "
            f"the {stretch['seconds']} s outage"))
        limit = stretch["seconds"] + CONCURRENCY  # ~1 a second, plus those in flight at its start
        out.append(Row(
            SECTION, f"{name}: requests during the outage", f"{seen['requests']} in "
            f"{stretch['seconds']} s (most in 1 s: {seen['max_in_1s']})",
            f"<= {limit} (1/s + {CONCURRENCY} in flight)", seen["requests"] / limit,
            seen["requests"] <= limit,
            f"{stats['requests']} requests in all; statuses {stats['statuses']}"))
    return out
