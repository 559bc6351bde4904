"""The domain words (services/domain.py): each rule in one place, and every entry obeying it."""

from __future__ import annotations

import pandas as pd
import pytest

from commands.args import build_parser
from services.config import Settings, SettingsError, load_settings
from services.domain import (
    DEFAULT_VISION_FEATURES,
    MAX_SAMPLE_FPS,
    AnalyzerKind,
    Export,
    Feature,
    features_text,
    parse_features,
    stored_features,
)
from services.insights.answers import Answered
from services.insights.exports import downloads
from tests.fixtures.apptest import app
from tests.fixtures.factories import add_video, analysis_row, video_row


def _analyze_parses(*args: str) -> bool:
    try:
        build_parser("test").parse_args(["analyze", "clip.mp4", *args])
    except SystemExit:
        return False
    return True


def _fps_parses(fps: float) -> bool:
    return _analyze_parses("--fps", f"{fps:g}")


def test_the_upload_page_and_the_cli_take_the_same_sampling_rates(app_services, capsys):
    """Test that the Upload page's rate box stops at MAX_SAMPLE_FPS, and the CLI takes that rate
    and refuses anything above it (or 0) with the same words."""
    video = add_video(app_services.engine)
    at = app()
    at.session_state["current_video_id"] = video.id
    at.run()
    assert not at.exception, at.exception
    box = next(n for n in at.number_input if n.label == "Frames sampled per second")
    assert box.max == MAX_SAMPLE_FPS
    assert _fps_parses(MAX_SAMPLE_FPS) and _fps_parses(0.1)
    assert not _fps_parses(MAX_SAMPLE_FPS + 0.5) and not _fps_parses(0)
    assert f"must be above 0 and at most {MAX_SAMPLE_FPS:g}" in capsys.readouterr().err


def test_every_analyser_is_a_choice_of_the_page_and_the_cli(app_services):
    """Test that the Upload page's analyser choice and `--analyzer` list every AnalyzerKind, and
    that a cloud analyser names a setting that turns it on."""
    video = add_video(app_services.engine)
    at = app()
    at.session_state["current_video_id"] = video.id
    at.run()
    assert at.radio[0].options == [f"{k.label} ({k.finds})" for k in AnalyzerKind]
    assert all(_analyze_parses("--analyzer", kind) for kind in AnalyzerKind)
    assert not _analyze_parses("--analyzer", "gpu")
    aliases = {info.validation_alias for info in Settings.model_fields.values()}
    for kind in AnalyzerKind:
        assert not kind.cloud or kind.endpoint_setting in aliases, kind


def test_an_analyser_is_ready_when_its_endpoint_is_set(tmp_path):
    """Test that Local is always ready, a cloud analyser once its endpoint is set, and the
    default is the question analyser when configured, else Azure AI Vision, else Local."""
    def settings(**env):
        return load_settings({"FRAMEWISE_DATA_DIR": str(tmp_path), **env}, dotenv=None)

    off = settings()
    vision = settings(AZURE_VISION_ENDPOINT="https://vision.invalid")
    both = settings(AZURE_VISION_ENDPOINT="https://vision.invalid",
                    AZURE_OPENAI_ENDPOINT="https://openai.invalid")
    assert [off.analyzer_ready(k) for k in AnalyzerKind] == [not k.cloud for k in AnalyzerKind]
    assert [vision.analyzer_ready(k) for k in AnalyzerKind] == [True, True, False]
    assert all(both.analyzer_ready(k) for k in AnalyzerKind)
    assert (off.analyzer, vision.analyzer, both.analyzer) == \
        (AnalyzerKind.local, AnalyzerKind.azure, AnalyzerKind.openai)
    with pytest.raises(ValueError, match="AZURE_VISION_ENDPOINT must be set"):
        load_settings({"FRAMEWISE_DATA_DIR": str(tmp_path), "FRAMEWISE_ANALYZER": "azure"},
                      dotenv=None)


def test_features_are_parsed_and_stored_in_one_place(tmp_path):
    """Test that a features list parses case-blind, in order, each once; that it round-trips
    through Analysis.features; and that the settings refuse what the parser refuses."""
    assert parse_features(" Tags,objects,,tags, DENSECAPTIONS") == (
        Feature.tags, Feature.objects, Feature.dense_captions)
    assert stored_features(features_text(DEFAULT_VISION_FEATURES)) == DEFAULT_VISION_FEATURES
    assert stored_features("") == ()
    for raw, words in (("tags,faces", "unknown feature 'faces'"), (",", "at least one")):
        with pytest.raises(ValueError, match=words):
            parse_features(raw)
        with pytest.raises(SettingsError, match=f"AZURE_VISION_FEATURES.*{words}"):
            load_settings({"FRAMEWISE_DATA_DIR": str(tmp_path), "AZURE_VISION_FEATURES": raw},
                          dotenv=None)


def test_the_results_page_and_the_cli_export_the_same_files():
    """Test that the results page's downloads and `cli.py export`'s options are the Export
    members: a new export is one member; answers.csv is an Azure OpenAI analysis's only, and
    the page offers it when it passes the answers, shots.csv and the EDL when it passes the
    shots."""
    video = video_row()
    shots = pd.DataFrame()
    files = downloads(analysis_row(video.id), video, None, None, 0.5, shots=shots)  # lazy
    assert [(f.name, f.mime) for f in files] == [(e.file_name, e.mime) for e in Export
                                                 if e is not Export.answers]
    openai = analysis_row(video.id, analyzer=AnalyzerKind.openai)
    answered = Answered((), None, None, None)
    assert [f.name for f in downloads(openai, video, None, None, 0.5, answered,
                                      shots=shots)] == [e.file_name for e in Export]
    args = build_parser("test").parse_args(["export", "a1", *(f"--{e}=out.{e}" for e in Export)])
    assert [getattr(args, e) for e in Export] == [f"out.{e}" for e in Export]
