"""docs/BENCHMARKS.md from bench/results.json: the rows of every section's last run.

bench/results.json holds one entry per section: its title, when and by which command it was
measured, how long it took, the machine and the load then, its rows and findings, and notes kept
as written. A run of some sections (`bench.run --only 7,12`) replaces those entries and keeps
every other one as it was; the report is then written again from all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from bench.common import Row

METHOD = """\
## How each figure is measured

1. **Sampling.** A 10-minute 1280x720 30 fps H.264 video (x264 ultrafast, keyframe every 250
   frames) with its frame number drawn into every frame as 15 black/white blocks. Each case is
   run in turn, the order rotated every round, 3 rounds, median taken; wall time and CPU time
   (this process plus waited-for children: ffmpeg) are both recorded. `sample_frames` is fully
   consumed (JPEG bytes produced for every frame) and every frame's drawn number is checked
   against its timestamp.
2. **Azure throughput.** The emulator of the tests (`tests/fixtures/vision_emulator.py`) runs in
   its own process (as a remote service would), answering after 300 ms and throttling above 10
   requests in any sliding second. The pipeline run is an `azure` Analysis over the 10-minute
   video at 1 fps run by `services.analysis.worker.Worker.run_one` with `AZURE_VISION_ENDPOINT`
   pointing at the emulator; the bare run calls `AzureAnalyzer.analyze` from 8 threads.
3. **Memory.** `python cli.py analyze` on a 1.08 GB and a 2.16 GB video (1280x720, 40 Mbit/s,
   the second is the first twice over), each with its own data folder.
4. **Results page.** A fresh SQLite database with one azure analysis of 3,600 frames and 60,000
   detections; `services.insights.results.load_frames` / `load_detections`, every public chart
   builder of `components/charts.py` (found by signature, called as the results page calls
   them) and the label segments with their timeline (`services.insights.segments`,
   `components/timeline.py`), each chart serialized as `st.altair_chart` does
   (`chart.to_dict()` with the data as Arrow, then JSON). 3 views in one process, median; the
   first view is given in the notes. The export is `services.insights.exports.export_files`
   writing detections.csv at minimum confidence 0 (every row), median of 3.
5. **Azure cost.** A 5-minute video of still and slowly moving shots with hard cuts at known
   times; fixed 1 fps and adaptive analyses through the pipeline against the emulator (no delay,
   no limit), each scenario in its own data folder; the fixed analysis is run twice on the same
   Video for the result cache.
6. **Start-up.** `streamlit run app.py` headless on a free port with its own data folder, polled
   every 50 ms; a fresh interpreter importing the 10 service modules, timed from launch.
7. **Deployment rehearsal** (`bench/deploy_rehearsal.py`). `git archive HEAD` less `.webappignore`
   (the zip `azd deploy` sends), unpacked; a fresh venv with `pip install -r requirements.txt`
   alone (as App Service's build does; this machine's package mirror, no pip cache); the Bicep's
   own startup command with `PORT` set, polled on `/_stcore/health`; then `cli.py analyze
   --no-wait` on a 4 s clip with nobody visiting, polled with `cli.py list` until the server's
   worker finishes it. Embedded defaults (SQLite, local folder, local analyser), not Azure.
8. **Search** (`bench/search.py`). 100 azure analyses of 60 frames each and 600 detections each
   (60,000 in all: tags, objects, people, OCR lines, dense captions, smart crops), bulk-inserted
   into a fresh SQLite database and a fresh PostgreSQL (the tests' throwaway server, same
   machine); `services.insights.search.search` at minimum confidence 0.5 over every kind, including
   captions; one warm-up run, then the median of 5. The schema has no index for search (a
   `LIKE '%word%'` cannot use one); the joins back to frames use the existing indexes.
9. **Browser upload memory** (`bench/upload_memory.py`). `streamlit run app.py` (local folder
   store); headless Chromium chooses a 1 GiB video (a 4 s clip padded with an MP4 `free` box) in
   the Upload page's widget, once, then in two browser contexts at once. The server's VmRSS once
   the pages have loaded is the idle figure; VmHWM, reset just before, is the peak, read when the
   page shows the stored video.
