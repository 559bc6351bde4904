"""The token estimate of one frame for Azure OpenAI vision models, by their documented rules."""

from __future__ import annotations

import pytest

from services.vision.openai_tokens import (
    Prices,
    estimate_frame,
    image_tokens,
    request_rate,
    sent_size,
)


@pytest.mark.parametrize("size, model, tokens", [
    ((1280, 720), "gpt-4.1-mini", 1491),  # 40 x 23 patches x 1.62 (DESIGN.md)
    ((1280, 720), "gpt-4.1-mini-2025-04-14", 1491),  # a dated model name
    ((1280, 720), "gpt-4o", 1105),  # 3 x 2 tiles: 85 + 6 x 170 (DESIGN.md)
    ((1280, 720), "gpt-4.1-nano", 2264),  # 920 patches x 2.46
    ((1920, 1080), "gpt-4.1-mini", 2443),  # 2040 patches > 1536: scaled to 52 x 29
    ((1280, 960), "gpt-4.1-mini", 1944),  # 1200 x 1.62 exactly (floats make it 1,945)
    ((4096, 8192), "gpt-4o", 1105),  # into 2048, short side 768: 2 x 3 tiles
])
def test_image_tokens_follow_the_documented_rules(size, model, tokens):
    """Test the patch rule (capped at 1,536 patches) and the tile rule against worked cases."""
    assert image_tokens(*size, model) == tokens


def test_low_detail_is_a_flat_85_for_tile_models():
    assert image_tokens(1280, 720, "gpt-4o", detail="low") == 85


def test_a_frame_is_sent_at_most_max_side_and_never_enlarged():
    assert sent_size(1920, 1080, 1280) == (1280, 720)
    assert sent_size(640, 360, 1280) == (640, 360)


def test_the_estimate_budgets_prompt_and_output_and_prices_it():
    """Test that a request is budgeted at prompt + max_completion_tokens (how the deployment
    counts it on arrival), and that the rate respects the lower of TPM and RPM."""
    estimate = estimate_frame(1920, 1080, model="gpt-4.1-mini", prompt_text="x" * 400,
                              max_side=1280, max_completion_tokens=300)
    assert estimate.image_tokens == 1491 and estimate.text_tokens == 110
    assert estimate.budget == 1491 + 110 + 300
    assert request_rate(tpm=1_000_000, rpm=60, budget=1901) == pytest.approx(1.0)  # RPM binds
    assert request_rate(tpm=19_010, rpm=600, budget=1901) == pytest.approx(10 / 60)  # TPM binds
    assert Prices(0.40, 1.60).cost(1_000_000, 500_000) == pytest.approx(1.20)


def test_an_openai_estimate_prices_tokens_per_frame_sent_not_cached(tmp_path):
    """Test the cost before a run: frames sent (less the cached ones) times one frame's prompt
    and output bound, at the settings' prices; the questions and schema count as prompt."""
    from services.analysis.estimate import estimate
    from services.config import load_settings
    from services.questions import parse_questions
    from services.video.probe import VideoInfo
    from services.vision.openai_results import frame_estimate, frame_prices

    settings = load_settings({"FRAMEWISE_DATA_DIR": str(tmp_path),
                              "AZURE_OPENAI_ENDPOINT": "https://oai.invalid"}, dotenv=None)
    questions = parse_questions([{"text": "Is anyone without a hard hat?", "type": "yes_no"}])
    frame = frame_estimate(settings, 1920, 1080, questions)
    more = frame_estimate(settings, 1920, 1080, questions * 1 + parse_questions(
        [{"key": "n", "text": "How many people are on the platform?", "type": "count"}]))
    assert frame.image_tokens == 1491 and more.text_tokens > frame.text_tokens
    info = VideoInfo(duration_s=60.0, fps=30.0, width=1920, height=1080, codec="h264")
    plan = estimate(info, fps=1.0, max_frames=None, analyzer="openai", price_per_1000=1.0,
                    cached=10, tokens=(frame, frame_prices(settings)))
    assert (plan.frames, plan.transactions) == (60, 50)
    assert plan.prompt_tokens == 50 * frame.prompt_tokens
    assert plan.completion_tokens == 50 * 300
    assert plan.cost == round((plan.prompt_tokens * 0.40 + plan.completion_tokens * 1.60) / 1e6,
                              4)
