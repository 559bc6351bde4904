"""Label segments: consecutive sampled frames that show the same thing, merged into one time range.

A segment is (kind, label) over a run of consecutive sampled frames that all show it at or above
the minimum confidence: start_s is the first frame's time, end_s the last frame's time (a label
seen in one frame has start_s == end_s), frames the run's length, max_confidence its strongest
detection. Kinds: the remote analyser's tag, object, person, text_line (OCR), dense_caption and
caption; and from the local statistics every analysis has, shot and black.

For remote kinds "consecutive" counts only the frames the remote analyser saw: a frame adaptive
sampling kept back says nothing either way, so it neither breaks a segment nor belongs to one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.domain import LABEL_KINDS, LOCAL_KINDS, SEGMENT_KINDS, LabelKind
from services.insights.results import confident, passes

if TYPE_CHECKING:
    import pandas as pd

# pandas takes about 0.25 s to import: the functions that make tables import it, so importing
# this module alone stays cheap (a fresh import of the services is timed by bench/startup.py).

SEGMENT_COLUMNS = ["analysis_id", "kind", "label", "start_s", "end_s", "frames", "max_confidence"]
# Hits and frame positions as merge_runs takes them.
HIT_COLUMNS = ["analysis_id", "kind", "label", "frame_index", "confidence"]
POSITION_COLUMNS = ["analysis_id", "frame_index", "position", "timestamp_s"]


def empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
        SEGMENT_COLUMNS, ("object", "object", "object", "float", "float", "Int64", "float"),
        strict=True)})


def positions(frames: pd.DataFrame, remote_only: bool) -> pd.DataFrame:
    """Each frame's place in its analysis's run of frames (0, 1, 2, ...) and its time."""
    import pandas as pd

    kept = frames
    if remote_only:
        kept = frames[frames["remote_analysed"].fillna(False).astype(bool)]
    kept = kept.sort_values(["analysis_id", "frame_index"])
    return pd.DataFrame({
        "analysis_id": kept["analysis_id"].astype(str),
        "frame_index": kept["frame_index"].astype(int),
        "position": kept.groupby("analysis_id").cumcount().astype(int),
        "timestamp_s": kept["timestamp_s"].astype(float),
    })


def merge_runs(hits: pd.DataFrame, where: pd.DataFrame) -> pd.DataFrame:
    """Merge hits (HIT_COLUMNS, one row per detection) over frame positions (POSITION_COLUMNS)
    into segments: one per run of consecutive positions with the same analysis, kind and label.

    Vectorised with numpy (the results page merges 60,000 detections on every confidence
    change): sort by (label group, position); a run ends where the group changes or the
    position jumps by more than one frame; several detections of a label in one frame (two
    people) share a position, so they make one frame of the run.
    """
    import numpy as np
    import pandas as pd

    hits = hits[hits["label"].notna()]
    hits = hits[hits["label"].astype(str).str.strip() != ""]
    if hits.empty or where.empty:
        return empty()
    hits = hits.astype({"analysis_id": str, "frame_index": int, "label": str})
    frame_keys = pd.MultiIndex.from_arrays([where["analysis_id"].astype(str),
                                            where["frame_index"].astype(int)])
    found = frame_keys.get_indexer(pd.MultiIndex.from_arrays([hits["analysis_id"],
                                                              hits["frame_index"]]))
    hits, found = hits[found >= 0], found[found >= 0]
    if hits.empty:
        return empty()
    group = hits.groupby(["analysis_id", "kind", "label"], sort=False).ngroup().to_numpy()
    position = where["position"].to_numpy(dtype=np.int64)[found]
    time = where["timestamp_s"].to_numpy(dtype=float)[found]
    confidence = hits["confidence"].to_numpy(dtype=float, na_value=np.nan)
    order = np.lexsort((position, group))
    group, position, time, confidence = (a[order] for a in (group, position, time, confidence))
    starts = np.flatnonzero(np.r_[True, (group[1:] != group[:-1]) | (np.diff(position) > 1)])
    ends = np.r_[starts[1:], len(order)] - 1
    with np.errstate(invalid="ignore"):  # a run of smart crops has no confidence at all
        strongest = np.fmax.reduceat(confidence, starts)
    first = hits.iloc[order[starts]]
    out = pd.DataFrame({
        "analysis_id": first["analysis_id"].to_numpy(),
        "kind": first["kind"].to_numpy(),
        "label": first["label"].to_numpy(),
        "start_s": time[starts],
        "end_s": time[ends],
        "frames": pd.array(position[ends] - position[starts] + 1, dtype="Int64"),
        "max_confidence": strongest,
    })
    return ordered(out)


def ordered(segments: pd.DataFrame) -> pd.DataFrame:
    """Segments in time order (then kind and label), with a fresh index."""
    return segments.sort_values(["analysis_id", "start_s", "kind", "label"],
                                kind="stable")[SEGMENT_COLUMNS].reset_index(drop=True)


def label_hits(
    frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float,
    kinds: tuple[str, ...] = LABEL_KINDS,
) -> pd.DataFrame:
    """HIT_COLUMNS rows for the remote kinds: confident detections, and frame captions."""
    import pandas as pd

    found = confident(detections[detections["kind"].isin(kinds)], min_confidence)
    parts = [found[HIT_COLUMNS]]
    if LabelKind.caption in kinds:
        caps = frames[frames["caption"].notna() & passes(frames["caption_confidence"],
                                                         min_confidence)]
        parts.append(pd.DataFrame({
            "analysis_id": caps["analysis_id"], "kind": LabelKind.caption.value,
            "label": caps["caption"],
            "frame_index": caps["frame_index"], "confidence": caps["caption_confidence"],
        }))
    parts = [p for p in parts if not p.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=HIT_COLUMNS)


def label_segments(
    frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float,
    kinds: tuple[str, ...] = LABEL_KINDS,
) -> pd.DataFrame:
    """Segments of the remote analyser's labels at the minimum confidence."""
    if frames.empty:
        return empty()
    return merge_runs(label_hits(frames, detections, min_confidence, kinds),
                      positions(frames, remote_only=True))


