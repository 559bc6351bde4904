"""Altair chart builders: pure functions from result DataFrames to charts (test with to_dict()).

Every chart shares one time axis in seconds. Shot boundaries are dashed rules, black frames are
shaded spans, and the selected moment is a red rule. The click-to-jump strip is a single,
non-layered chart, because Altair selections do not work on layered or concatenated charts.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from services.domain import LabelKind
from services.insights.results import confident

METRICS: tuple[tuple[str, str], ...] = (
    ("brightness", "Brightness"),
    ("contrast", "Contrast"),
    ("sharpness", "Sharpness"),
    ("colourfulness", "Colourfulness"),
    ("motion", "Motion"),
)
JUMP_PARAM = "jump"
SELECTED_COLOUR = "#ff4b4b"
# Streamlit's categorical palette without its reds: red marks the selected moment.
SERIES_COLOURS = ["#0068c9", "#83c9ff", "#29b09d", "#7defa1", "#ff8700", "#ffd16a", "#6d3fc0",
                  "#d5dae5", "#9a5b13"]
SHOT_COLOUR = "#808495"
# Streamlit's theme fits a whole chart (title, axes, legend) into its height, which can leave
# the plot a few pixels: charts with those fit their width only, so the height is the plot's.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")
BLACK_COLOUR = "#31333f"
TIME_TITLE = "Time (s)"


# ---- data preparation (pure pandas) ----------------------------------------------------------

def frame_step(frames: pd.DataFrame) -> float:
    """The usual time between sampled frames (the median gap; 1 s with fewer than two)."""
    steps = frames["timestamp_s"].astype(float).sort_values().diff().dropna()
    return float(steps.median()) if not steps.empty and steps.median() > 0 else 1.0


def frame_spans(frames: pd.DataFrame) -> pd.DataFrame:
    """One row per frame with start (timestamp_s) and end_s, the next frame's time."""
    spans = frames.sort_values("timestamp_s").reset_index(drop=True).copy()
    times = spans["timestamp_s"].astype(float)
    step = frame_step(spans)
    spans["timestamp_s"] = times
    spans["end_s"] = times.shift(-1).fillna(times + step)
    return spans


def shot_starts(frames: pd.DataFrame) -> pd.DataFrame:
    """Times where a new shot begins (the first shot is not a boundary)."""
    spans = frame_spans(frames)
    shots = spans["shot_index"].astype("Float64")
    changed = shots.ne(shots.shift()) & shots.shift().notna() & shots.notna()
    out = spans.loc[changed.fillna(False).astype(bool), ["timestamp_s", "shot_index"]]
    return out.astype({"shot_index": float}).reset_index(drop=True)


def black_spans(frames: pd.DataFrame) -> pd.DataFrame:
    """Contiguous runs of black frames as start_s / end_s rows."""
    spans = frame_spans(frames)
    black = spans["is_black"].fillna(False).astype(bool)
    runs = (black != black.shift()).cumsum()
    rows = [
        {"start_s": float(g["timestamp_s"].min()), "end_s": float(g["end_s"].max())}
        for _, g in spans[black].groupby(runs[black])
    ]
    return pd.DataFrame(rows, columns=["start_s", "end_s"])


def count_series(
    frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float, top: int = 8
) -> pd.DataFrame:
    """People and objects per label counted per analysed frame: timestamp_s, series, count."""
    analysed = frames[frames["remote_analysed"].fillna(False).astype(bool)]
    if analysed.empty:
        return pd.DataFrame(columns=["timestamp_s", "series", "count"])
    found = confident(detections, min_confidence)
    found = found[found["kind"].isin([LabelKind.person, LabelKind.object])].copy()
    objects = found["kind"] == LabelKind.object
    found["series"] = found["kind"].where(objects, "people")
    found.loc[objects, "series"] = "object: " + found.loc[objects, "label"].fillna("?").astype(str)
    ranked = found[objects]["series"].value_counts().index[:top].tolist()
    names = ["people", *ranked]
    counts = found[found["series"].isin(names)].groupby(["frame_index", "series"]).size()
    grid = pd.MultiIndex.from_product([analysed["frame_index"].astype(int), names],
                                      names=["frame_index", "series"])
    table = counts.reindex(grid, fill_value=0).rename("count").reset_index()
    times = analysed.set_index(analysed["frame_index"].astype(int))["timestamp_s"].astype(float)
    table["timestamp_s"] = table["frame_index"].map(times)
    return table[["timestamp_s", "series", "count"]]


