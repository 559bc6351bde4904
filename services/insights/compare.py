"""Compare two analyses: their settings, summary metrics, each label's share of frames, and the
means of the local statistics, at one minimum confidence.

A label's share is the fraction of the analysis's frames that the remote analyser saw (every
sampled frame, unless adaptive sampling kept some back) in which it was found at or above the
minimum confidence. A label found in only one analysis is marked `"only": "a"` or `"b"`.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy.engine import Engine

from services.analysis.jobs import get_analysis
from services.insights.exports import analysis_document, settings_document
from services.insights.labels import LABEL_KINDS
from services.insights.results import confident, load_detections, load_frames
from services.insights.segments import label_hits
from services.library import get_video
from services.models import Analysis, Video

STATISTICS = ("brightness", "contrast", "sharpness", "colourfulness", "motion")


class CompareError(ValueError):
    """An analysis to compare does not exist; the message names which."""


def _mean(series: pd.Series) -> float | None:
    value = series.astype(float).mean()
    return None if pd.isna(value) else round(float(value), 6)


def label_shares(frames: pd.DataFrame, detections: pd.DataFrame,
                 min_confidence: float) -> pd.Series:
    """Share of the remotely analysed frames showing each (kind, label), indexed by both."""
    analysed = int(frames["remote_analysed"].fillna(False).astype(bool).sum())
    hits = label_hits(frames, detections, min_confidence)
    hits = hits.dropna(subset=["label"])
    if not analysed or hits.empty:
        return pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=["kind", "label"]))
    hits = hits.astype({"label": str})
    counts = hits.groupby(["kind", "label"])["frame_index"].nunique()
    return counts / analysed


def summary(analysis: Analysis, frames: pd.DataFrame, detections: pd.DataFrame,
            min_confidence: float) -> dict:
    """The summary metrics the results page shows, as plain values."""
    people = confident(detections[detections["kind"] == "person"], min_confidence)
    per_frame = people.groupby("frame_index").size()
    times = frames["timestamp_s"].astype(float)
    return {
        "frames": int(len(frames)),
        "frames_analysed_remotely": int(frames["remote_analysed"].fillna(False).sum()),
        "transactions": analysis.transactions,
        "first_s": None if frames.empty else float(times.min()),
        "last_s": None if frames.empty else float(times.max()),
        "shots": int(frames["shot_index"].nunique()),
        "black_frames": int(frames["is_black"].fillna(False).sum()),
        "max_people_in_a_frame": int(per_frame.max()) if len(per_frame) else 0,
    }


def side(analysis: Analysis, video: Video, frames: pd.DataFrame, detections: pd.DataFrame,
         min_confidence: float) -> dict:
    doc = analysis_document(analysis)
    return {
        "analysis_id": analysis.id,
        "video": video.original_filename,
        "duration_s": video.duration_s,
        "status": doc["status"],
        "created_at": doc["created_at"],
        "settings": settings_document(analysis),
        "summary": summary(analysis, frames, detections, min_confidence),
    }


def _kind_rank(kind: str) -> int:
    return LABEL_KINDS.index(kind) if kind in LABEL_KINDS else len(LABEL_KINDS)


def compare_rows(a: tuple[Analysis, Video, pd.DataFrame, pd.DataFrame],
                 b: tuple[Analysis, Video, pd.DataFrame, pd.DataFrame],
                 min_confidence: float) -> dict:
    """The comparison document from both analyses' rows (what `cli.py compare` prints)."""
    shares_a = label_shares(a[2], a[3], min_confidence)
    shares_b = label_shares(b[2], b[3], min_confidence)
    keys = sorted(set(shares_a.index) | set(shares_b.index),
                  key=lambda k: (_kind_rank(k[0]),
                                 -max(shares_a.get(k, 0.0), shares_b.get(k, 0.0)), k[1]))
    labels = []
    for kind, label in keys:
        in_a, in_b = (kind, label) in shares_a.index, (kind, label) in shares_b.index
        labels.append({
            "kind": kind, "label": label,
            "share_a": round(float(shares_a.get((kind, label), 0.0)), 6),
            "share_b": round(float(shares_b.get((kind, label), 0.0)), 6),
            "only": None if in_a and in_b else ("a" if in_a else "b"),
        })
    statistics = [{"name": name, "mean_a": _mean(a[2][name]), "mean_b": _mean(b[2][name])}
                  for name in STATISTICS]
    statistics.append({"name": "black_share", "mean_a": _mean(a[2]["is_black"].fillna(False)),
                       "mean_b": _mean(b[2]["is_black"].fillna(False))})
    return {
        "min_confidence": min_confidence,
        "a": side(*a, min_confidence),
        "b": side(*b, min_confidence),
        "labels": labels,
        "statistics": statistics,
    }


def load(engine: Engine, analysis_id: str, which: str):
    """(analysis, video, frames, detections) of one analysis; CompareError when it is missing."""
    analysis = get_analysis(engine, analysis_id)
    video = get_video(engine, analysis.video_id) if analysis else None
    if analysis is None or video is None:
        raise CompareError(f"no analysis with id {analysis_id} (analysis {which})")
    return analysis, video, load_frames(engine, analysis.id), load_detections(engine, analysis.id)


def compare(engine: Engine, a_id: str, b_id: str, min_confidence: float) -> dict:
    return compare_rows(load(engine, a_id, "A"), load(engine, b_id, "B"), min_confidence)
