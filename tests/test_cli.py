"""cli.py as a user runs it: real processes, exit codes, the JSON line, exports."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest
from sqlmodel import Session, select

from services.analysis.estimate import estimate
from services.config import load_settings
from services.context import open_services
from services.insights.exports import DETECTIONS_CSV_COLUMNS, FRAMES_CSV_COLUMNS
from services.library import video_info
from services.models import Analysis, Frame, Video
from tests.fixtures.cli import cli
from tests.fixtures.tools import ROOT
from tests.fixtures.videos import make_audio_only, make_video


def _state(env) -> tuple[int, int, list[str]]:
    services = open_services(load_settings(env, dotenv=None))
    with Session(services.engine) as s:
        videos = len(s.exec(select(Video)).all())
        analyses = len(s.exec(select(Analysis)).all())
    return videos, analyses, services.store.list()


def test_analyze_runs_to_the_end_and_prints_one_json_line(env, tmp_path):
    """Test that analyze exits 0 and ends stdout with the JSON summary."""
    video = make_video(tmp_path / "clip.mp4", seconds=3)
    done = cli(env, "analyze", str(video), "--fps", "2")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["frames"] == 6
    assert summary["transactions"] == 0 and len(summary["analysis_id"]) == 32
    assert "frames 6/6" in done.stderr


def test_max_frames_limits_the_analysis(env, tmp_path):
    """Test that --max-frames caps the number of analysed frames."""
    video = make_video(tmp_path / "clip.mp4", seconds=3)
    done = cli(env, "analyze", str(video), "--fps", "10", "--max-frames", "4")
    assert json.loads(done.stdout.splitlines()[-1])["frames"] == 4


def test_export_writes_csvs_matching_the_database(env, tmp_path):
    """Test that export writes both CSVs with the documented columns and every row."""
    video = make_video(tmp_path / "clip.mp4", seconds=2)
    aid = json.loads(cli(env, "analyze", str(video)).stdout.splitlines()[-1])["analysis_id"]
    frames_csv, det_csv = tmp_path / "f.csv", tmp_path / "d.csv"
    done = cli(env, "export", aid, "--frames", str(frames_csv), "--detections", str(det_csv))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(frames_csv.open(encoding="utf-8")))
    assert list(rows[0].keys()) == FRAMES_CSV_COLUMNS
    services = open_services(load_settings(env, dotenv=None))
    with Session(services.engine) as s:
        db_rows = s.exec(select(Frame).where(Frame.analysis_id == aid)).all()
    assert len(rows) == len(db_rows) == 2
    assert rows[0]["people_count"] == "" and "None" not in frames_csv.read_text()
    assert det_csv.read_text(encoding="utf-8").splitlines() == [",".join(DETECTIONS_CSV_COLUMNS)]


def test_an_adaptive_cli_run_stores_the_adaptive_estimate(env, tmp_path):
    """Test that analyze --adaptive stores the page's adaptive estimate (one frame per interval)."""
    video = make_video(tmp_path / "clip.mp4", seconds=30, size=(160, 120))
    azure = {**env, "AZURE_VISION_ENDPOINT": "https://vision.invalid", "AZURE_VISION_KEY": "k"}
    runs = {}
    for flags in ((), ("--adaptive",)):
        done = cli(azure, "analyze", str(video), "--analyzer", "azure", "--fps", "2",
                   "--no-wait", *flags)
        assert done.returncode == 0, done.stderr
        runs[flags] = json.loads(done.stdout.splitlines()[-1])["analysis_id"]
    services = open_services(load_settings(azure, dotenv=None))
    with Session(services.engine) as s:
        fixed, adaptive = (s.get(Analysis, runs[k]) for k in ((), ("--adaptive",)))
        video_row = s.exec(select(Video)).first()
    expected = estimate(video_info(video_row), fps=2, max_frames=None, analyzer="azure",
                        price_per_1000=services.settings.vision_price_per_1000, adaptive=True)
    assert adaptive.adaptive and adaptive.estimated_cost == expected.cost
    assert expected.transactions == 3 and fixed.estimated_cost > adaptive.estimated_cost


