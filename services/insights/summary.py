"""An analysis's summary metrics at one minimum confidence: the results page shows them and
`cli.py compare` prints them, from this one computation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.domain import LabelKind
from services.insights.results import confident
from services.models import Analysis

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Summary:
    """What the frames stored so far add up to (the compare document's `summary`)."""

    frames: int
    frames_analysed_remotely: int  # sent to the remote analyser (adaptive keeps some back)
    transactions: int
    first_s: float | None  # the first and last sampled moments; None without frames
    last_s: float | None
    shots: int
    black_frames: int
    max_people_in_a_frame: int  # at the minimum confidence


def summarise(analysis: Analysis, frames: pd.DataFrame, detections: pd.DataFrame,
              min_confidence: float) -> Summary:
    """The summary metrics of an analysis's rows (load_frames, load_detections)."""
    people = confident(detections[detections["kind"] == LabelKind.person], min_confidence)
    per_frame = people.groupby("frame_index").size()
    times = frames["timestamp_s"].astype(float)
    return Summary(
        frames=int(len(frames)),
        frames_analysed_remotely=int(frames["remote_analysed"].fillna(False).sum()),
        transactions=analysis.transactions,
        first_s=None if frames.empty else float(times.min()),
        last_s=None if frames.empty else float(times.max()),
        shots=int(frames["shot_index"].nunique()),
        black_frames=int(frames["is_black"].fillna(False).sum()),
        max_people_in_a_frame=int(per_frame.max()) if len(per_frame) else 0,
    )