def tag_cells(
    frames: pd.DataFrame, detections: pd.DataFrame, min_confidence: float, top: int = 15
) -> pd.DataFrame:
    """The `top` tags by number of frames: timestamp_s, end_s, label, confidence per frame."""
    tags = confident(detections, min_confidence)
    tags = tags[tags["kind"] == LabelKind.tag].dropna(subset=["label"])
    if tags.empty:
        return pd.DataFrame(columns=["timestamp_s", "end_s", "label", "confidence"])
    ranked = tags.groupby("label")["frame_index"].nunique().sort_values(ascending=False)
    keep = tags[tags["label"].isin(ranked.index[:top])]
    keep = keep.groupby(["frame_index", "label"], as_index=False)["confidence"].max()
    spans = frame_spans(frames)
    lookup = pd.DataFrame({"frame_index": spans["frame_index"].astype(int),
                           "timestamp_s": spans["timestamp_s"], "end_s": spans["end_s"]})
    keep = keep.astype({"frame_index": int}).merge(lookup, on="frame_index")
    keep["label"] = keep["label"].astype(str)
    keep["confidence"] = keep["confidence"].astype(float)
    return keep[["timestamp_s", "end_s", "label", "confidence"]]


# ---- chart builders ---------------------------------------------------------------------------

def time_x(end: float, title: str | None = TIME_TITLE) -> alt.X:
    """The shared time axis, from 0 to `end` seconds."""
    return alt.X("timestamp_s:Q", title=title, scale=alt.Scale(domain=[0, end], nice=False))


def _selected_rule(t: float, x: alt.X | str = "timestamp_s:Q") -> alt.Chart:
    """The selected moment, as a rule across a time chart."""
    return (alt.Chart(pd.DataFrame({"timestamp_s": [float(t)]}))
            .mark_rule(color=SELECTED_COLOUR, size=2).encode(x=x))


def shot_rules(frames: pd.DataFrame, shots: pd.DataFrame | None) -> pd.DataFrame:
    """Where the dashed shot lines go: each stored shot's start, to the frame, with its
    transition; without stored shots, the first sampled frame of each shot."""
    if shots is None or shots.empty:
        return shot_starts(frames)
    later = shots[shots["shot_index"] > 0]
    return pd.DataFrame({"timestamp_s": later["start_s"].astype(float),
                         "shot_index": later["shot_index"].astype(float),
                         "transition": later["transition"].astype(str)}).reset_index(drop=True)


def decorations(
    frames: pd.DataFrame, t: float | None, domain_end: float, shots: pd.DataFrame | None = None
) -> list[alt.Chart]:
    """Black spans, shot rules and the selected-time rule to layer over a time chart."""
    layers: list[alt.Chart] = []
    scale = alt.Scale(domain=[0, domain_end], nice=False)
    blacks = black_spans(frames)
    if not blacks.empty:
        layers.append(
            alt.Chart(blacks).mark_rect(color=BLACK_COLOUR, opacity=0.18)
            .encode(x=alt.X("start_s:Q", scale=scale, title=None), x2="end_s:Q",
                    tooltip=[alt.Tooltip("start_s:Q", title="black from (s)", format=".1f"),
                             alt.Tooltip("end_s:Q", title="to (s)", format=".1f")])
        )
    rules = shot_rules(frames, shots)
    if not rules.empty:
        tooltip = [alt.Tooltip("timestamp_s:Q", title="new shot at (s)", format=".2f")]
        if "transition" in rules:
            tooltip.append(alt.Tooltip("transition:N", title="by"))
        layers.append(
            alt.Chart(rules).mark_rule(color=SHOT_COLOUR, strokeDash=[4, 3])
            .encode(x=alt.X("timestamp_s:Q", scale=scale, title=None), tooltip=tooltip)
        )
    if t is not None:
        layers.append(_selected_rule(t, alt.X("timestamp_s:Q", scale=scale, title=None)))
    return layers


