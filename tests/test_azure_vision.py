"""The Azure analyser through the real SDK against the Image Analysis emulator: the features
mapped to detections, credentials (key, Entra token), the answers that fail a frame or the whole
analysis at once, and frames resized to the service's limits with their boxes mapped back.

Throttling, retries and the rate limit are in test_azure_throttling.py.
"""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pytest
from azure.core.credentials import AzureKeyCredential
from PIL import Image

from services.config import load_settings
from services.domain import VISION_FEATURES
from services.video.frames import SampledFrame
from services.vision.azure import AzureAnalyzer
from services.vision.azure_results import MAX_BYTES, prepare_image
from services.vision.base import AnalyzerError, FrameRefused
from tests.fixtures.azure_vision import KEY, PERSON, FakeTokenCredential, boxes, scaled_frame
from tests.fixtures.azure_vision import make as make  # noqa: F401  (fixture)
from tests.fixtures.azure_vision import sample_frame as sample_frame  # noqa: F401  (fixture)
from tests.fixtures.vision_answers import RESPONSES, compact, recording
from tests.fixtures.vision_faults import Fault


def test_all_seven_features_are_mapped(make, vision_emulator, sample_frame):
    """Test that one frame with all 7 features yields every kind of detection with its box."""
    result = make(gender_neutral=False).analyze(sample_frame)

    people = boxes(result, "person")
    assert people[0][2:] == PERSON and people[0][1] == pytest.approx(0.9603, abs=1e-3)
    assert people[1][1] < 0.01  # the low-confidence person is kept too
    assert ("chair", 0.618, 603, 225, 152, 224) in boxes(result, "object")
    line = boxes(result, "text_line")[0]
    assert line[0] == "Sample text" and line[2:] == (721, 502, 122, 17)
    assert 0.98 < line[1] <= 1
    tags = {d.label: d.confidence for d in result.detections if d.kind == "tag"}
    assert tags["furniture"] == pytest.approx(0.9874, abs=1e-3) and len(tags) == 14
    assert all(d.x is None for d in result.detections if d.kind == "tag")
    dense = boxes(result, "dense_caption")
    assert len(dense) == 10 and dense[1][0] == "a person using a laptop"
    assert dense[1][2:] == (293, 383, 195, 100)
    assert boxes(result, "smart_crop") == [("1.23", None, 108, 24, 648, 528)]
    assert result.caption == "a woman wearing a mask sitting at a table with a laptop"
    assert result.caption_confidence == pytest.approx(0.8498, abs=1e-3)
    assert result.transactions == 1
    # The body exactly as the service sent it (compact JSON of the recording).
    assert result.raw_json == compact(recording("all_features_from_file_default_options.json"))
    seen = vision_emulator.seen[0]
    assert seen.headers["ocp-apim-subscription-key"] == KEY
    assert set(seen.query["features"].split(",")) == set(VISION_FEATURES)
    assert seen.query["language"] == "en" and seen.query["gender-neutral-caption"] == "false"
    assert vision_emulator.violations == []


def test_gender_neutral_caption_is_requested(make, vision_emulator, sample_frame):
    """Test that gender_neutral=True reaches the service and its caption comes back."""
    result = make(features=["caption", "people"], gender_neutral=True).analyze(sample_frame)
    assert result.caption == "a person wearing a mask sitting at a table with a laptop"
    assert vision_emulator.seen[0].query["gender-neutral-caption"] == "true"
    assert {d.kind for d in result.detections} == {"person"}
    assert json.loads(result.raw_json).keys() >= {"captionResult", "peopleResult", "metadata"}


def test_token_credential_sends_bearer_and_no_key(make, vision_emulator, sample_frame):
    """Test that a TokenCredential sends its token for the Cognitive Services scope, no key."""
    credential = FakeTokenCredential()
    result = make(credential, features=["people"]).analyze(sample_frame)
    assert boxes(result, "person")[0][2:] == PERSON
    headers = vision_emulator.seen[0].headers
    assert headers["authorization"] == "Bearer emulator-token"
    assert "ocp-apim-subscription-key" not in headers
    assert credential.scopes == ["https://cognitiveservices.azure.com/.default"]
    assert vision_emulator.violations == []


