"""The analysts' own questions about each frame: a question set is data, checked here.

A question has a stable key (given, or made from its text), its text and a type. Every type has
an explicit "cannot tell" answer, so a model is never forced to guess: `cannot_tell` for yes/no
and choices, null for numbers and text. The same rules give the model its JSON schema (Azure's
strict subset: every property required, no additional properties, no minimum or maximum) and
check what it answered: an answer out of range is kept as given and marked invalid, never fixed.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

QuestionType = Literal["yes_no", "count", "choice", "score", "number", "text"]
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)
TYPE_LABELS = {"yes_no": "Yes / no", "count": "Count (0 or more)", "choice": "One of a list",
               "score": "Score 0 to 10", "number": "Number", "text": "Short text"}
CANNOT_TELL = "cannot_tell"
YES, NO = "yes", "no"
SCORE_MAX = 10
MAX_QUESTIONS = 20  # the schema holds at most 100 properties; a prompt stays short
MAX_TEXT = 300  # characters of a question
MAX_KEY = 40
MAX_CHOICES = 20
MAX_ANSWER_TEXT = 500  # characters of a text answer kept (the column's length)
_KEY = re.compile(rf"^[a-z][a-z0-9_]{{0,{MAX_KEY - 1}}}$")
RESERVED_KEYS = frozenset({"frame_index", "timestamp_s"})  # columns of answers.csv


class QuestionError(ValueError):
    """A question set that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    type: QuestionType
    choices: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "text": self.text, "type": self.type}
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@dataclass(frozen=True)
class Answer:
    """One question's answer on one frame: a number and/or a text as the model gave it.

    Cannot tell: both None. yes/no: the text and 1 or 0. A choice: its text. Numbers: the number.
    `valid` is False when the answer breaks the question's rules (kept as given, shown as such).
    """

    key: str
    number: float | None
    text: str | None
    valid: bool = True

    @property
    def cannot_tell(self) -> bool:
        return self.valid and self.number is None and self.text is None


def make_key(text: str) -> str:
    """A key from a question's text: ASCII letters, digits and underscores, starting a letter."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    key = "_".join(words)[:MAX_KEY].rstrip("_") or "question"
    return key if key[0].isalpha() else f"q_{key}"[:MAX_KEY]


def _one(item: Any, position: int, taken: set[str], given_keys: set[str]) -> Question:
    """One checked question; `taken`: keys of the questions before it; `given_keys`: every key
    the set gives explicitly (a key made from a text takes none of them)."""
    where = f"question {position}"
    if not isinstance(item, Mapping):
        raise QuestionError(f"{where} must be an object with key, text, type and choices")
    unknown = set(item) - {"key", "text", "type", "choices"}
    if unknown:
        raise QuestionError(f"{where} has unknown fields: {', '.join(sorted(map(str, unknown)))}")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise QuestionError(f"{where} has no text")
    text = " ".join(text.split())
    if len(text) > MAX_TEXT:
        raise QuestionError(f"{where} is longer than {MAX_TEXT} characters")
    kind = item.get("type")
    if kind not in QUESTION_TYPES:
        raise QuestionError(f"{where} has type {str(kind)[:30]!r}; use one of "
                            + ", ".join(QUESTION_TYPES))
    key = item.get("key")
    if key in (None, ""):
        key = make_key(text)
        base, n = key, 2
        while key in taken or key in given_keys or key in RESERVED_KEYS:
            key = f"{base[:MAX_KEY - 1 - len(str(n))]}_{n}"
            n += 1
    elif not isinstance(key, str) or not _KEY.match(key):
        raise QuestionError(f"{where} has key {str(key)[:50]!r}: use lower-case letters, digits "
                            f"and _, starting with a letter, at most {MAX_KEY} characters")
    if key in taken:
        raise QuestionError(f"{where} repeats the key {key!r}")
    if key in RESERVED_KEYS:
        raise QuestionError(f"{where} has the key {key!r}, which the answers table uses already")
    return Question(key, text, kind, _choices(item.get("choices"), kind, where))


def _choices(raw: Any, kind: str, where: str) -> tuple[str, ...]:
    if kind != "choice":
        if raw not in (None, [], ""):
            raise QuestionError(f"{where} lists choices, but only a choice question has them")
        return ()
    if isinstance(raw, str):  # "standing / sitting / bending", as typed into a table cell
        raw = re.split(r"\s*[/,;|]\s*", raw)
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise QuestionError(f"{where} needs its choices as a list of words")
    choices = tuple(dict.fromkeys(" ".join(c.split()) for c in raw if c.strip()))
    if len(choices) < 2 or len(choices) > MAX_CHOICES:
        raise QuestionError(f"{where} needs 2 to {MAX_CHOICES} different choices")
    if CANNOT_TELL in choices or any(len(c) > 100 for c in choices):
        raise QuestionError(f"{where} has a choice that is reserved or longer than 100 "
                            "characters")
    return choices


def parse_questions(items: Iterable[Any]) -> tuple[Question, ...]:
    """Check a question set (a list of {key, text, type, choices}); raises QuestionError."""
    if isinstance(items, (str, bytes, Mapping)):
        raise QuestionError("the questions must be a list of objects")
    given = list(items)
    given_keys = {str(i["key"]) for i in given if isinstance(i, Mapping) and i.get("key")}
    questions: list[Question] = []
    taken: set[str] = set()
    for position, item in enumerate(given, start=1):
        question = _one(item, position, taken, given_keys)
        taken.add(question.key)
        questions.append(question)
    if not questions:
        raise QuestionError("there are no questions")
    if len(questions) > MAX_QUESTIONS:
        raise QuestionError(f"there are {len(questions)} questions; at most {MAX_QUESTIONS}")
    return tuple(questions)


def load_questions_file(path: str | Path) -> tuple[Question, ...]:
    """Questions from a JSON file: a list of objects with key, text, type and choices."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise QuestionError(f"cannot read the questions file: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise QuestionError(f"the questions file is not JSON ({exc})".splitlines()[0]) from None
    return parse_questions(data)


