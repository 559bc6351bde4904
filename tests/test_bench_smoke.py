"""The benchmark harness (bench/) works end to end on tiny inputs. Functional only: no timing
assertions; the real figures come from `.venv/bin/python -m bench.run` (docs/BENCHMARKS.md)."""

from __future__ import annotations

import pytest

from bench import cost, memory, report, results_page, sampling, startup, throughput
from bench import search as search_bench
from bench.common import RESULTS, Row, timed
from bench.emulator import EmulatorProcess
from bench.harness import services_for
from bench.videos import coded_video, read_code, shots_video
from services.video.frames import FrameStream
from services.video.probe import probe
from services.video.sampling import sample_frames
from services.video.seek import SeekingFrameStream

TINY_PLAN = ((2.4, "smptebars"), (1.3, "red"), (2.3, "blue"))


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """4 s, 640x360, 10 fps, each frame carrying its own number."""
    return coded_video(seconds=4, size=(640, 360), fps=10, out=tmp_path_factory.mktemp("v"))


def test_frame_numbers_read_back_from_sampled_frames(coded):
    """Test that every frame sampled at 2 fps shows the source frame of its timestamp."""
    got = [(f.timestamp_s, read_code(f.rgb)) for f in sample_frames(coded, fps=2)]
    assert got == [(k / 2, k * 5) for k in range(8)]


def test_sampling_cases_run_and_check_accuracy(coded):
    """Test that one interleaved round runs every case and checks each frame's time."""
    results = sampling.measure(coded, repeats=1, sparse_fps=0.5)
    assert set(results) == {"sample_1", "ffmpeg_fps1", "sample_sparse", "ffmpeg_all"}
    for name in ("sample_1", "sample_sparse"):
        (timing, checked), = results[name]
        assert timing.wall > 0 and timing.cpu > 0
        assert checked.frames > 0 and checked.max_offset <= 1 and not checked.off
    assert results["sample_1"][0][1].frames == 4
    assert results["sample_sparse"][0][1].frames == 2


def test_sparse_seek_agrees_with_the_sequential_sampler(coded):
    """Test that the seeking sampler yields the sequential sampler's frames: the same one where
    a time falls on a source frame, else at most one source frame later."""
    info = probe(coded)
    for fps, most in ((0.5, 0), (0.75, 1)):  # 0, 2, 4 s fall on frames; 1.33 and 2.67 s do not
        seq = [(f.index, f.timestamp_s, read_code(f.rgb))
               for f in FrameStream(coded, info, fps, None, 1280)]
        seek = [(f.index, f.timestamp_s, read_code(f.rgb))
                for f in SeekingFrameStream(coded, info, fps, None, 1280)]
        assert [s[:2] for s in seek] == [s[:2] for s in seq] and len(seq) in (2, 3)
        assert all(0 <= b[2] - a[2] <= most for a, b in zip(seq, seek, strict=True))


def test_timed_counts_child_cpu(coded):
    """Test that timed() sees the CPU of a waited-for ffmpeg child."""
    with timed() as t:
        sampling.ffmpeg_decode(coded)
    assert t.cpu_children > 0 and t.wall > 0


def test_throughput_bare_and_pipeline_against_the_emulator(coded):
    """Test that both throughput runs complete against the emulator process without 429s."""
    seconds, stats = throughput.bare(4, 2, coded)
    assert seconds > 0 and stats["requests"] == 4 and stats["statuses"] == {"200": 4}
    seconds, frames, transactions, stats = throughput.pipeline(1.0, 3, 2, coded)
    assert (frames, transactions) == (3, 3) and stats["statuses"] == {"200": 3}


def test_emulator_process_counts_requests():
    """Test that the emulator runs in a child process and reports its counters."""
    with EmulatorProcess(rate_limit=5, delay_s=0.0) as emu:
        assert emu.endpoint.startswith("http://127.0.0.1:")
        assert emu.stats()["requests"] == 0


