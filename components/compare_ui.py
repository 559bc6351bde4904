"""Compare page pieces: the comparison (services.insights.compare) as tables, and the local
statistics of both analyses on one time axis."""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import streamlit as st

from components.charts import METRICS, compare_chart
from components.formatting import clock
from components.text import one_line
from components.timeline import kind_noun
from services.domain import AnalyzerKind
from services.insights.compare import Comparison, Side

SIDES = ("A", "B")
LABEL_COLUMNS = {
    "kind": st.column_config.TextColumn("Kind", width="small"),
    "label": st.column_config.TextColumn("Label", width="large"),
    "share_a": st.column_config.ProgressColumn("Share of frames, A", min_value=0.0,
                                               max_value=1.0, format="percent"),
    "share_b": st.column_config.ProgressColumn("Share of frames, B", min_value=0.0,
                                               max_value=1.0, format="percent"),
    "only": st.column_config.TextColumn("Only in", width="small"),
}


def _setting_rows(comparison: Comparison) -> pd.DataFrame:
    """One row per setting or summary metric, a column per analysis (text, as shown)."""
    def facts(side: Side) -> dict[str, str]:
        s, m = side.settings, side.summary
        return {
            "Video": one_line(side.video, 120),
            "Analyser": s["analyzer"],
            "Features": ", ".join(s["features"]) or "—",
            "Frames per second": f"{s['sample_fps']:g}" + (" (adaptive)" if s["adaptive"] else ""),
            "Max frames": str(s["max_frames"] or "—"),
            "Status": side.status,
            "Frames": f"{m.frames:,}",
            # A cached answer counts as analysed but was not billed.
            "Frames the service analysed": f"{m.frames_analysed_remotely:,}",
            "Calls billed": f"{m.transactions:,}",
            "Video duration": clock(side.duration_s),
            "Shots": f"{m.shots:,}",
            "Black frames": f"{m.black_frames:,}",
            "Max people in a frame": f"{m.max_people_in_a_frame:,}"
            if AnalyzerKind(s["analyzer"]).detects else "—",  # only Image Analysis counts them
        }

    a, b = facts(comparison.a), facts(comparison.b)
    return pd.DataFrame({"": list(a), "A": list(a.values()), "B": list(b.values())})


def labels_table(comparison: Comparison) -> pd.DataFrame:
    rows = pd.DataFrame([asdict(share) for share in comparison.labels],
                        columns=["kind", "label", "share_a", "share_b", "only"])
    rows["kind"] = rows["kind"].map(kind_noun)
    rows["label"] = rows["label"].map(lambda s: one_line(s, 300))
    rows["only"] = rows["only"].map({"a": "A", "b": "B"}).fillna("")
    return rows


def statistics_table(comparison: Comparison) -> pd.DataFrame:
    rows = pd.DataFrame([asdict(means) for means in comparison.statistics],
                        columns=["name", "mean_a", "mean_b"])
    rows["name"] = rows["name"].str.replace("_", " ").str.capitalize()
    return rows.rename(columns={"name": "", "mean_a": "Mean, A", "mean_b": "Mean, B"})


def _in_short(summary: dict | None) -> str:
    """A question's summary in one cell: what it found, then answered / cannot tell / invalid."""
    if summary is None:
        return "not asked"
    found = ""
    if summary.get("share_yes") is not None:
        found = f"yes in {summary['share_yes']:.0%}"
    elif summary.get("mean") is not None:
        found = f"mean {summary['mean']:.3g}"
    elif summary.get("frames_per_choice"):
        found = ", ".join(f"{c} {n}" for c, n in summary["frames_per_choice"].items() if n)
    counts = (f"{summary['frames_answered']} answered, {summary['frames_cannot_tell']} cannot "
              f"tell, {summary['frames_invalid']} invalid")
    if summary.get("reviewed"):  # the analysts' reviews: how far the model's answers hold
        counts += f"; agreed with {summary['agreed']} of {summary['reviewed']} reviewed"
    return f"{found} ({counts})" if found else counts


def questions_table(comparison: Comparison) -> pd.DataFrame:
    """Each question: both analyses' answers in short, and how often they agreed."""
    rows = [{"Question": q.text, "Key": q.key, "A": _in_short(q.summary_a),
             "B": _in_short(q.summary_b),
             "Agreed": (f"{q.agreed} of {q.compared} moments ({q.agreement:.0%})"
                        if q.agreement is not None else "not comparable")}
            for q in comparison.questions]
    return pd.DataFrame(rows, columns=["Question", "Key", "A", "B", "Agreed"])


def compare_ui(comparison: Comparison, frames_a: pd.DataFrame, frames_b: pd.DataFrame) -> None:
    """Settings and metrics side by side, label shares, statistic means and their charts."""
    st.subheader("Settings and summary")
    # All 13 rows: the default height (ten rows) hid the last ones behind a scroll.
    st.dataframe(_setting_rows(comparison), hide_index=True, width="stretch",
                 height="content")
    st.subheader("Labels")
    labels = labels_table(comparison)
    only = labels["only"].value_counts()
    scored = any(AnalyzerKind(side.settings["analyzer"]).detects
                 for side in (comparison.a, comparison.b))
    at = f" at minimum confidence {comparison.min_confidence:.2f}" if scored else ""
    st.caption(f"{len(labels):,} labels{at}: "
               f"{int(only.get('A', 0)):,} only in A, {int(only.get('B', 0)):,} only in B. "
               "A share is the fraction of the frames the service analysed that show the label.")
    st.dataframe(labels, column_config=LABEL_COLUMNS, hide_index=True, width="stretch",
                 height=min(420, 38 + 35 * max(1, len(labels))))
    if comparison.questions:
        st.subheader("Questions")
        st.caption("Answers generated by a model, with no confidence. Agreed: the moments both "
                   "analyses sampled and both answered within the question's rules (same video "
                   "only).")
        st.dataframe(questions_table(comparison), hide_index=True, width="stretch")
    st.subheader("Local statistics")
    st.dataframe(statistics_table(comparison), hide_index=True, width="stretch",
                 column_config={"Mean, A": st.column_config.NumberColumn(format="%.3f"),
                                "Mean, B": st.column_config.NumberColumn(format="%.3f")})
    if frames_a.empty or frames_b.empty:
        st.caption("Charts appear once both analyses have frames.")
        return
    duration = max(comparison.a.duration_s, comparison.b.duration_s)
    for metric, title in METRICS:
        st.altair_chart(compare_chart(frames_a, frames_b, metric, title, SIDES,
                                      duration=duration), width="stretch")
    st.caption("Time in seconds, one axis for both analyses.")