def questions_to_json(questions: Iterable[Question]) -> str:
    """The canonical text of a question set (stored with the analysis; the cache key uses it)."""
    return json.dumps([q.as_dict() for q in questions], ensure_ascii=False,
                      separators=(",", ":"))


def questions_from_json(text: str | None) -> tuple[Question, ...]:
    return parse_questions(json.loads(text)) if text else ()


# --- what the model is asked, and what it answered ----------------------------------------------


def _property(q: Question) -> dict[str, Any]:
    """The JSON schema of one answer: strict mode has no ranges, so they are described."""
    if q.type == "yes_no":
        return {"type": "string", "enum": [YES, NO, CANNOT_TELL]}
    if q.type == "choice":
        return {"type": "string", "enum": [*q.choices, CANNOT_TELL]}
    if q.type == "count":
        return {"type": ["integer", "null"], "description": "0 or more; null if you cannot tell"}
    if q.type == "score":
        return {"type": ["integer", "null"],
                "description": f"0 to {SCORE_MAX}; null if you cannot tell"}
    if q.type == "number":
        return {"type": ["number", "null"], "description": "null if you cannot tell"}
    return {"type": ["string", "null"], "description": "a few words; null if you cannot tell"}


def response_schema(questions: Iterable[Question], *, caption: bool = False,
                    tags: bool = False) -> dict[str, Any]:
    """The strict JSON schema of one frame's answer: every property required, nothing more."""
    questions = tuple(questions)
    answers = {"type": "object", "properties": {q.key: _property(q) for q in questions},
               "required": [q.key for q in questions], "additionalProperties": False}
    properties: dict[str, Any] = {"answers": answers}
    if caption:
        properties["caption"] = {"type": "string", "description": "one sentence"}
    if tags:
        properties["tags"] = {"type": "array", "items": {"type": "string"},
                              "description": "up to 10 single words or short nouns"}
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def questions_prompt(questions: Iterable[Question]) -> str:
    """The questions as the model reads them, one per line with its key and rules."""
    lines = []
    for q in questions:
        rule = {"yes_no": "answer yes or no", "count": "a whole number, 0 or more",
                "choice": "one of: " + ", ".join(q.choices), "number": "a number",
                "score": f"a whole number from 0 to {SCORE_MAX}", "text": "a few words"}[q.type]
        lines.append(f"- {q.key}: {q.text} ({rule})")
    return "\n".join(lines)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def check_answer(q: Question, value: Any) -> Answer:
    """The model's value for one question as an Answer; out-of-range values are marked invalid."""
    if value is None or value == CANNOT_TELL:
        return Answer(q.key, None, None)
    if q.type in ("yes_no", "choice", "text"):
        if not isinstance(value, str):
            return Answer(q.key, None, str(value)[:MAX_ANSWER_TEXT], valid=False)
        if q.type == "text":
            return Answer(q.key, None, value[:MAX_ANSWER_TEXT])
        if q.type == "yes_no":
            valid = value in (YES, NO)
            return Answer(q.key, (1.0 if value == YES else 0.0) if valid else None,
                          value[:MAX_ANSWER_TEXT], valid)
        return Answer(q.key, None, value[:MAX_ANSWER_TEXT], value in q.choices)
    number = _number(value)
    if number is None:
        return Answer(q.key, None, str(value)[:MAX_ANSWER_TEXT], valid=False)
    whole = number.is_integer()
    valid = {"count": whole and number >= 0,
             "score": whole and 0 <= number <= SCORE_MAX}.get(q.type, True)
    return Answer(q.key, number, None, valid)


def check_answers(questions: Iterable[Question], values: Mapping[str, Any]) -> list[Answer]:
    """Every question's answer; a question the model left out is invalid (no value)."""
    return [check_answer(q, values[q.key]) if q.key in values
            else Answer(q.key, None, None, valid=False) for q in questions]