def test_memory_peaks_of_the_cli(coded, tmp_path):
    """Test that cli.py analyze runs under the wrapper and every ffmpeg it starts is measured.

    The ffmpeg runs here last a fraction of a second: each is measured at its exit, and its
    peak must exceed the floor its spawner sets, so the figure is ffmpeg's and not the wrapper's.
    """
    peak = memory.run_cli(coded, 1.0, tmp_path)
    assert peak.summary["status"] == "succeeded" and peak.summary["frames"] == 4
    assert peak.python_mb > 10 and peak.tree_mb > 10
    assert peak.ffmpeg_runs >= 1 and peak.ffmpeg_mb > peak.ffmpeg_floor_mb > 1


def test_results_page_view_and_export(tmp_path):
    """Test that a small analysis loads, every chart builder is found and serializes."""
    services = services_for(tmp_path)
    aid = results_page.build_analysis(services.engine, n_frames=30, n_detections=400)
    view = results_page.one_view(services.engine, aid)
    assert (view["frames"], view["detections"]) == (30, 400)
    assert view["bytes"] > 0 and any(k.startswith("build metric_chart") for k in view)
    rows = results_page.rows(repeats=1, n_frames=30, n_detections=400)
    assert [r.met is not None for r in rows] == [True, True]
    services.engine.dispose()


def test_search_rows_find_the_rare_word_once(tmp_path):
    """Test that the search section builds its library and reports every query with a verdict."""
    services = services_for(tmp_path)
    search_bench.build_library(services.engine, n_analyses=3, frames_each=30, detections_each=60)
    found = {q: n for q, _, _, _, _, n in search_bench.time_queries(services.engine, repeats=1)}
    assert found["zebra"] == 1 and found["no such words"] == 0 and found["tag07"] > 0
    services.engine.dispose()
    rows = search_bench.rows(repeats=1, postgres=False, n_analyses=3)
    assert len(rows) == len(search_bench.QUERIES) and all(r.met is not None for r in rows)


def test_cost_rows_on_a_tiny_shots_video(tmp_path):
    """Test that adaptive and fixed runs, shot coverage and the cache row are produced."""
    video = shots_video(TINY_PLAN, size=(320, 180), fps=10, out=tmp_path)
    rows = cost.rows(video=video, plan=TINY_PLAN)
    assert len(rows) == 3
    assert rows[1].measured == "3 of 3 shots"
    assert cost.coverage([0.0, 1.0, 2.5], [(0, 2), (2, 3), (3, 4)]) == [2, 1, 0]


def test_startup_measurements():
    """Test that streamlit becomes healthy and the fresh import is timed from launch."""
    health, _ = startup.streamlit_start()
    ready, inside, whole = startup.import_time()
    assert health > 0 and 0 < inside <= ready <= whole


def test_outage_case_runs_through_a_stretch_of_503s(coded, monkeypatch):
    """Test that section 10's run meets its scripted stretch and still analyses every frame."""
    from bench import outages

    monkeypatch.setattr(outages, "FRAMES", 4)
    wall, analysis, stats = outages.run_case({"status": 503, "seconds": 1, "after": 2}, coded)
    assert wall > 0 and analysis.status == "succeeded" and analysis.frames_done == 4
    assert stats["statuses"]["200"] == 4 and stats["stretches"][0]["requests"] >= 1


def test_rehearsal_package_is_the_committed_tree_less_webappignore(tmp_path):
    """Test that section 7's package holds committed files only, none that .webappignore
    leaves out, and keeps the startup script executable."""
    import zipfile

    from bench import deploy_rehearsal

    zip_path, files = deploy_rehearsal.package(tmp_path)
    with zipfile.ZipFile(zip_path) as z:
        names = {i.filename: i for i in z.infolist()}
    assert len(names) == files and "app.py" in names and "requirements.txt" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/", ".git/"))]
    assert names["scripts/appservice-start.sh"].external_attr >> 16 & 0o111


def test_report_has_every_row_the_machine_and_the_load():
    """Test that the markdown report carries each section's table, verdicts, machine and load."""
    rows = [Row("1. Sampling", "a", "1 s", "<= 2 s", 0.5, True, "n|x"),
            Row("2. Azure throughput", "b", "3 s", "<= 2 s", 1.5, False)]
    sections = {key: report.entry(rows[i].section, measured="today", command="cmd", commit="abc",
                                  seconds=60,
                                  load=f"load {key}", machine={"cpu": "test cpu"},
                                  rows=[rows[i]], findings=["found"] if i else [])
                for i, key in enumerate(("1", "2"))}
    text = report.markdown(sections)
    assert "| 1. a | 1 s | <= 2 s | 0.50x | yes | n\\|x |" in text
    assert "**1 of 2 targets met**" in text and "missed 2. b" in text
    assert "test cpu" in text and "- Finding: found" in text and "load 2" in text


