"""Charts of the model's answers over time, one per question, drawn for its type.

yes/no: a band of yes / no / cannot tell (invalid answers apart), titled with the share of yes;
count, score and number: a line, invalid values as red crosses; a choice: coloured runs, one row
per listed choice. Text answers are not charted (the page lists them in a table). Every chart
shares the results page's time axis, with shots, black frames and the selected moment.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from components.charts import (
    FIT_WIDTH,
    SELECTED_COLOUR,
    SERIES_COLOURS,
    decorations,
    domain_end,
    frame_spans,
    time_x,
)
from services.insights.answers import shown_value
from services.questions import CANNOT_TELL, NO, YES, Question

STATE_COLOURS = {YES: "#29b09d", NO: "#d5dae5", "cannot tell": "#ffd16a", "invalid": "#ff4b4b"}
STATE_ORDER = [YES, NO, "cannot tell", "invalid"]


def question_cells(question: Question, frames: pd.DataFrame,
                   answers: pd.DataFrame) -> pd.DataFrame:
    """One row per analysed frame for this question: its span, the answer shown, its state."""
    spans = frame_spans(frames[frames["remote_analysed"].fillna(False).astype(bool)])
    mine = answers[answers["question_key"] == question.key]
    by_frame = {int(r.frame_index): r for r in mine.itertuples(index=False)}
    rows = []
    for span in spans.itertuples(index=False):
        answer = by_frame.get(int(span.frame_index))
        if answer is None:
            continue
        value = shown_value(question, answer.number, answer.text)
        valid = pd.isna(answer.valid) or bool(answer.valid)
        state = "invalid" if not valid else "cannot tell" if value in (None, CANNOT_TELL) \
            else str(value)
        number = None if pd.isna(answer.number) else float(answer.number)
        rows.append({"timestamp_s": float(span.timestamp_s), "end_s": float(span.end_s),
                     "value": "" if value is None else str(value), "number": number,
                     "state": state, "valid": valid})
    return pd.DataFrame(rows, columns=["timestamp_s", "end_s", "value", "number", "state",
                                       "valid"])


def share_of_yes(cells: pd.DataFrame) -> float | None:
    """Yes among the frames answered yes or no (cannot tell and invalid left out)."""
    said = cells[cells["state"].isin([YES, NO])]
    return None if said.empty else float((said["state"] == YES).mean())


def question_title(question: Question, cells: pd.DataFrame) -> str:
    title = question.text if len(question.text) <= 90 else question.text[:89] + "…"
    if question.type == "yes_no" and (share := share_of_yes(cells)) is not None:
        return f"{title} (yes in {share:.0%} of the frames answered)"
    return title


def answer_chart(question: Question, frames: pd.DataFrame, answers: pd.DataFrame,
                 t: float | None = None, duration: float | None = None,
                 shots: pd.DataFrame | None = None) -> alt.LayerChart:
    """The chart of one question's answers over time (not for text questions); shot lines at
    the stored shots when given."""
    cells = question_cells(question, frames, answers)
    end = domain_end(frames, duration)
    tooltip = [alt.Tooltip("timestamp_s:Q", title="time (s)", format=".2f"),
               alt.Tooltip("value:N", title="answer"), alt.Tooltip("state:N", title="as")]
    if question.type in ("yes_no", "choice"):
        rows = STATE_ORDER if question.type == "yes_no" else \
            [*question.choices, "cannot tell", "invalid"]
        colours = [STATE_COLOURS.get(r, SERIES_COLOURS[i % len(SERIES_COLOURS)])
                   for i, r in enumerate(rows)]
        mark = alt.Chart(cells).mark_rect().encode(
            x=time_x(end), x2="end_s:Q",
            y=alt.Y("state:N", title=None, sort=rows, scale=alt.Scale(domain=rows),
                    axis=alt.Axis(labelOverlap=False)),  # every row named, 18 px apart
            color=alt.Color("state:N", legend=None, scale=alt.Scale(domain=rows, range=colours)),
            tooltip=tooltip)
        height = 18 * len(rows)
    else:
        valid = cells[cells["valid"]]
        mark = alt.Chart(valid).mark_line(point=alt.OverlayMarkDef(size=16),
                                          interpolate="step-after").encode(
            x=time_x(end), y=alt.Y("number:Q", title=None, axis=alt.Axis(tickCount=4)),
            tooltip=tooltip)
        height = 110
    layers: list[alt.Chart] = [*decorations(frames, t, end, shots), mark]
    broken = cells[~cells["valid"] & cells["number"].notna()]
    if question.type not in ("yes_no", "choice") and not broken.empty:
        layers.append(alt.Chart(broken).mark_point(shape="cross", color=SELECTED_COLOUR, size=60)
                      .encode(x=time_x(end), y="number:Q", tooltip=tooltip))
    return alt.LayerChart(layer=layers, height=height, autosize=FIT_WIDTH,
                          title=alt.TitleParams(question_title(question, cells), anchor="start",
                                                fontSize=13))
