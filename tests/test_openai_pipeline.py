"""An Azure OpenAI analysis end to end: queued with its questions, run by the Worker against the
chat-completions emulator, its answers, tokens, captions and tags stored per frame in the frame's
transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from services.analysis import jobs
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import open_services
from services.domain import AnalyzerKind, Feature
from services.insights.answers import answer_segments, answers_table, load_answers, load_usage
from services.insights.results import load_detections, load_frames
from services.question_sets import load_questions
from services.questions import parse_questions
from services.upload.ingest import ingest_video
from tests.fixtures.videos import make_video

QUESTIONS = parse_questions([
    {"key": "bright", "text": "Is the frame bright?", "type": "yes_no"},
    {"key": "level", "text": "How light is it?", "type": "count"},
])
# Red 0-2 s, blue 2-4 s, green 4-6 s, white 6-8 s: grey levels ~0.30, 0.11, 0.59, 1.0, so the
# emulator's rule answers no, no, yes, yes and counts 3, 1, 6, 10.
CUTS = (2.0, 4.0, 6.0)


@pytest.fixture
def openai_services(tmp_path, database_url, openai_emulator):
    settings = load_settings({
        "FRAMEWISE_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url,
        "FRAMEWISE_EMBEDDED_WORKER": "0", "AZURE_OPENAI_ENDPOINT": openai_emulator.endpoint,
        "AZURE_OPENAI_API_KEY": openai_emulator.key, "AZURE_OPENAI_TPM": "5000000",
        "AZURE_OPENAI_RPM": "5000",
        # One request at a time: a frame identical to the one before (a still segment) is then
        # always the result cache's, never a second request racing the first.
        "AZURE_OPENAI_CONCURRENCY": "1",
    }, dotenv=None)
    services = open_services(settings)
    yield services
    services.engine.dispose()


def test_an_openai_analysis_stores_answers_tokens_captions_and_tags(openai_services,
                                                                    openai_emulator, tmp_path):
    """Test the whole run: one request per sampled frame, answers per frame and question as the
    model gave them, tokens as the service counted, the caption and tags as labels."""
    services = openai_services
    path = make_video(tmp_path / "lights.mp4", seconds=8, fps=10, pattern="cuts", cuts=CUTS)
    with path.open("rb") as stream:
        video = ingest_video(services.engine, services.store, stream, filename="lights.mp4",
                             uploaded_by="ana")
    queued = jobs.queue_analysis(
        services.engine, video_id=video.id, analyzer=AnalyzerKind.openai, created_by="ana",
        sample_fps=1.0, max_frames=None, frames_planned=8,
        features=(Feature.caption, Feature.tags), questions=QUESTIONS)
    assert load_questions(services.engine, queued.id) == QUESTIONS
    Worker(engine=services.engine, store=services.store, settings=services.settings) \
        .run_one(queued.id)
    done = jobs.get_analysis(services.engine, queued.id)
    assert done is not None and done.status == "succeeded", done and done.error_message
    # Billed requests only: frames the cache answered (identical pixels) cost nothing.
    assert 4 <= done.transactions == len(openai_emulator.seen) <= 8
    assert openai_emulator.repeats == 0

    frames = load_frames(services.engine, queued.id)
    answers = load_answers(services.engine, queued.id)
    table = answers_table(QUESTIONS, frames, answers)
    assert table["bright"].tolist() == ["no"] * 4 + ["yes"] * 4
    assert table["level"].tolist() == [3, 3, 1, 1, 6, 6, 10, 10]
    segments = answer_segments(QUESTIONS, frames, answers)
    bright = segments[segments["label"] == "bright: yes"]
    assert (bright["start_s"].tolist(), bright["end_s"].tolist()) == ([4.0], [7.0])

    usage = load_usage(services.engine, queued.id)
    assert len(usage) == done.transactions  # a cached answer was not billed: no token row
    assert sorted(usage["prompt_tokens"]) == sorted(s.prompt_tokens for s in openai_emulator.seen)
    assert set(usage["model"]) == {openai_emulator.model}
    assert frames["caption"].str.startswith("a frame of brightness").all()
    tags = load_detections(services.engine, queued.id)
    assert set(tags["kind"]) == {"tag"} and set(tags["label"]) == {"bright", "dark"}