def test_no_wait_queues_and_a_worker_runs_it(env, tmp_path):
    """Test that --no-wait only queues, and `worker --once` then completes the analysis."""
    video = make_video(tmp_path / "clip.mp4", seconds=1)
    queued = json.loads(cli(env, "analyze", str(video), "--no-wait").stdout.splitlines()[-1])
    assert queued["status"] == "queued" and queued["frames"] == 0
    ran = cli(env, "worker", "--once")
    assert json.loads(ran.stdout.splitlines()[-1]) == {
        "analysis_id": queued["analysis_id"], "status": "succeeded"}
    listed = cli(env, "list")
    assert queued["analysis_id"] in listed.stdout and "succeeded" in listed.stdout


@pytest.mark.parametrize(
    "name, make, reason",
    [
        ("empty.mp4", lambda p: p.write_bytes(b""), "empty"),
        ("random.mp4", lambda p: p.write_bytes(os.urandom(50_000)), "not a video"),
        ("notes.mp4", lambda p: p.write_text("hello, not a video\n" * 100), "not a video"),
        ("sound.mp4", lambda p: make_audio_only(p), "no video"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(env, tmp_path, name, make, reason):
    """Test that bad files are refused with exit 2, one error line, no rows and no blobs."""
    path = tmp_path / name
    make(path)
    done = cli(env, "analyze", str(path))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and reason in errors[0].lower(), done.stderr
    assert "Traceback" not in done.stderr
    assert _state(env) == (0, 0, [])


def test_a_video_with_a_hostile_name_is_stored_under_a_generated_key(env, tmp_path):
    """Test that an emoji, non-ASCII file name is accepted and never used as a storage key."""
    path = tmp_path / "évil 🎬 $(rm -rf).mp4"
    make_video(path, seconds=1)
    done = cli(env, "analyze", str(path))
    assert done.returncode == 0, done.stderr
    _, _, keys = _state(env)
    assert keys and all("évil" not in k and "rm" not in k for k in keys)


def test_invalid_settings_name_the_setting_without_a_traceback(env, tmp_path):
    """Test that a bad setting stops the CLI with exit 2 and the setting's name."""
    video = make_video(tmp_path / "clip.mp4", seconds=1)
    for var, value in [("FRAMEWISE_LEASE_SECONDS", "soon"), ("DATABASE_URL", "nonsense"),
                       ("AZURE_VISION_ENDPOINT", "not a url")]:
        done = cli({**env, var: value}, "analyze", str(video))
        assert done.returncode == 2 and var in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_missing_file_and_unknown_analysis_exit_2(env):
    """Test that a missing path and an unknown analysis id are bad input (exit 2)."""
    for args in (["analyze", "nope.mp4"], ["export", "f" * 32], ["cancel", "f" * 32]):
        done = cli(env, *args)
        assert done.returncode == 2 and done.stderr.startswith("error:"), done.stderr


def test_cancel_a_queued_analysis(env, tmp_path):
    """Test that `cancel` marks a queued analysis cancelled and a worker then skips it."""
    video = make_video(tmp_path / "clip.mp4", seconds=1)
    aid = json.loads(cli(env, "analyze", str(video), "--no-wait").stdout.splitlines()[-1])[
        "analysis_id"]
    assert cli(env, "cancel", aid).returncode == 0
    assert json.loads(cli(env, "worker", "--once").stdout.splitlines()[-1]) == {}
    assert "cancelled" in cli(env, "list").stdout


def test_cli_main_is_importable_without_streamlit():
    """Test that the CLI and services import without pulling in streamlit."""
    code = ("import sys, cli, services.analysis.worker, services.analysis.pipeline; "
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