def test_from_settings_picks_the_credential(vision_emulator, sample_frame, caplog):
    """Test that from_settings uses AZURE_VISION_KEY when set and the token factory otherwise."""
    env = {"AZURE_VISION_ENDPOINT": vision_emulator.endpoint, "AZURE_VISION_FEATURES": "people"}
    caplog.set_level(logging.INFO)
    factory_calls = []

    def factory():
        factory_calls.append(1)
        return FakeTokenCredential()

    with_key = AzureAnalyzer.from_settings(
        load_settings({**env, "AZURE_VISION_KEY": KEY}, dotenv=None), factory
    )
    with_key.analyze(sample_frame)
    assert factory_calls == [] and "ocp-apim-subscription-key" in vision_emulator.seen[-1].headers
    with_token = AzureAnalyzer.from_settings(load_settings(env, dotenv=None), factory)
    with_token.analyze(sample_frame)
    assert factory_calls == [1] and "authorization" in vision_emulator.seen[-1].headers
    assert with_token.features == ("people",) and with_token.concurrency == 8
    overridden = AzureAnalyzer.from_settings(
        load_settings(env, dotenv=None), factory, features=("tags", "read"), give_up_s=2
    )
    assert overridden.features == ("tags", "read") and overridden.give_up_s == 2
    overridden.close()
    assert "AZURE_VISION_KEY" in caplog.text and KEY not in caplog.text
    with_key.close()
    with_token.close()


def test_a_refused_image_is_a_frame_refusal_and_not_retried(make, vision_emulator,
                                                            sample_frame):
    """Test that a 400 InvalidImageFormat refuses that frame only, with the service's reason."""
    vision_emulator.script(Fault.refused("InvalidImageFormat"))
    analyzer = make(features=["people"])
    with pytest.raises(FrameRefused, match=r"InvalidImageFormat: Input data is not a valid"):
        analyzer.analyze(sample_frame)
    assert vision_emulator.requests == 1 and analyzer.waits == []
    assert analyzer.analyze(sample_frame).transactions == 1  # the next frame goes on


@pytest.mark.parametrize("fault", [Fault.refused("NotSupportedFeature"), Fault(400)])
def test_a_400_for_the_whole_request_fails_fast(make, vision_emulator, sample_frame, fault):
    """Test that a 400 about the request (a feature the region lacks) is not a frame refusal."""
    vision_emulator.script(fault)
    with pytest.raises(AnalyzerError) as err:
        make(features=["caption"]).analyze(sample_frame)
    assert not isinstance(err.value, FrameRefused) and "refused the request" in str(err.value)
    assert vision_emulator.requests == 1


def test_a_wrong_endpoint_fails_fast_naming_the_setting(vision_emulator, sample_frame):
    """Test that a 404 (an endpoint that is no Vision resource) fails at once."""
    analyzer = AzureAnalyzer(f"{vision_emulator.endpoint}/not-vision",
                             credential=AzureKeyCredential(KEY), features=["tags"])
    with pytest.raises(AnalyzerError, match="AZURE_VISION_ENDPOINT"):
        analyzer.analyze(sample_frame)
    assert vision_emulator.requests == 1
    analyzer.close()


def test_401_with_key_fails_at_once(make, vision_emulator, sample_frame, caplog):
    """Test that a refused key fails on the first request, naming the settings, not the key."""
    secret = "wrong-key-0123456789abcdef"
    analyzer = make(AzureKeyCredential(secret), features=["people"])
    with pytest.raises(AnalyzerError) as err:
        analyzer.analyze(sample_frame)
    message = str(err.value)
    assert "AZURE_VISION_KEY" in message and "AZURE_VISION_ENDPOINT" in message
    assert "Access denied" in message and secret not in message and secret not in caplog.text
    assert vision_emulator.requests == 1 and analyzer.waits == []


