"""The segment timeline: one row per label, one bar per segment; a click picks it (pure Altair).

A single, non-layered chart, because Altair selections do not work on layered or concatenated
charts: the selected moment is shown by drawing the bars it falls in opaque, not by a rule.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from components.charts import SERIES_COLOURS, TIME_TITLE
from services.domain import LabelKind
from services.insights.links import label_key, parse_label_key

SEGMENT_PARAM = "segment"
ROW_CHARS = 40  # label text on the axis; the tooltip has it whole (up to 300 characters)
ROW_PX = 24


def kind_noun(kind: str) -> str:
    """The kind as a row or a result names it ("text" for text_line); an unknown one as is."""
    return LabelKind(kind).noun if kind in set(LabelKind) else kind


def row_name(kind: str, label: str) -> str:
    text = " ".join(str(label).split())
    short = text if len(text) <= ROW_CHARS else text[: ROW_CHARS - 1] + "…"
    return f"{kind_noun(kind)}: {short}"


def timeline_rows(segments: pd.DataFrame, step: float, kinds: list[str], top: int = 25,
                  keep: str | None = None) -> pd.DataFrame:
    """Segments of the `top` labels of `kinds` by frames shown (plus the label `keep`), in time
    order of their first segments, ready to draw: key (kind:label), row, kind, label, start_s,
    end_s, bar_end_s, frames, confidence.

    A bar reaches one frame step past its last frame, so a one-frame segment still shows.
    """
    segs = segments[segments["kind"].isin(kinds)].copy()
    segs["key"] = [label_key(k, lab) for k, lab in zip(segs["kind"], segs["label"], strict=True)]
    ranked = segs.groupby("key")["frames"].sum().sort_values(ascending=False, kind="stable")
    chosen = list(ranked.index[:top])
    if keep and keep in ranked.index and keep not in chosen:
        chosen.append(keep)
    segs = segs[segs["key"].isin(chosen)]
    names: dict[str, str] = {}
    for key in chosen:  # two long labels may shorten alike: each row keeps its own name
        name = row_name(*(parse_label_key(key) or ("", key)))
        names[key] = name if name not in names.values() else f"{name} ({len(names) + 1})"
    rows = pd.DataFrame({
        "key": segs["key"].astype(str),
        "row": segs["key"].map(names),
        "kind": segs["kind"].map(kind_noun),
        "label": segs["label"].astype(str).str.slice(0, 300),
        "start_s": segs["start_s"].astype(float),
        "end_s": segs["end_s"].astype(float),
        "bar_end_s": segs["end_s"].astype(float) + float(step),
        "frames": segs["frames"].astype(int),
        "confidence": segs["max_confidence"].astype(float),
    })
    # Rows in time order (by each label's first segment; shot 1 before shot 2), the ranking
    # only choosing which labels are drawn and breaking ties.
    first = rows.groupby("key")["start_s"].min()
    rank = {key: i for i, key in enumerate(chosen)}
    rows["first"], rows["rank"] = rows["key"].map(first), rows["key"].map(rank)
    return (rows.sort_values(["first", "rank", "start_s"]).drop(columns=["first", "rank"])
            .reset_index(drop=True))


def segment_timeline(rows: pd.DataFrame, t: float | None = None, selected: str | None = None,
                     duration: float | None = None) -> alt.Chart:
    """Bars of timeline_rows over time, a row per label; a click selects (key, start_s)."""
    data = rows.copy()
    data["current"] = False
    if t is not None and not data.empty:
        data["current"] = (data["start_s"] <= float(t)) & (float(t) < data["bar_end_s"])
    data["selected"] = data["key"] == (selected or "")
    end = max(float(data["bar_end_s"].max()) if not data.empty else 1.0, float(duration or 0))
    order = list(dict.fromkeys(data["row"]))
    pick = alt.selection_point(name=SEGMENT_PARAM, fields=["key", "start_s"], on="click",
                               clear=False)
    return (
        alt.Chart(data).mark_bar(cornerRadius=2)
        .encode(
            x=alt.X("start_s:Q", title=TIME_TITLE, scale=alt.Scale(domain=[0, end], nice=False)),
            x2="bar_end_s:Q",
            y=alt.Y("row:N", title=None, sort=order, axis=alt.Axis(labelLimit=260)),
            color=alt.Color("kind:N", title=None, legend=alt.Legend(orient="bottom"),
                            scale=alt.Scale(range=SERIES_COLOURS)),
            opacity=alt.condition(alt.datum.current | alt.datum.selected, alt.value(1.0),
                                  alt.value(0.5)),
            stroke=alt.condition(alt.datum.selected, alt.value("#ff4b4b"), alt.value(None)),
            strokeWidth=alt.value(2),
            tooltip=[alt.Tooltip("kind:N"), alt.Tooltip("label:N"),
                     alt.Tooltip("start_s:Q", title="from (s)", format=".2f"),
                     alt.Tooltip("end_s:Q", title="last frame (s)", format=".2f"),
                     alt.Tooltip("frames:Q"),
                     alt.Tooltip("confidence:Q", title="max confidence", format=".2f")],
        )
        .add_params(pick)
        .properties(height=alt.Step(ROW_PX))  # a fixed height per label row: no label skipped
    )
