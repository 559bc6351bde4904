"""Human text in four scripts and emoji, from an Azure analysis to the page and both CSVs, on
SQLite and PostgreSQL; text longer than its column is cut to fit, never an error."""

from __future__ import annotations

import io

import pandas as pd
import pytest
import sqlalchemy as sa
import streamlit as st

from components import data
from services.analysis import jobs
from services.analysis.worker import Worker
from services.config import load_settings
from services.context import open_services
from services.db import session_scope
from services.insights import exports
from services.models import Analysis, Detection, Frame, Status, fit_text
from services.upload.ingest import ingest_video
from tests.fixtures.apptest import SETTINGS_ENV, app, switch_to
from tests.fixtures.factories import add_analysis, add_video, detection_row, frame_row
from tests.fixtures.vision_emulator import VisionEmulator

FILE_NAME = "東京の夜 Ночь в Москве ليلة القاهرة दिल्ली की रात 🌃🎬.mp4"
CAPTION = "猫が座っている · кошка сидит · قطة تجلس · बिल्ली बैठी है 🐈"
_PHRASE = "日本語の文字 Кириллица العربية देवनागरी लिपि 😀🎉 "
OCR_LINE = (_PHRASE * (3000 // len(_PHRASE) + 1))[:3000]


@pytest.fixture
def emulator():
    """The Vision emulator, answering with our caption and a 3,000-character OCR line."""
    emu = VisionEmulator(caption=CAPTION, read_line=OCR_LINE).start()
    yield emu
    emu.stop()


def test_text_in_four_scripts_survives_to_the_page_and_both_csvs(
    database_url, emulator, tmp_path, monkeypatch, video_factory
):
    """Test that a file name, a caption and a 3,000-character OCR line in Japanese, Cyrillic,
    Arabic and Devanagari with emoji come back unchanged on the results page and in both CSVs."""
    assert len(OCR_LINE) == 3000 and all(s in OCR_LINE for s in ("日本", "Ки", "عر", "दे", "😀"))
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS_ENV:
        monkeypatch.delenv(name, raising=False)
    env = {"FRAMEWISE_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": database_url,
           "FRAMEWISE_EMBEDDED_WORKER": "0", "AZURE_VISION_ENDPOINT": emulator.endpoint,
           "AZURE_VISION_KEY": emulator.key, "AZURE_VISION_FEATURES": "caption,read,tags"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    st.cache_data.clear()
    services = open_services(load_settings())
    engine = services.engine
    try:
        with video_factory(seconds=1, fps=4).open("rb") as stream:
            video = ingest_video(engine, services.store, stream, filename=FILE_NAME,
                                 uploaded_by="ユーザー 🙂")
        analysis = jobs.queue_analysis(
            engine, video_id=video.id, analyzer="azure", created_by="ユーザー 🙂", sample_fps=2,
            max_frames=None, frames_planned=2, features=("caption", "read", "tags"))
        worker = Worker(engine=engine, store=services.store, settings=services.settings)
        assert worker.run_one(analysis.id) == (analysis.id, Status.succeeded)

        with engine.connect() as conn:  # what the database holds, read back by a new query
            assert conn.scalar(sa.text("SELECT original_filename FROM video")) == FILE_NAME
            assert set(conn.scalars(sa.text("SELECT caption FROM frame"))) == {CAPTION}
            lines = list(conn.scalars(sa.text(
                "SELECT label FROM detection WHERE kind = 'text_line'")))
        assert OCR_LINE in lines

        at = app().run()
        switch_to(at, "results")
        at.query_params.update(analysis=analysis.id)
        at.run()
        assert not at.exception, at.exception
        shown = [str(t.value).replace("\\", "") for t in at.title]
        assert FILE_NAME in shown
        assert any(CAPTION in str(c.value).replace("\\", "") for c in at.caption)
        texts = pd.concat([df.value for df in at.dataframe if "text" in df.value.columns])
        assert OCR_LINE in set(texts["text"])

        stored = jobs.get_analysis(engine, analysis.id)
        made = exports.export_files(engine, stored, services.settings.min_confidence,
                                    ("frames", "detections"))  # what `cli.py export` writes
        done = stored.frames_done
        shown_rows = (data.frames(engine, analysis.id, done),  # what the page has loaded
                      data.detections(engine, analysis.id, done))
        for frames_csv, detections_csv in (
            (made["frames"], made["detections"]),
            (exports.frames_csv(*shown_rows, services.settings.min_confidence),
             exports.detections_csv(shown_rows[1], services.settings.min_confidence)),
        ):
            frames = pd.read_csv(io.BytesIO(frames_csv), encoding="utf-8")
            found = pd.read_csv(io.BytesIO(detections_csv), encoding="utf-8")
            assert set(frames["caption"]) == {CAPTION}
            assert OCR_LINE in set(found.loc[found["kind"] == "text_line", "label"])
    finally:
        engine.dispose()


def test_text_longer_than_its_column_is_cut_to_fit(engine):
    """Test that an over-long caption, label, file name and error are stored cut, not refused."""
    long = "ж" * 5000
    video = add_video(engine, original_filename="名" * 300, uploaded_by="u" * 400)
    analysis_id = add_analysis(engine, video.id, analyzer="azure", error_message="エ" * 3000)
    with session_scope(engine) as s:
        s.add(frame_row(analysis_id, 0, caption=long))
        s.add(detection_row(analysis_id, 0, "text_line", long + "\x00"))
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.length(Frame.caption))) == 1000
        assert conn.scalar(sa.select(Detection.label)) == "ж" * 4000
        assert conn.scalar(sa.select(sa.func.length(Analysis.error_message))) == 2000
        assert conn.scalar(sa.text("SELECT original_filename FROM video")) == "名" * 255


def test_sql_server_lengths_count_utf16_units():
    """Test that text cut for SQL Server counts an emoji as two units and never splits one."""
    assert fit_text("ab😀cd", 4, utf16=True) == "ab😀"
    assert fit_text("ab😀cd", 3, utf16=True) == "ab"
    assert fit_text("ab😀cd", 3) == "ab😀"
    assert fit_text("a\x00b\ud83dc", 10) == "ab?c"
