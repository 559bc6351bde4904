"""A whole Azure analysis from the CLI: video in Azurite, frames through the Vision emulator."""

from __future__ import annotations

import csv
import json

import pytest
from azure.storage.blob import BlobServiceClient

from tests.fixtures.azurite import unique_container
from tests.fixtures.cli import cli
from tests.fixtures.videos import make_sample_clip
from tests.fixtures.vision_answers import RESPONSES

ALL_FEATURES = "tags,caption,denseCaptions,objects,read,smartCrops,people"


@pytest.fixture
def sample_clip(tmp_path):
    """A 2 s video whose every frame is the SDK's 864x576 sample image."""
    return make_sample_clip(tmp_path / "sample.mp4", RESPONSES / "sample.png")


@pytest.fixture
def azure_env(env, azurite, vision_emulator):
    return {
        **env,
        "AZURE_VISION_ENDPOINT": vision_emulator.endpoint,
        "AZURE_VISION_KEY": vision_emulator.key,
        "AZURE_VISION_FEATURES": ALL_FEATURES,
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
        "AZURE_STORAGE_CONTAINER": unique_container(),
    }


def test_cli_azure_analysis_stores_in_azurite_and_exports_every_feature(
    azure_env, azurite, vision_emulator, sample_clip, tmp_path
):
    """Test that analyze --analyzer azure stores the video in Azurite and exports all features."""
    done = cli(azure_env, "analyze", str(sample_clip), "--analyzer", "azure", "--fps", "1")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["status"], summary["frames"], summary["transactions"]) == ("succeeded", 2, 2)
    assert vision_emulator.violations == []

    container = BlobServiceClient.from_connection_string(azurite.connection_string)\
        .get_container_client(azure_env["AZURE_STORAGE_CONTAINER"])
    names = [b.name for b in container.list_blobs()]
    videos = [n for n in names if n.startswith("videos/")]
    assert len(videos) == 1 and videos[0].endswith(".mp4")
    assert container.get_blob_client(videos[0]).download_blob().readall() == \
        sample_clip.read_bytes()
    assert sum(n.startswith(f"analyses/{summary['analysis_id']}/raw/") for n in names) == 2

    det_csv = tmp_path / "d.csv"
    frames_csv = tmp_path / "f.csv"
    assert cli(azure_env, "export", summary["analysis_id"], "--detections", str(det_csv),
               "--frames", str(frames_csv)).returncode == 0
    rows = [r for r in csv.DictReader(det_csv.open(encoding="utf-8")) if r["frame_index"] == "0"]
    kinds = {r["kind"] for r in rows}
    assert kinds == {"person", "object", "tag", "dense_caption", "text_line", "smart_crop"}
    person = next(r for r in rows if r["kind"] == "person")
    assert (person["x"], person["y"], person["w"], person["h"]) == ("395", "241", "261", "333")
    assert any(r["kind"] == "object" and r["label"] == "chair" for r in rows)
    assert any(r["kind"] == "text_line" and r["label"] == "Sample text" for r in rows)
    frame0 = next(csv.DictReader(frames_csv.open(encoding="utf-8")))
    assert frame0["caption"].startswith("a person wearing a mask")
    assert int(frame0["people_count"]) >= 1 and frame0["tags"]


def test_reanalysing_the_same_video_costs_no_transactions(azure_env, vision_emulator,
                                                          sample_clip):
    """Test that the result cache answers a second analysis of the same video for free."""
    first = json.loads(cli(azure_env, "analyze", str(sample_clip), "--analyzer", "azure")
                       .stdout.splitlines()[-1])
    sent = vision_emulator.requests
    second = cli(azure_env, "analyze", str(sample_clip), "--analyzer", "azure")
    summary = json.loads(second.stdout.splitlines()[-1])
    assert first["transactions"] == 2 and summary["transactions"] == 0
    assert summary["frames"] == 2 and vision_emulator.requests == sent


def test_an_emulator_401_fails_the_cli_analysis_fast_with_the_setting_named(
    azure_env, vision_emulator, sample_clip
):
    """Test that a wrong key fails the analysis (exit 1) naming AZURE_VISION_KEY, one request."""
    done = cli({**azure_env, "AZURE_VISION_KEY": "wrong-key"}, "analyze", str(sample_clip),
               "--analyzer", "azure")
    assert done.returncode == 1
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["status"] == "failed" and "AZURE_VISION_KEY" in summary["error"]
    assert "wrong-key" not in done.stdout + done.stderr
    assert vision_emulator.requests <= 8  # the requests already in flight, no retries