def local_segments(frames: pd.DataFrame) -> pd.DataFrame:
    """Segments of the local statistics: each shot ("shot 1", "shot 2", ...) and black stretch."""
    import pandas as pd

    if frames.empty:
        return empty()
    shots = frames.dropna(subset=["shot_index"])
    black = frames[frames["is_black"].fillna(False).astype(bool)]
    hits = pd.concat([
        pd.DataFrame({"analysis_id": shots["analysis_id"], "kind": LabelKind.shot.value,
                      "label": "shot " + (shots["shot_index"].astype(int) + 1).astype(str),
                      "frame_index": shots["frame_index"], "confidence": float("nan")}),
        pd.DataFrame({"analysis_id": black["analysis_id"], "kind": LabelKind.black.value,
                      "label": "black",
                      "frame_index": black["frame_index"], "confidence": float("nan")}),
    ], ignore_index=True)
    return merge_runs(hits, positions(frames, remote_only=False))


def segments(frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float,
             kinds: tuple[str, ...] = SEGMENT_KINDS) -> pd.DataFrame:
    """Every segment of one analysis (SEGMENT_COLUMNS), in time order."""
    import pandas as pd

    label_kinds = tuple(k for k in kinds if k in LABEL_KINDS)
    parts = [label_segments(frames, detections, min_confidence, label_kinds)] if label_kinds \
        else []
    if any(k in LOCAL_KINDS for k in kinds):
        local = local_segments(frames)
        parts.append(local[local["kind"].isin(kinds)])
    parts = [p for p in parts if not p.empty]
    return ordered(pd.concat(parts, ignore_index=True)) if parts else empty()
