"""cli.py export, search and compare as a user runs them, over two Azure analyses made by the
pipeline against the Vision emulator (SQLite in the CLI's data folder)."""

from __future__ import annotations

import csv
import json
import os

import pytest

from services.config import load_settings
from services.context import open_services
from tests.fixtures.cli import cli
from tests.fixtures.library import WORD_LINE, make_scene_videos, run_analysis, scene_env
from tests.fixtures.tools import ROOT

pytestmark = pytest.mark.slow  # every test runs cli.py processes (no `env` fixture to tell)


@pytest.fixture(scope="module")
def library(tmp_path_factory, scene_emulator):
    """(CLI environment, id of analysis a, id of analysis b), made once for the module."""
    home = tmp_path_factory.mktemp("cli-insights")
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("FRAMEWISE_", "AZURE_", "DATABASE_URL"))}
    env = {**clean, **scene_env(home / "data", scene_emulator), "PYTHONPATH": str(ROOT)}
    services = open_services(load_settings(env, dotenv=None))
    a, b = (run_analysis(services, path) for path in make_scene_videos(home))
    services.engine.dispose()
    return env, a, b


def lines(done) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_search_prints_one_json_object_per_segment(library):
    """Test that `search zebra` prints exactly b's one segment with its link, and a query that
    matches nothing prints nothing and exits 0."""
    env, _, b = library
    assert lines(cli(env, "search", "zebra")) == [{
        "analysis_id": b, "video": "crossing.mp4", "kind": "text_line", "label": WORD_LINE,
        "start_s": 3.0, "end_s": 5.0, "frames": 3, "max_confidence": pytest.approx(0.97),
        "link": f"http://framewise.test/results?analysis={b}&t=3",
    }]
    nothing = cli(env, "search", "no such words")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "")


def test_search_options(library):
    """Test --kind, --min-confidence and --limit, and one-line errors for bad values."""
    env, a, b = library
    tags = lines(cli(env, "search", "person", "--kind", "tag"))
    assert [(r["analysis_id"], r["kind"]) for r in tags] == [(b, "tag"), (a, "tag")]
    two = lines(cli(env, "search", "person", "--kind", "tag", "--kind", "object"))
    assert {r["kind"] for r in two} == {"tag", "object"}
    assert len(lines(cli(env, "search", "using"))) == 2
    assert lines(cli(env, "search", "using", "--min-confidence", "0.6")) == []
    assert len(lines(cli(env, "search", "person", "--limit", "1"))) == 1
    for bad in (["search", "x", "--min-confidence", "1.5"], ["search", "x", "--kind", "nope"],
                ["search", " "], ["search", "x", "--limit", "0"]):
        done = cli(env, *bad)
        assert done.returncode == 2 and done.stdout == "", bad
        last = done.stderr.strip().splitlines()[-1]  # argparse's usage, then one error line
        assert "error:" in last and "Traceback" not in done.stderr, done.stderr


def test_compare_prints_one_json_object_with_label_shares(library):
    """Test that `compare A B` prints both analyses' settings and metrics and every label's share
    of frames, the word of b marked as only in b."""
    env, a, b = library
    [doc] = lines(cli(env, "compare", a, b))
    assert (doc["a"]["analysis_id"], doc["b"]["analysis_id"]) == (a, b)
    shares = {(r["kind"], r["label"]): (r["share_a"], r["share_b"], r["only"])
              for r in doc["labels"]}
    assert shares[("text_line", WORD_LINE)] == (0.0, 0.375, "b")
    assert shares[("tag", "furniture")] == (1.0, 1.0, None)
    assert {s["name"] for s in doc["statistics"]} >= {"brightness", "motion", "black_share"}
    missing = cli(env, "compare", a, "0" * 32)
    assert missing.returncode == 2 and missing.stderr.startswith("error: no analysis with id")


def test_export_writes_only_the_files_asked_for(library, tmp_path):
    """Test that --frames alone writes that file and nothing in the current folder."""
    env, _, b = library
    before = set(os.listdir(env["FRAMEWISE_DATA_DIR"]))
    out = tmp_path / "f.csv"
    assert lines(cli(env, "export", b, "--frames", str(out))) == [{"frames": str(out)}]
    assert len(list(csv.DictReader(out.open(encoding="utf-8")))) == 8
    assert set(os.listdir(env["FRAMEWISE_DATA_DIR"])) == before
    seg = tmp_path / "s.csv"
    done = lines(cli(env, "export", b, "--segments", str(seg), "--json", str(tmp_path / "i.json")))
    assert set(done[0]) == {"segments", "json"}
    rows = list(csv.DictReader(seg.open(encoding="utf-8")))
    assert [(r["start_s"], r["end_s"], r["frames"]) for r in rows if r["label"] == WORD_LINE] \
        == [("3.0", "5.0", "3")]
    assert sum(r["label"] == "furniture" for r in rows) == 1  # a label seen in every frame
    assert json.loads((tmp_path / "i.json").read_text("utf-8"))["analysis"]["id"] == b


def test_export_with_no_file_option_writes_all_of_them_here(library):
    """Test that export with no file option writes the seven files into the current folder."""
    env, _, b = library  # cli() runs in the data folder: that is the current folder
    written = lines(cli(env, "export", b))[0]
    assert set(written) == {"frames", "detections", "segments", "json", "notes", "shots", "edl"}
    for name in written.values():
        assert os.path.exists(os.path.join(env["FRAMEWISE_DATA_DIR"], name))
        os.remove(os.path.join(env["FRAMEWISE_DATA_DIR"], name))
    assert sorted(written.values()) == sorted(
        [f"{b}-frames.csv", f"{b}-detections.csv", f"{b}-segments.csv", f"{b}-insights.json",
         f"{b}-notes.csv", f"{b}-shots.csv", f"{b}-shots.edl"])


def test_export_min_confidence_matches_what_the_page_counts(library, tmp_path):
    """Test that export --min-confidence changes the counts, and a bad folder is refused whole."""
    env, _, b = library
    low, high = tmp_path / "low.csv", tmp_path / "high.csv"
    lines(cli(env, "export", b, "--frames", str(low), "--min-confidence", "0"))
    lines(cli(env, "export", b, "--frames", str(high), "--min-confidence", "0.65"))
    first = [next(csv.DictReader(p.open(encoding="utf-8"))) for p in (low, high)]
    assert [(r["people_count"], r["object_count"]) for r in first] == [("2", "5"), ("1", "2")]
    ok, bad = tmp_path / "ok.csv", tmp_path / "missing" / "d.csv"
    done = cli(env, "export", b, "--frames", str(ok), "--detections", str(bad))
    assert done.returncode == 2 and "no such folder" in done.stderr and not ok.exists()
