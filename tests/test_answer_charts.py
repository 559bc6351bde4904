"""Answer charts: one per question, drawn for its type (Altair specs checked with to_dict())."""

from __future__ import annotations

import pandas as pd

from components.answer_charts import answer_chart, question_cells, share_of_yes
from services.questions import check_answer, parse_questions
from tests.fixtures.factories import make_frames

QUESTIONS = {q.key: q for q in parse_questions([
    {"key": "hat", "text": "Anyone without a hard hat?", "type": "yes_no"},
    {"key": "people", "text": "How many people?", "type": "count"},
    {"key": "posture", "text": "Posture", "type": "choice", "choices": ["standing", "sitting"]},
])}


def _answers(values: dict[str, list]) -> pd.DataFrame:
    rows = []
    for key, per_frame in values.items():
        for i, value in enumerate(per_frame):
            a = check_answer(QUESTIONS[key], value)
            rows.append((i, key, a.number, a.text, a.valid))
    return pd.DataFrame(rows, columns=["frame_index", "question_key", "number", "text",
                                       "valid"]).astype({"valid": "boolean"})


ANSWERS = _answers({
    "hat": ["yes", "yes", "no", None, "yes", "no", "maybe", "no"],
    "people": [2, 3, 0, None, -1, 1, 1, 4],
    "posture": ["standing", "sitting", "kneeling", None, "standing", "standing", "sitting",
                "sitting"],
})


def _layers(chart) -> list[dict]:
    return chart.to_dict()["layer"]


def test_a_yes_no_chart_is_a_band_with_the_share_of_yes():
    """Test the band's rows (yes, no, cannot tell, invalid) and the title's share of yes,
    counted over the frames answered yes or no only."""
    frames = make_frames()
    cells = question_cells(QUESTIONS["hat"], frames, ANSWERS)
    assert cells["state"].tolist() == ["yes", "yes", "no", "cannot tell", "yes", "no",
                                       "invalid", "no"]
    assert share_of_yes(cells) == 3 / 6
    spec = answer_chart(QUESTIONS["hat"], frames, ANSWERS, t=1.0).to_dict()
    assert "(yes in 50% of the frames answered)" in spec["title"]["text"]
    band = spec["layer"][-1]
    assert band["mark"]["type"] == "rect"
    assert band["encoding"]["y"]["scale"]["domain"] == ["yes", "no", "cannot tell", "invalid"]


def test_a_count_chart_is_a_line_with_invalid_values_marked_apart():
    """Test that a negative count is not on the line but drawn as a red cross."""
    frames = make_frames()
    layers = _layers(answer_chart(QUESTIONS["people"], frames, ANSWERS))
    line = next(layer for layer in layers if layer["mark"]["type"] == "line")
    cross = next(layer for layer in layers if layer["mark"].get("shape") == "cross")
    cells = question_cells(QUESTIONS["people"], frames, ANSWERS)
    assert cells.loc[~cells["valid"], "number"].tolist() == [-1.0]
    datasets = answer_chart(QUESTIONS["people"], frames, ANSWERS).to_dict()["datasets"]
    line_rows = datasets[line["data"]["name"]]
    assert all(row["number"] != -1.0 for row in line_rows)
    assert [row["number"] for row in datasets[cross["data"]["name"]]] == [-1.0]


def test_a_choice_chart_has_a_row_per_listed_choice():
    """Test that the choices keep the analyst's order, then cannot tell and invalid."""
    band = _layers(answer_chart(QUESTIONS["posture"], make_frames(), ANSWERS))[-1]
    assert band["encoding"]["y"]["scale"]["domain"] == ["standing", "sitting", "cannot tell",
                                                        "invalid"]


def test_frames_not_analysed_have_no_cell():
    """Test that a frame the service refused (not analysed) draws nothing."""
    frames = make_frames()
    frames.loc[frames["frame_index"] == 0, "remote_analysed"] = False
    cells = question_cells(QUESTIONS["hat"], frames, ANSWERS)
    assert 0.0 not in cells["timestamp_s"].tolist() and len(cells) == 7
