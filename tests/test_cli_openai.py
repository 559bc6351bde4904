"""cli.py with the Azure OpenAI analyser as a user runs it, against the chat-completions emulator:
analyze --questions (the JSON line's tokens and costs), export --answers and the insights JSON's
questions and usage, search finding text answers and choices (SQLite and PostgreSQL); bad
question files refused leaving nothing; the question options and answers.csv refused for other
analysers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from services.analysis.estimate import estimate
from services.config import load_settings
from services.context import open_services
from services.domain import AnalyzerKind
from services.library import video_info
from services.models import Analysis, AnalysisQuestion, AnswerRow, Video
from services.questions import parse_questions
from services.vision.openai_results import frame_estimate, frame_prices
from services.vision.openai_tokens import Prices
from tests.fixtures.cli import cli
from tests.fixtures.videos import make_video

QUESTIONS = [
    {"key": "bright", "text": "Is the frame bright?", "type": "yes_no"},
    {"key": "level", "text": "How light is it?", "type": "count"},
    {"key": "tone", "text": "Its tone?", "type": "choice",
     "choices": ["dark", "dim", "light", "white"]},
    {"key": "note", "text": "Describe the light", "type": "text"},
]
# Red 0-2 s, blue 2-4 s, green 4-6 s, white 6-8 s: grey levels ~0.30, 0.11, 0.59, 1.0, so the
# emulator's rule answers the choices dim, dark, light, white.
CUTS = (2.0, 4.0, 6.0)


def openai_env(env: dict, emulator, database_url: str | None = None) -> dict:
    found = {"AZURE_OPENAI_ENDPOINT": emulator.endpoint, "AZURE_OPENAI_API_KEY": emulator.key,
             "AZURE_OPENAI_TPM": "5000000", "AZURE_OPENAI_RPM": "5000",
             "FRAMEWISE_PUBLIC_URL": "http://framewise.test"}
    return {**env, **found, **({"DATABASE_URL": database_url} if database_url else {})}


def questions_file(folder: Path, content: object, name: str = "questions.json") -> Path:
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content),
                    encoding="utf-8")
    return path


def last_json(done) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_openai_analyze_export_and_search(env, database_url, openai_emulator, tmp_path):
    """Test the whole CLI path: analyze --analyzer openai --questions prints the tokens the
    service counted, the estimate and the cost at the settings' prices; export --answers writes
    one row per frame with a column per question; search finds a text answer and a choice as
    answer segments linking to their moment."""
    env = openai_env(env, openai_emulator, database_url)
    video = make_video(tmp_path / "lights.mp4", seconds=8, fps=10, pattern="cuts", cuts=CUTS)
    asked = questions_file(tmp_path, QUESTIONS)
    done = cli(env, "analyze", str(video), "--analyzer", "openai", "--questions", str(asked))
    line = last_json(done)
    assert line["status"] == "succeeded" and line["frames"] == 8, done.stderr
    seen = openai_emulator.seen
    assert line["transactions"] == len(seen) and all(s.status == 200 for s in seen)
    assert line["prompt_tokens"] == sum(s.prompt_tokens for s in seen) > 0
    assert line["completion_tokens"] == sum(s.completion_tokens for s in seen) > 0
    settings = load_settings(env, dotenv=None)
    assert line["cost_usd"] == pytest.approx(
        Prices(0.40, 1.60).cost(line["prompt_tokens"], line["completion_tokens"]), abs=1e-6)
    services = open_services(settings)
    with Session(services.engine) as session:
        stored = session.exec(select(Analysis)).one()
        info = video_info(session.exec(select(Video)).one())
    plan = estimate(info, fps=1.0, max_frames=None, analyzer=AnalyzerKind.openai,
                    price_per_1000=0.0, tokens=(frame_estimate(
                        settings, 320, 240, parse_questions(QUESTIONS)), frame_prices(settings)))
    assert line["estimated_cost_usd"] == stored.estimated_cost == plan.cost >= line["cost_usd"]
    assert stored.parsed_features == ("caption", "tags")
    services.engine.dispose()

    aid = line["analysis_id"]
    out = tmp_path / "answers.csv"
    wrote = last_json(cli(env, "export", aid, "--answers", str(out)))
    assert wrote == {"answers": str(out)}
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert list(rows[0]) == ["frame_index", "timestamp_s",
                             *(f"{key}{end}" for key in ("bright", "level", "tone", "note")
                               for end in ("", "_model", "_reviewed_by")), "invalid"]
    assert [r["tone"] for r in rows] == ["dim"] * 2 + ["dark"] * 2 + ["light"] * 2 + ["white"] * 2
    assert [r["bright"] for r in rows] == ["no"] * 4 + ["yes"] * 4
    assert [float(r["timestamp_s"]) for r in rows] == [float(i) for i in range(8)]
    assert {r["invalid"] for r in rows} == {""}
    everything = last_json(cli(env, "export", aid))  # no file named: all it has, here
    assert list(everything) == ["frames", "detections", "segments", "json", "answers", "notes",
                                "shots", "edl"]
    here = Path(env["FRAMEWISE_DATA_DIR"])
    assert (here / everything["answers"]).read_bytes() == out.read_bytes()
    doc = json.loads((here / everything["json"]).read_text(encoding="utf-8"))
    assert [(q["key"], q["choices"]) for q in doc["questions"]] == [
        (q["key"], q.get("choices", [])) for q in QUESTIONS]
    summary = {q["key"]: q["summary"] for q in doc["questions"]}
    assert summary["bright"] == {"frames_answered": 8, "frames_cannot_tell": 0,
                                 "frames_invalid": 0, "share_yes": 0.5}
    assert summary["tone"]["frames_per_choice"] == {"dark": 2, "dim": 2, "light": 2, "white": 2}
    assert summary["level"]["mean"] == pytest.approx(sum(int(r["level"]) for r in rows) / 8)
    usage = doc["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["cost_usd"],
            usage["estimated_cost_usd"], usage["requests"]) == (
        line["prompt_tokens"], line["completion_tokens"], line["cost_usd"],
        line["estimated_cost_usd"], line["transactions"])
    assert [f["answers"]["tone"] for f in doc["frames"]] == [r["tone"] for r in rows]
    # The answers' runs are segments in segments.csv and the JSON, as on the results page.
    segments = list(csv.DictReader((here / everything["segments"]).open(encoding="utf-8")))
    yes_runs = [(s["start_s"], s["end_s"]) for s in segments
                if (s["kind"], s["label"]) == ("answer", "bright: yes")]
    assert yes_runs == [("4.0", "7.0")]
    assert ("answer", "bright: yes", 4.0, 7.0) in {
        (s["kind"], s["label"], s["start_s"], s["end_s"]) for s in doc["segments"]}

    found = [json.loads(x) for x in last_and_all(cli(env, "search", "LIGHT"))]
    assert found == [{
        "analysis_id": aid, "video": "lights.mp4", "kind": "answer", "label": "tone: light",
        "start_s": 4.0, "end_s": 5.0, "frames": 2, "max_confidence": None,
        "link": f"http://framewise.test/results?analysis={aid}&t=4",
    }]
    notes = [json.loads(x) for x in last_and_all(
        cli(env, "search", "Brightness", "--kind", "answer"))]
    runs = []  # the note's runs of the same text, read from answers.csv
    for r in rows:
        if runs and runs[-1][0] == r["note"]:
            runs[-1][2] = float(r["timestamp_s"])
        else:
            runs.append([r["note"], float(r["timestamp_s"]), float(r["timestamp_s"])])
    assert [(n["label"], n["start_s"], n["end_s"]) for n in notes] == [
        (f"note: {text}", start, end) for text, start, end in runs]
    assert len(runs) == 4


def last_and_all(done) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _nothing_stored(env) -> None:
    services = open_services(load_settings(env, dotenv=None))
    with Session(services.engine) as session:
        for table in (Video, Analysis, AnalysisQuestion, AnswerRow):
            assert session.exec(select(table)).all() == [], table.__name__
    assert services.store.list() == []
    services.engine.dispose()


@pytest.mark.parametrize("case, args, words", [
    ("not json", ["--questions", "{q}"], ["questions.json", "is not JSON"]),
    ("no questions", ["--questions", "{q}"], ["there are no questions"]),
    ("bad type", ["--questions", "{q}"], ["question 1", "type 'rating'"]),
    ("missing file", ["--questions", "{missing}"], ["cannot read the questions file"]),
    ("not asked", [], ["--analyzer openai needs --questions"]),
    ("features", ["--questions", "{q}", "--features", "tags"], ["--features is for"]),
])
def test_a_bad_question_set_is_refused_leaving_nothing(env, openai_emulator, tmp_path, case,
                                                       args, words):
    """Test that a questions file that is not JSON, empty or breaks the rules, a missing file,
    no --questions and Azure AI Vision's --features are refused in one line, exit 2, before the
    video is stored: no row, no blob."""
    env = openai_env(env, openai_emulator)
    content = {"not json": "[{\"key\": ", "no questions": [],
               "bad type": [{"text": "How good?", "type": "rating"}]}.get(case, QUESTIONS)
    asked = questions_file(tmp_path, content)
    video = make_video(tmp_path / "clip.mp4", seconds=1)
    given = [a.format(q=asked, missing=tmp_path / "nope.json") for a in args]
    done = cli(env, "analyze", str(video), "--analyzer", "openai", *given)
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1, done.stderr
    assert all(w in errors[0] for w in words), errors
    assert "Traceback" not in done.stderr and done.stdout == ""
    _nothing_stored(env)
    assert openai_emulator.requests == 0


def test_question_options_and_answers_are_refused_for_other_analysers(env, tmp_path):
    """Test that --questions, --no-caption and --no-tags with the local analyser exit 2 in one
    line and store nothing; a local analysis has no answers.csv: export --answers exits 2
    writing nothing, and export with no file option writes the other four."""
    video = make_video(tmp_path / "clip.mp4", seconds=1)
    asked = questions_file(tmp_path, QUESTIONS)
    for args, words in ((["--questions", str(asked)], "--questions is for --analyzer openai"),
                        (["--no-tags"], "--no-caption and --no-tags are for")):
        done = cli(env, "analyze", str(video), "--analyzer", "local", *args)
        assert done.returncode == 2 and f"error: {words}" in done.stderr, done.stderr
    _nothing_stored(env)
    aid = last_json(cli(env, "analyze", str(video), "--analyzer", "local"))["analysis_id"]
    out = tmp_path / "answers.csv"
    done = cli(env, "export", aid, "--answers", str(out), "--frames", str(tmp_path / "f.csv"))
    assert done.returncode == 2 and done.stderr.splitlines() == [
        "error: --answers: only Azure OpenAI analyses have answers.csv; this one used the "
        "Local analyser"]
    assert not out.exists() and not (tmp_path / "f.csv").exists()
    assert list(last_json(cli(env, "export", aid))) == ["frames", "detections", "segments",
                                                        "json", "notes", "shots", "edl"]