def test_a_run_of_one_section_keeps_every_other_section(monkeypatch, tmp_path):
    """Test that `bench.run --only 12` replaces section 12's entry and rewrites the report from
    every section, keeping the others' last rows, dates, loads and notes as they were."""
    from bench import row_writes, run

    seed = report.read_sections(RESULTS)
    results, written = tmp_path / "results.json", tmp_path / "BENCHMARKS.md"
    report.save_sections(results, seed)
    monkeypatch.setattr(row_writes, "FRAMES", 4)
    monkeypatch.setattr(row_writes, "REPEATS", 1)
    monkeypatch.chdir(tmp_path)
    assert run.main(["--only", "12", "--results", str(results), "--report", str(written)]) == 0
    after = report.read_sections(results)
    assert set(after) == set(seed) and {k: after[k] for k in seed if k != "12"} == {
        k: v for k, v in seed.items() if k != "12"}
    fresh = after["12"]
    assert fresh["command"].endswith("--only 12") and fresh["measured"] != seed["12"]["measured"]
    assert fresh["rows"][0]["measured"].endswith("rows/s") and "1-minute load" in fresh["load"]
    assert fresh["notes"] == [] and fresh["machine"]["cores"]
    text = written.read_text(encoding="utf-8")
    assert text == report.markdown(after)
    for key, section in seed.items():
        if key != "12":
            assert f"Last measured on {section['measured']} by `{section['command']}`" in text
            assert all(note["text"] in text for note in section["notes"])
    with pytest.raises(SystemExit):
        run.main(["--only", str(len(run.SECTIONS) + 1), "--results", str(results),
                  "--report", str(written)])


def test_row_writes_bench_measures_frames_written_through_record_frame(monkeypatch, tmp_path):
    """Test that the row-writes section stores every frame and detection it times."""
    from sqlalchemy import func, select

    from bench import row_writes
    from services.models import Detection, Frame

    monkeypatch.setattr(row_writes, "FRAMES", 4)
    services = services_for(tmp_path)
    assert row_writes.measure(services.engine, 0) > 0
    with services.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Frame)) == 4
        assert conn.scalar(select(func.count()).select_from(Detection)) == 4 * row_writes.PER_FRAME


def test_openai_section_runs_every_part_on_a_tiny_plan():
    """Test that section 13 runs against the OpenAI emulator process on a tiny plan: estimates
    equal to the emulator's counts for each size and model, both pacing runs, both stretches of
    429s with every frame answered, and the cost rows (no timing asserted)."""
    from bench import openai_chat

    plan = openai_chat.QUICK
    rows = openai_chat.rows(plan)
    tokens = [r for r in rows if r.figure.startswith("image tokens")]
    assert len(tokens) == len(plan.sizes) and all(r.met is True for r in tokens)
    assert all(m in tokens[0].measured for m in openai_chat.MODELS)
    paced = [r for r in rows if "binds" in r.figure]
    assert len(paced) == 5 and all(r.met is not None for r in paced)
    walls = [r for r in paced if r.figure.endswith("wall time")]
    assert len(walls) == 2 and all(f"{plan.frames}/{plan.frames} answered" in r.notes
                                   for r in walls)
    assert f"{plan.frames_4x3} frames, {plan.frames_4x3} answered" in paced[-1].notes
    answered = [r for r in rows if r.figure.endswith("every frame answered, the run ends")]
    assert len(answered) == len(plan.stretch_waits) and all(r.met is True for r in answered)
    assert sum("requests during the stretch" in r.figure for r in rows) == len(answered)
    estimated, counted = [r for r in rows if r.figure.startswith("cost per hour")]
    assert estimated.measured.endswith(" USD") and counted.met is True
    assert len(rows) == len(plan.sizes) + 5 + 3 * len(plan.stretch_waits) + 2
    assert all(isinstance(f, str) for f in openai_chat.findings(rows))