10. **Outages** (`bench/outages.py`). The emulator in its own process, answering after 100 ms;
    from the first request after its first 8 answers it answers every request with the fault for
    the whole stretch: 40 s of 429 with `Retry-After: 5`, then (a fresh run) 20 s of 503. An
    azure analysis of the first 120 frames at 1 fps of the 10-minute video at
    `AZURE_VISION_MAX_TPS=10`, concurrency 8, by `Worker.run_one`, each run in its own data
    folder. Floor = the same analysis without an outage, run first, plus the stretch; requests
    during the outage are the emulator's arrivals within the stretch.
11. **Blob video in place** (`bench/blob_in_place.py`). `cli.py analyze --fps 1` (local
    analyser) on a 66 MB (13 s) 1280x720 40 Mbit/s video with Azure Blob Storage on Azurite
    (http, loopback); the child's TMPDIR is a fresh folder sampled every 20 ms for its files and
    for files the child's processes hold open there (unnamed temporary files included).
12. **Row writes** (`bench/row_writes.py`). 300 frames of 50 detections each written through
    `services.analysis.jobs.record_frame` (frame row, detections in one executemany, fenced
    progress update, one transaction per frame) into a fresh SQLite database and into the tests'
    throwaway PostgreSQL (fsync and synchronous_commit off, as in the tests); rows per second =
    15,300 / wall time; median of 3 analyses.
14. **Idle database** (`bench/idle_database.py`). `streamlit run app.py` on its own database of a
    throwaway PostgreSQL 15 (autovacuum off: PostgreSQL's own transactions), nobody on the app,
    15 s after start; for 60 s, its sessions in pg_stat_activity (every 0.5 s), and the sessions
    opened and transactions in pg_stat_database (read 11 s after the minute, as backends report
    late), with FRAMEWISE_DB_IDLE_SECONDS=0 (never quiet, as
    before) and 10. Then `cli.py analyze --no-wait` queues a 3 s clip and Chromium opens the
    quiet app: seconds from the visit until the analysis has succeeded.
15. **Shot-aware sampling** (`bench/shot_sampling.py`). A 286 s 640x360 25 fps video of 16 flat
    colour shots of 2.1 to 50.2 s (a small box drifting in each, so no two frames are alike),
    hard cuts; in three long shots a magenta patch (a ninth of the picture) for 3 to 8 s at
    seeded random times. The tests' Vision emulator in process (no delay, no limit) answers
    with the recordings plus an OCR line naming the shot's colour, and EVENT while the patch
    shows. An azure analysis at fixed 1 fps and a shot-aware one (N = 10 s: the shot pass, then
    the planned frames), each by `Worker.run_one` in its own data folder; transactions are the
    requests the emulator answered. A fixed run's label segment is found when the shot-aware
    run has one of the same kind and label overlapping it, with 1 s of slack.
"""


# Targets once missed, the cause found, and the figure before and after the fix (same machine).
FIXES = """## Misses fixed: before and after

| figure | before | after | cause and fix |
|---|---|---|---|
| 1. sample_frames(fps=0.1) vs full decode | 0.97x (22.1 s vs 22.0 s) | 0.35x | one ffmpeg with `-vf fps=` decodes every frame to keep one in 300: frames at least 150 source frames apart are now fetched by seeking to each time (`services/video/seek.py`), two ffmpeg processes at once |
| 4. load + build + serialize every chart | 1.09 s to 1.22 s | 0.52 s | pandas probed each SQLAlchemy row object with `hasattr`, raising and catching an exception per row: rows are now turned into plain tuples first (`services/insights/results.py`) |
| 4. detections.csv export (60,000 rows) | 0.78 s to 0.81 s | 0.45 s | the same row conversion |
| 2. pipeline with AZURE_VISION_CONCURRENCY=1 | 2 requests in flight | 1 | the thread pool had twice the configured size; the read-ahead window keeps that size, the pool does not |
| 12. rows written per second, SQLite / PostgreSQL | 3,437 / 2,500 rows/s | 8,449 / 4,991 rows/s | the ORM added a Frame and 50 Detection objects per frame and fetched every new id; `jobs.record_frame` inserts the detections in one executemany (no id fetched) with the frame and its progress in one transaction; medians of 3 runs each, interleaved, load about 3 |
"""


def _ratio(row: Row) -> str:
    return "" if row.ratio is None else f"{row.ratio:.2f}x"


def _met(row: Row) -> str:
    return {True: "yes", False: "**NO**", None: "n/a"}[row.met]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _label(row: Row) -> str:
    return f"{row.section.split('.')[0]}. {row.figure}"


def table(rows: Iterable[Row]) -> str:
    lines = ["| figure | measured | target | ratio | met? | notes |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(x) for x in (
            _label(r), r.measured, r.target, _ratio(r), _met(r), r.notes)) + " |")
    return "\n".join(lines)


def entry(title: str, *, measured: str, command: str, commit: str, seconds: float, load: str,
          machine: dict[str, str], rows: list[Row], findings: list[str]) -> dict:
    """One section's result as bench/results.json keeps it."""
    return {"title": title, "measured": measured, "command": command, "commit": commit,
            "took": f"{seconds:.0f} s", "load": load, "machine": machine,
            "rows": [asdict(r) for r in rows], "findings": findings, "notes": []}


def read_sections(path: Path) -> dict[str, dict]:
    """Section number -> its last entry; empty when there is no file yet."""
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))["sections"]


