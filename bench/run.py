"""Run benchmark sections and write docs/BENCHMARKS.md: `.venv/bin/python -m bench.run`.

With no option every section runs. `--only 7,12` runs those sections: each replaces its own
entry in bench/results.json (rows, date, command, time taken, machine, load) and every other
section keeps its last run; the report is then written from all of them, after each section,
so an interrupted run keeps what it measured. A section that crashes becomes a failed row with
its error; the run goes on.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

from bench import common, report
from bench.common import OUT, REPORT, RESULTS, ROOT, Row, log

# Section N is bench.<SECTIONS[N - 1]>; its title is that module's SECTION.
SECTIONS = ("sampling", "throughput", "memory", "results_page", "cost", "startup",
            "deploy_rehearsal", "search", "upload_memory", "outages", "blob_in_place",
            "row_writes", "openai_chat", "idle_database", "shot_sampling")


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
    if "15" in which:
        from bench import shot_sampling

        shot_sampling.video()


def run_section(key: str) -> tuple[str, list[Row]]:
    """The section's title and rows (one failed row when it crashes)."""
    title = f"{key}. bench.{SECTIONS[int(key) - 1]}"
    try:
        module = importlib.import_module(f"bench.{SECTIONS[int(key) - 1]}")
        title = module.SECTION
        return title, module.rows()
    except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
        log(f"{title} failed:\n{traceback.format_exc()}")
        return title, [Row(title, "section crashed", f"{type(exc).__name__}", "runs", None,
                           False, str(exc).splitlines()[0][:300] if str(exc) else "")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    numbers = [str(n) for n in range(1, len(SECTIONS) + 1)]
    parser.add_argument("--only", help="comma-separated section numbers, e.g. 7,12 ("
                        + ", ".join(f"{n} {m}" for n, m in zip(numbers, SECTIONS, strict=True))
                        + ")")
    parser.add_argument("--results", type=Path, default=RESULTS, help="rows of every section")
    parser.add_argument("--report", type=Path, default=REPORT, help="the report written")
    args = parser.parse_args(argv)
    which = [k.strip() for k in args.only.split(",")] if args.only else numbers
    if unknown := [k for k in which if k not in numbers]:
        parser.error(f"no section {', '.join(unknown)}: sections are 1 to {len(SECTIONS)}")
    os.chdir(ROOT)
    OUT.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    started = time.monotonic()
    machine, commit = common.machine(), common.commit()
    command = ".venv/bin/python -m bench.run" + (f" --only {args.only}" if args.only else "")
    sections = report.read_sections(args.results)
    prepare(which)
    log(f"videos ready after {time.monotonic() - started:.0f} s (generated once into {OUT})")
    measured: list[Row] = []
    for key in which:
        found, began, when = len(common.FINDINGS), time.monotonic(), common.now()
        with common.LoadWatch() as load:
            title, rows = run_section(key)
        seconds = time.monotonic() - began
        log(f"{title}: {seconds:.0f} s; {load}")
        sections[key] = report.entry(title, measured=when, command=command, commit=commit,
                                     seconds=seconds, load=str(load), machine=machine, rows=rows,
                                     findings=common.FINDINGS[found:])
        report.save_sections(args.results, sections)
        report.write(args.report, report.markdown(sections))
        measured += rows
    print(report.table(measured))
    print(f"\n{len(measured)} rows in {(time.monotonic() - started) / 60:.1f} min; "
          f"report: {args.report}; rows: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