def domain_end(frames: pd.DataFrame, at_least: float | None = None) -> float:
    """End of the time axis: the last frame's end, or the video's duration while it fills in."""
    end = float(frame_spans(frames)["end_s"].max()) if not frames.empty else 1.0
    return max(end, float(at_least or 0.0))


def metric_chart(
    frames: pd.DataFrame, metric: str, title: str, t: float | None = None,
    height: int = 150, x_title: str | None = TIME_TITLE, duration: float | None = None,
    shots: pd.DataFrame | None = None,
) -> alt.LayerChart:
    """One per-frame value over time, with shots (the stored ones when given), black frames
    and the selected time."""
    end = domain_end(frames, duration)
    data = frame_spans(frames)[["timestamp_s", "frame_index", metric]].astype(float)
    line = (
        alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=12), strokeWidth=1.5)
        .encode(
            x=time_x(end, x_title),
            y=alt.Y(f"{metric}:Q", title=title, scale=alt.Scale(zero=True, nice=True),
                    axis=alt.Axis(format=".3~r", tickCount=4)),
            tooltip=[alt.Tooltip("timestamp_s:Q", title="time (s)", format=".2f"),
                     alt.Tooltip(f"{metric}:Q", title=title.lower(), format=".3f")],
        )
    )
    return alt.LayerChart(layer=[*decorations(frames, t, end, shots), line], height=height)


def jump_chart(
    frames: pd.DataFrame, t: float | None = None, height: int = 72, duration: float | None = None
) -> alt.Chart:
    """A strip of frames coloured by shot (black frames dark); click one to jump to it."""
    spans = frame_spans(frames)
    data = pd.DataFrame({
        "timestamp_s": spans["timestamp_s"].astype(float),
        "end_s": spans["end_s"].astype(float),
        "bottom": 0.0,
        "top": 1.0,
        "shot": spans["shot_index"].astype("Float64").fillna(-1).astype(int) + 1,
        "is_black": spans["is_black"].fillna(False).astype(bool),
        "brightness": spans["brightness"].astype(float),
    })
    data["current"] = False
    if t is not None and not data.empty:
        data.loc[(data["timestamp_s"] - float(t)).abs().idxmin(), "current"] = True
    pick = alt.selection_point(name=JUMP_PARAM, fields=["timestamp_s"], on="click",
                               clear=False)
    return (
        alt.Chart(data)
        # Thin white gaps separate frames while there are few enough to see them.
        .mark_rect(stroke="white" if len(data) <= 120 else None, strokeWidth=0.5)
        .encode(
            x=time_x(domain_end(frames, duration), title=None),
            x2="end_s:Q",
            # Every frame spans the strip's full height (a rect from 0 to 1).
            y=alt.Y("bottom:Q", axis=None, scale=alt.Scale(domain=[0, 1])),
            y2="top:Q",
            color=alt.condition(alt.datum.is_black, alt.value(BLACK_COLOUR),
                                alt.Color("shot:N", legend=None,
                                          scale=alt.Scale(scheme="tableau10"))),
            opacity=alt.condition(alt.datum.current, alt.value(1.0), alt.value(0.45)),
            tooltip=[alt.Tooltip("timestamp_s:Q", title="time (s)", format=".2f"),
                     alt.Tooltip("shot:Q", title="shot"),
                     alt.Tooltip("brightness:Q", format=".3f"),
                     alt.Tooltip("is_black:N", title="black")],
        )
        .add_params(pick)
        .properties(height=height)
    )


def counts_chart(series: pd.DataFrame, t: float | None = None, height: int = 150) -> alt.LayerChart:
    """People and object counts per label over time (from count_series)."""
    end = float(series["timestamp_s"].max()) + 1.0 if not series.empty else 1.0
    lines = (
        alt.Chart(series).mark_line(point=alt.OverlayMarkDef(size=16), interpolate="step-after")
        .encode(
            x=time_x(end),
            y=alt.Y("count:Q", title="Count", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom"),
                            scale=alt.Scale(range=SERIES_COLOURS)),
            tooltip=[alt.Tooltip("timestamp_s:Q", title="time (s)", format=".2f"),
                     alt.Tooltip("series:N", title="what"), alt.Tooltip("count:Q")],
        )
    )
    layers: list[alt.Chart] = [lines]
    if t is not None:
        layers.append(_selected_rule(t))
    return alt.LayerChart(layer=layers, height=height, autosize=FIT_WIDTH)


