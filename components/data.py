"""Cached reads: the results page's, keyed by analysis id and frames done; the upload page's.

While an analysis runs, frames_done grows and each poll reads fresh rows; once it has finished
the key stops changing and reruns (slider moves, clicks) cost no database round trip.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from services.analysis import shot_sampling
from services.analysis.shot_sampling import ShotScan
from services.context import Services
from services.insights import answers as model_answers
from services.insights import results
from services.insights import segments as label_segments
from services.insights import shots as shot_table
from services.question_sets import load_questions
from services.review.corrections import load_reviews
from services.upload.ingest import unregistered_videos
from services.vision.azure import cached_azure_answers


@st.cache_data(max_entries=4, show_spinner="Finding the shots (one decode of the video)…")
def shot_scan(_services: Services, blob_key: str, duration_s: float) -> ShotScan:
    """The Upload page's shot pass for shot-aware sampling: once per video, whatever N."""
    found = shot_sampling.scan(partial(_services.store.ffmpeg_input, blob_key), duration_s)
    assert found is not None  # nothing can stop it: no `alive` given
    return found


@st.cache_data(max_entries=16, show_spinner=False)
def frames(_engine, analysis_id: str, frames_done: int | str) -> pd.DataFrame:
    return results.load_frames(_engine, analysis_id)


@st.cache_data(max_entries=16, show_spinner=False)
def detections(_engine, analysis_id: str, frames_done: int | str) -> pd.DataFrame:
    return results.load_detections(_engine, analysis_id)


@st.cache_data(max_entries=16, show_spinner=False)
def segments(_engine, analysis_id: str, frames_done: int | str, min_confidence: float,
             thresholds: tuple[tuple[str, float], ...] = ()):
    """The analysis's label segments at this minimum confidence (services.insights.segments),
    and the runs of its answers when it asked questions (services.insights.answers), numeric
    answers from these thresholds ((key, value) pairs)."""
    shown = frames(_engine, analysis_id, frames_done)
    labels = label_segments.segments(shown, detections(_engine, analysis_id, frames_done),
                                     min_confidence)
    asked = load_questions(_engine, analysis_id)
    if not asked:
        return labels
    runs = model_answers.answer_segments(asked, shown, answers(_engine, analysis_id, frames_done),
                                         dict(thresholds))
    return pd.concat([labels, runs], ignore_index=True) if not labels.empty else runs


@st.cache_data(max_entries=16, show_spinner=False)
def shots(_engine, analysis_id: str, frames_done: int | str, status: str,
          duration_s: float) -> pd.DataFrame:
    """The analysis's shots (stored at the end of a run: the status is part of the key), or
    the ones its sampled frames tell (services.insights.shots)."""
    return shot_table.load_shots(_engine, analysis_id, frames(_engine, analysis_id, frames_done),
                                 duration_s)


@st.cache_data(max_entries=16, show_spinner=False)
def answers(_engine, analysis_id: str, frames_done: int | str) -> pd.DataFrame:
    return model_answers.load_answers(_engine, analysis_id)


@st.cache_data(max_entries=16, show_spinner=False)
def answers_given(_engine, analysis_id: str, frames_done: int | str) -> pd.DataFrame:
    """The answers as the model gave them (data.answers: as they are in force)."""
    return model_answers.load_model_answers(_engine, analysis_id)


@st.cache_data(max_entries=16, show_spinner=False)
def reviews(_engine, analysis_id: str, reviewed: int | str) -> pd.DataFrame:
    """The corrections in force; `reviewed` changes with every correction (reviews_stamp)."""
    return load_reviews(_engine, analysis_id)


@st.cache_data(max_entries=16, show_spinner=False)
def usage(_engine, analysis_id: str, frames_done: int | str) -> pd.DataFrame:
    return model_answers.load_usage(_engine, analysis_id)


@st.cache_data(ttl=20, show_spinner=False)
def cached_frames(_services: Services, video_sha256: str, features: tuple[str, ...]) -> int:
    """Answers in the result cache for this video and features (a listing: at most every 20 s)."""
    return cached_azure_answers(_services.store, _services.settings, video_sha256, features)


@st.cache_data(ttl=20, show_spinner=False)
def unregistered(_services: Services, where: str) -> list[str]:
    """Videos in storage without a row; listing a container is a network call: once per 20 s."""
    return unregistered_videos(_services.engine, _services.store)