def test_401_with_token_names_the_role(make, vision_emulator, sample_frame):
    """Test that a refused token fails at once and names the role the identity needs."""
    vision_emulator.script(Fault(401))
    with pytest.raises(AnalyzerError, match="Cognitive Services User"):
        make(FakeTokenCredential(), features=["people"]).analyze(sample_frame)
    assert vision_emulator.requests == 1


def test_token_that_cannot_be_had_fails_before_sending(make, vision_emulator, sample_frame):
    """Test that a credential failing to give a token is an AnalyzerError, with no request."""
    with pytest.raises(AnalyzerError, match="no managed identity here"):
        make(FakeTokenCredential(fail=True), features=["people"]).analyze(sample_frame)
    assert vision_emulator.requests == 0


def test_400_reports_the_service_message(make, vision_emulator, sample_frame):
    """Test that a 400 fails at once with the service's own code and message."""
    vision_emulator.script(Fault(400))
    analyzer = make(features=["people"])
    with pytest.raises(AnalyzerError, match=r"400 InvalidRequest.*image url is not accessible"):
        analyzer.analyze(sample_frame)
    assert vision_emulator.requests == 1 and analyzer.waits == []


def test_tiny_frame_is_upscaled_and_boxes_mapped_back(make, vision_emulator):
    """Test that a 48x32 frame is sent above 50x50 and boxes come back in the frame's pixels."""
    result = make(features=["people"]).analyze(scaled_frame((48, 32)))
    assert vision_emulator.violations == [] and min(vision_emulator.seen[0].image_size) > 50
    x, y, w, h = boxes(result, "person")[0][2:]
    expected = [v * 48 / 864 for v in PERSON]
    assert all(abs(a - b) <= 1.5 for a, b in zip((x, y, w, h), expected, strict=True))


def test_huge_frame_is_downscaled_and_boxes_mapped_back(make, vision_emulator):
    """Test that a 16200-wide frame is sent under 16000 and boxes scale back to its pixels."""
    size = (16200, 108)  # wide and short, so the test stays small in memory
    rgb = np.asarray(Image.open(RESPONSES / "sample.png").convert("RGB").resize(size))
    frame = SampledFrame(0, 0.0, b"\xff\xd8\xff" + bytes(64), *size, rgb=rgb)
    result = make(features=["people"]).analyze(frame)
    assert vision_emulator.violations == [] and max(vision_emulator.seen[0].image_size) < 16000
    x, y, w, h = boxes(result, "person")[0][2:]
    # The emulator scales the recorded boxes to the image it received; we scale them back.
    expected = (PERSON[0] * 16200 / 864, PERSON[1] * 108 / 576, PERSON[2] * 16200 / 864)
    assert abs(x - expected[0]) <= 3 and abs(y - expected[1]) <= 2 and abs(w - expected[2]) <= 3
    assert 0 < h <= 108


def test_oversized_bytes_are_reencoded():
    """Test that a frame over 20 MB is re-encoded under the limit at the same size."""
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    frame = SampledFrame(0, 0.0, b"\xff\xd8\xff" + bytes(MAX_BYTES + 10), 1600, 1200, rgb=noise)
    prepared = prepare_image(frame)
    assert len(prepared.data) <= MAX_BYTES
    assert Image.open(io.BytesIO(prepared.data)).size == (1600, 1200)
    assert (prepared.scale_x, prepared.scale_y) == (1.0, 1.0)


def test_frame_within_limits_is_sent_untouched(sample_frame):
    """Test that a frame already within the limits is sent as its own JPEG bytes."""
    assert prepare_image(sample_frame).data is sample_frame.jpeg


def test_analyzer_refuses_bad_setup():
    """Test that unknown features and a token over non-loopback http are refused up front."""
    with pytest.raises(ValueError, match="features"):
        AzureAnalyzer("https://x.example", credential=AzureKeyCredential("k"), features=["faces"])
    with pytest.raises(AnalyzerError, match="https"):
        AzureAnalyzer("http://x.example", credential=FakeTokenCredential(), features=["tags"])