def tag_timeline(cells: pd.DataFrame, t: float | None = None) -> alt.LayerChart:
    """Top tags over time as a heatmap: one row per tag, colour is the tag's confidence."""
    order = list(cells.groupby("label")["timestamp_s"].count()
                 .sort_values(ascending=False).index)
    end = float(cells["end_s"].max()) if not cells.empty else 1.0
    y = alt.Y("label:N", title=None, sort=order, scale=alt.Scale(domain=order),
              axis=alt.Axis(labelOverlap=False))
    tooltip = [alt.Tooltip("label:N", title="tag"),
               alt.Tooltip("timestamp_s:Q", title="time (s)", format=".2f")]
    layers: list[alt.Chart] = []
    scored = cells[cells["confidence"].notna()]
    if not scored.empty:
        layers.append(alt.Chart(scored).mark_rect().encode(
            x=time_x(end), x2="end_s:Q", y=y,
            color=alt.Color("confidence:Q", title="Confidence",
                            scale=alt.Scale(scheme="blues", domain=[0, 1])),
            tooltip=[*tooltip, alt.Tooltip("confidence:Q", format=".2f")]))
    # A model's tags carry no confidence: one plain colour, never an invented value (in the
    # confidence layer Vega-Lite would drop them as invalid and draw nothing).
    unscored = cells[cells["confidence"].isna()]
    if not unscored.empty:
        layers.append(alt.Chart(unscored).mark_rect(color=SERIES_COLOURS[0]).encode(
            x=time_x(end), x2="end_s:Q", y=y, tooltip=tooltip))
    if t is not None:
        layers.append(_selected_rule(t))
    return alt.LayerChart(layer=layers, height=22 * len(order), autosize=FIT_WIDTH)


def compare_chart(
    frames_a: pd.DataFrame, frames_b: pd.DataFrame, metric: str, title: str,
    names: tuple[str, str] = ("A", "B"), height: int = 170, duration: float | None = None,
) -> alt.Chart:
    """One per-frame value of two analyses on one time axis, a line each (one chart, no layers)."""
    parts = []
    for name, frames in zip(names, (frames_a, frames_b), strict=True):
        part = frames[["timestamp_s", metric]].astype(float)
        parts.append(part.assign(analysis=name))
    data = pd.concat(parts, ignore_index=True)
    end = max(domain_end(frames_a, duration), domain_end(frames_b, duration))
    return (
        alt.Chart(data).mark_line(point=alt.OverlayMarkDef(size=12), strokeWidth=1.5)
        .encode(
            x=time_x(end),
            y=alt.Y(f"{metric}:Q", title=title, scale=alt.Scale(zero=True, nice=True),
                    axis=alt.Axis(format=".3~r", tickCount=4)),
            # Beside the plot, not above it: Streamlit pads a top legend so much that a 140 px
            # chart had no plot left (both lines drawn flat on one pixel row).
            color=alt.Color("analysis:N", title=None, sort=list(names),
                            scale=alt.Scale(domain=list(names), range=SERIES_COLOURS[:2]),
                            legend=alt.Legend(orient="right", symbolType="stroke",
                                              symbolStrokeWidth=2)),
            # B dashed over A: where the two runs coincide, A's line shows between the dashes
            # (solid under solid, A was hidden).
            strokeDash=alt.StrokeDash("analysis:N", title=None, sort=list(names),
                                      scale=alt.Scale(domain=list(names), range=[[1, 0], [5, 3]]),
                                      legend=None),
            tooltip=[alt.Tooltip("analysis:N"),
                     alt.Tooltip("timestamp_s:Q", title="time (s)", format=".2f"),
                     alt.Tooltip(f"{metric}:Q", title=title.lower(), format=".3f")],
        )
        .properties(height=height, autosize=FIT_WIDTH)
    )
