"""Run every benchmark once and write docs/BENCHMARKS.md: `.venv/bin/python -m bench.run`.

`--only 1,4` runs some sections (and writes bench/out/BENCHMARKS-partial.md instead, so the
committed report always comes from one full run). A section that crashes becomes a failed row
with its error; the run goes on and the report is still written.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

from bench import common
from bench.common import OUT, ROOT, Row, log

SECTIONS = {
    "1": ("1. Sampling", "bench.sampling"),
    "2": ("2. Azure throughput", "bench.throughput"),
    "3": ("3. Memory", "bench.memory"),
    "4": ("4. Results page", "bench.results_page"),
    "5": ("5. Azure cost", "bench.cost"),
    "6": ("6. Start-up", "bench.startup"),
    "7": ("7. Deployment rehearsal", "bench.deploy_rehearsal"),
    "8": ("8. Search", "bench.search"),
    "9": ("9. Browser upload memory", "bench.upload_memory"),
    "10": ("10. Outages", "bench.outages"),
    "11": ("11. Blob video in place", "bench.blob_in_place"),
    "12": ("12. Row writes", "bench.row_writes"),
}


def prepare(which: list[str]) -> None:
    """Generate (or find cached) every video first, so no timed section waits for one."""
    from bench import videos

    if "1" in which or "2" in which or "10" in which:
        videos.coded_video()
    if "11" in which:
        videos.big_video(seconds=13)
    if "3" in which:
        videos.doubled_video(videos.big_video())
    if "5" in which:
        videos.shots_video()


def run_section(key: str) -> list[Row]:
    import importlib

    title, module = SECTIONS[key]
    started = time.monotonic()
    try:
        mod = importlib.import_module(module)
        rows = mod.rows()
    except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
        log(f"{title} failed:\n{traceback.format_exc()}")
        rows = [Row(title, "section crashed", f"{type(exc).__name__}", "runs", None, False,
                    str(exc).splitlines()[0][:300] if str(exc) else "")]
    log(f"{title}: {time.monotonic() - started:.0f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated section numbers, e.g. 1,4")
    parser.add_argument("--out", type=Path, help="report path")
    args = parser.parse_args(argv)
    which = args.only.split(",") if args.only else list(SECTIONS)
    full = which == list(SECTIONS)
    out = args.out or (ROOT / "docs" / "BENCHMARKS.md" if full else OUT / "BENCHMARKS-partial.md")
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    started = time.monotonic()
    machine = common.machine()
    prepare(which)
    rows: list[Row] = []
    loads = []
    for key in which:
        before = os.getloadavg()[0]
        rows += run_section(key)
        loads.append(f"{key}: {before:.1f} -> {os.getloadavg()[0]:.1f}")
    seconds = time.monotonic() - started
    machine["load"] += ", at end {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    machine["load"] += "; 1-minute load before -> after each section: " + ", ".join(loads)
    machine["load"] += f" (other work on this {os.cpu_count()}-core machine shows up as load)"
    command = ".venv/bin/python -m bench.run" + (f" --only {args.only}" if args.only else "")
    from bench.report import markdown, table, write

    write(out, markdown(rows, machine, command, seconds, common.FINDINGS))
    print(table(rows))
    print(f"\n{len(rows)} rows in {seconds / 60:.1f} min; report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