def save_sections(path: Path, sections: dict[str, dict]) -> None:
    ordered = dict(sorted(sections.items(), key=lambda kv: int(kv[0])))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"sections": ordered}, indent=1, ensure_ascii=False) + "\n",
                    encoding="utf-8")


def _rows(section: dict) -> list[Row]:
    return [Row(**r) for r in section["rows"]]


def _machines(sections: dict[str, dict]) -> list[str]:
    """One column per distinct machine, headed by the sections measured on it."""
    groups: list[tuple[dict[str, str], list[str]]] = []
    for key, section in sections.items():
        facts = section["machine"]
        if facts is None:
            continue
        for seen, keys in groups:
            if seen == facts:
                keys.append(key)
                break
        else:
            groups.append((facts, [key]))
    if not groups:
        return ["No section recorded its machine."]
    names = list(dict.fromkeys(name for facts, _ in groups for name in facts))
    without = [k for k, s in sections.items() if s["machine"] is None]
    out = ["| | " + " | ".join(f"sections {', '.join(keys)}" for _, keys in groups) + " |",
           "|---|" + "---|" * len(groups),
           *(f"| {name} | " + " | ".join(_cell(facts.get(name, "")) for facts, _ in groups)
             + " |" for name in names)]
    if without:
        out += ["", f"Sections {', '.join(without)} did not record the machine: they come from "
                "runs merged into this file by hand before bench.run kept every section; their "
                "notes say where they ran."]
    return out


def _section(section: dict) -> list[str]:
    out = [f"## {section['title']}", "",
           f"Last measured on {section['measured']} by `{section['command']}`"
           + (f" at commit {section['commit']}" if section["commit"] else "") + "; time taken "
           f"{section['took']}; {section['load']}.", "", table(_rows(section)), ""]
    out += [f"- Finding: {f}" for f in section["findings"]] + ([""] if section["findings"] else [])
    for note in section["notes"]:
        out += [f"*{note['about']}*", "", note["text"], ""]
    return out


def markdown(sections: dict[str, dict]) -> str:
    """The whole report: summary, every section's last run, fixes and methods."""
    ordered = sorted(sections.items(), key=lambda kv: int(kv[0]))
    rows = [r for _, s in ordered for r in _rows(s)]
    missed = [r for r in rows if r.met is False]
    out = [
        "# Framewise benchmarks",
        "",
        "Written by `bench/report.py` from `bench/results.json`, which keeps every section's "
        "last measured rows. `.venv/bin/python -m bench.run` runs every section; `--only 7,12` "
        "runs those sections and keeps every other section's last figures, each with its own "
        "date, command and load (other work on the machine shows up as load). Targets are "
        "ratios measured side by side on the same machine, or the absolute limits of the issue. "
        "The benchmark only reports: it never fails the test suite. Generated videos are cached "
        "in `bench/out/`, which git ignores.",
        "",
        f"**{sum(r.met is True for r in rows)} of {sum(r.met is not None for r in rows)} targets "
        "met** over every section's last run"
        + (": missed " + "; ".join(_label(r) for r in missed) if missed else "."),
        "",
        "| section | last measured | command | time taken | load |",
        "|---|---|---|---|---|",
        *(f"| {_cell(s['title'])} | {s['measured']} | `{_cell(s['command'])}` | {s['took']} | "
          f"{_cell(s['load'])} |" for _, s in ordered),
        "",
        "## Machine",
        "",
        *_machines(dict(ordered)),
        "",
    ]
    for _, section in ordered:
        out += _section(section)
    out += [FIXES, METHOD]
    return "\n".join(out)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
