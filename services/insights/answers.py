"""An analysis's questions and the model's answers, read for charts, segments and answers.csv.

Answers are what a model generated: they carry no confidence, and an answer that broke its
question's rules (a negative count, a score of 12, a choice not listed) is shown as given and
marked invalid. Answer segments are runs of consecutive analysed frames with the same answer: a
run of yes, a run of each choice, a run of a count or score at or above a threshold the analyst
sets; they merge like label segments (services/insights/segments.py) with kind "answer"
(LabelKind.answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from services.domain import LabelKind
from services.insights.results import read_rows
from services.insights.segments import HIT_COLUMNS, merge_runs, positions
from services.models import AnswerRow, FrameUsage
from services.question_sets import load_questions
from services.questions import YES, Question
from services.review.agreement import agreement
from services.review.corrections import in_force, load_reviews
from services.vision.openai_tokens import Prices

ANSWER_COLUMNS = ["frame_index", "question_key", "number", "text", "valid"]
USAGE_COLUMNS = ["frame_index", "prompt_tokens", "completion_tokens", "cached_tokens",
                 "reasoning_tokens", "model", "region", "request_id"]
ANSWER_KIND = LabelKind.answer.value  # the kind of label an answer is (services/domain.py)
# Default thresholds of the numeric answers' segments: "at least one", "at least half".
DEFAULT_THRESHOLDS = {"count": 1.0, "score": 5.0}
NUMERIC_TYPES = ("count", "score", "number")


def load_model_answers(engine: Engine, analysis_id: str) -> pd.DataFrame:
    """Every answer of the analysis as the model gave it (ANSWER_COLUMNS), by frame."""
    answers = read_rows(engine, AnswerRow, ANSWER_COLUMNS, analysis_id)
    return answers.astype({"frame_index": "Int64", "valid": "boolean"})


def load_answers(engine: Engine, analysis_id: str) -> pd.DataFrame:
    """The answers in force (ANSWER_COLUMNS): an analyst's reviewed value wins over the model's
    (services/review/corrections.py), so charts, segments and compare follow the reviews."""
    return in_force(load_model_answers(engine, analysis_id), load_reviews(engine, analysis_id))


def load_usage(engine: Engine, analysis_id: str) -> pd.DataFrame:
    return read_rows(engine, FrameUsage, USAGE_COLUMNS, analysis_id)


def usage_totals(usage: pd.DataFrame, prices: Prices) -> dict[str, float | int]:
    """Tokens the service counted over the analysis, and what they cost at these prices."""
    totals = {c: int(usage[c].sum()) if not usage.empty else 0 for c in USAGE_COLUMNS[1:5]}
    cost = prices.cost(totals["prompt_tokens"], totals["completion_tokens"])
    return {**totals, "requests": len(usage), "cost_usd": round(cost, 6)}


def _broke_rules(valid) -> bool:
    return not pd.isna(valid) and not bool(valid)


def shown_value(question: Question, number, text) -> object:
    """An answer as a cell: yes/no/the choice/the text, the number, or None for cannot tell."""
    if question.type in ("yes_no", "choice", "text") or pd.isna(number):
        return None if text is None or (not isinstance(text, str) and pd.isna(text)) else text
    value = float(number)
    return int(value) if question.type in ("count", "score") and value.is_integer() else value


def answers_table(questions: tuple[Question, ...], frames: pd.DataFrame,
                  answers: pd.DataFrame, model: pd.DataFrame | None = None,
                  reviews: pd.DataFrame | None = None) -> pd.DataFrame:
    """answers.csv: one row per analysed frame, frame_index, timestamp_s, one column per
    question named by its key, and `invalid` listing the keys whose answers broke the rules.
    Given the model's answers and the reviews in force, each key's column holds the answer in
    force, followed by KEY_model (the model's) and KEY_reviewed_by (who reviewed it)."""
    keys = [q.key for q in questions]
    by_key = {q.key: q for q in questions}
    analysed = frames[frames["remote_analysed"].fillna(False).astype(bool)]
    table = pd.DataFrame({"frame_index": analysed["frame_index"].astype(int).to_numpy(),
                          "timestamp_s": analysed["timestamp_s"].astype(float).to_numpy()})
    cells: dict[tuple[int, str], object] = {}
    invalid: dict[int, list[str]] = {}
    for frame_index, key, number, text, valid in answers.itertuples(index=False):
        if key not in by_key:
            continue
        cells[(int(frame_index), key)] = shown_value(by_key[key], number, text)
        if _broke_rules(valid):
            invalid.setdefault(int(frame_index), []).append(key)
    for key in keys:
        table[key] = pd.Series([cells.get((i, key)) for i in table["frame_index"]], dtype=object)
        if model is not None and reviews is not None:
            _add_reviewed(table, by_key[key], model, reviews)
    table["invalid"] = pd.Series([" ".join(invalid.get(i, [])) or None
                                  for i in table["frame_index"]], dtype=object)
    return table


def _add_reviewed(table: pd.DataFrame, question: Question, model: pd.DataFrame,
                  reviews: pd.DataFrame) -> None:
    """KEY_model and KEY_reviewed_by beside the answer in force."""
    key = question.key
    given = model[model["question_key"] == key]
    said = {int(f): shown_value(question, n, t)
            for f, n, t in given[["frame_index", "number", "text"]].itertuples(index=False)}
    mine = reviews[reviews["question_key"] == key]
    who = {int(f): a for f, a in mine[["frame_index", "author"]].itertuples(index=False)}
    table[f"{key}_model"] = pd.Series([said.get(i) for i in table["frame_index"]], dtype=object)
    table[f"{key}_reviewed_by"] = pd.Series([who.get(i) for i in table["frame_index"]],
                                            dtype=object)


def answer_hits(questions: tuple[Question, ...], answers: pd.DataFrame, analysis_id: str,
                thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Label hits of the answers (HIT_COLUMNS, kind "answer"): "key: yes", "key: <choice>",
    "key ≥ n" for counts and scores at or above their threshold; invalid answers make none."""
    thresholds = thresholds or {}
    rows = []
    by_key = {q.key: q for q in questions}
    for frame_index, key, number, text, valid in answers.itertuples(index=False):
        q = by_key.get(key)
        if q is None or _broke_rules(valid):
            continue
        label = None
        if q.type == "yes_no" and text == YES:
            label = f"{key}: yes"
        elif q.type == "choice" and isinstance(text, str):
            label = f"{key}: {text}"
        elif q.type in NUMERIC_TYPES and not pd.isna(number):
            limit = thresholds.get(key, DEFAULT_THRESHOLDS.get(q.type))
            if limit is not None and float(number) >= limit:  # a number: only when asked
                label = f"{key} ≥ {limit:g}"
        if label is not None:
            rows.append((analysis_id, ANSWER_KIND, label, int(frame_index), None))
    return pd.DataFrame(rows, columns=HIT_COLUMNS)


def answer_segments(questions: tuple[Question, ...], frames: pd.DataFrame,
                    answers: pd.DataFrame, thresholds: Mapping[str, float] | None = None
                    ) -> pd.DataFrame:
    """Runs of the same answer over consecutive analysed frames, as label segments."""
    if frames.empty:
        return merge_runs(pd.DataFrame(columns=HIT_COLUMNS), frames)
    analysis_id = str(frames["analysis_id"].iloc[0])
    hits = answer_hits(questions, answers, analysis_id, thresholds)
    return merge_runs(hits, positions(frames, remote_only=True))


# --- what the exports add for an Azure OpenAI analysis ------------------------------------------


@dataclass(frozen=True)
class Answered:
    """An analysis's questions, answers and token counts, with the prices its cost is taken at:
    what answers.csv and the insights JSON add for an Azure OpenAI analysis."""

    questions: tuple[Question, ...]
    answers: pd.DataFrame  # ANSWER_COLUMNS, the answers in force
    usage: pd.DataFrame  # USAGE_COLUMNS
    prices: Prices | None  # None: the cost is not known here
    model: pd.DataFrame | None = None  # ANSWER_COLUMNS as the model gave them
    reviews: pd.DataFrame | None = None  # corrections in force (services/review/corrections.py)

    def table(self, frames: pd.DataFrame) -> pd.DataFrame:
        """answers.csv's table: with the reviews, each answer in force beside the model's."""
        return answers_table(self.questions, frames, self.answers, self.model, self.reviews)


def load_answered(engine: Engine, analysis_id: str, prices: Prices | None) -> Answered | None:
    """The analysis's questions, answers and usage; None when it asked no questions."""
    questions = load_questions(engine, analysis_id)
    if not questions:
        return None
    model, reviews = load_model_answers(engine, analysis_id), load_reviews(engine, analysis_id)
    return Answered(questions, in_force(model, reviews), load_usage(engine, analysis_id), prices,
                    model, reviews)


def question_summary(question: Question, answers: pd.DataFrame) -> dict[str, object]:
    """Frames answered, cannot tell and invalid; the share of yes, the mean of the numbers or
    the frames per choice, over the answers that kept the rules and said something."""
    broke = answers["valid"].map(_broke_rules).astype(bool)
    kept = answers[~broke]
    said = kept[kept["number"].notna() | kept["text"].notna()]
    summary: dict[str, object] = {"frames_answered": len(said),
                                  "frames_cannot_tell": len(kept) - len(said),
                                  "frames_invalid": int(broke.sum())}
    if question.type == "yes_no":
        summary["share_yes"] = round(float((said["text"] == YES).mean()), 6) if len(said) \
            else None
    elif question.type == "choice":
        summary["frames_per_choice"] = {c: int((said["text"] == c).sum())
                                        for c in question.choices}
    elif question.type != "text":
        summary["mean"] = round(float(said["number"].astype(float).mean()), 6) if len(said) \
            else None
    return summary


def questions_document(answered: Answered) -> list[dict[str, object]]:
    """The insights JSON's "questions": each question as asked, with its summary."""
    answers = answered.answers
    agreed = {} if answered.model is None or answered.reviews is None else agreement(
        answered.questions, answered.model, answered.reviews)
    return [{"key": q.key, "text": q.text, "type": q.type, "choices": list(q.choices),
             "summary": question_summary(q, answers[answers["question_key"] == q.key]),
             **agreed.get(q.key, {"reviewed": 0, "agreed": 0})}
            for q in answered.questions]


def usage_document(answered: Answered, estimated_cost: float) -> dict[str, object]:
    """The insights JSON's "usage": the tokens the service counted, their cost at the prices
    given (null without them), the prices, the estimate made before the run and the models that
    answered."""
    models = sorted({str(m) for m in answered.usage["model"] if isinstance(m, str) and m})
    prices = answered.prices
    totals = usage_totals(answered.usage, prices or Prices(0.0, 0.0))
    return {**totals, "cost_usd": totals["cost_usd"] if prices else None,
            "estimated_cost_usd": estimated_cost,
            "input_price_per_million": prices.input_per_million if prices else None,
            "output_price_per_million": prices.output_per_million if prices else None,
            "models": models}
