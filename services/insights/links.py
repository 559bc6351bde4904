"""Links to the results page: the public base URL, the page path and the view in the query.

`/results?analysis=<id>&t=<seconds>&conf=<minimum confidence>&label=<kind>:<label>&note=<id>`:
the moment, the confidence filter, the selected label and the note to highlight ride in the link,
so whoever opens it sees the same view. Pure functions, shared by the pages and the CLI (search
results carry such links).
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

RESULTS_PATH = "results"
LABEL_SEPARATOR = ":"


def format_seconds(t: float) -> str:
    """Seconds as a short, stable query value: 12.5 -> '12.5', 3.0 -> '3'."""
    return f"{round(float(t), 2):g}"


def format_confidence(value: float) -> str:
    return f"{round(float(value), 2):g}"


def label_key(kind: str, label: str) -> str:
    """One value naming a label of one kind: 'tag:person', 'text_line:EXIT 12'."""
    return f"{kind}{LABEL_SEPARATOR}{label}"


def parse_label_key(raw: str | None) -> tuple[str, str] | None:
    """(kind, label) from a label_key value, or None when it is missing or malformed."""
    if not raw or LABEL_SEPARATOR not in raw:
        return None
    kind, label = raw.split(LABEL_SEPARATOR, 1)
    return (kind, label) if kind and label else None


def results_query(analysis_id: str, t: float | None = None, *, confidence: float | None = None,
                  label: str | None = None, note: int | None = None) -> dict[str, str]:
    """Query parameters of the results page for one analysis, moment and view."""
    query = {"analysis": analysis_id}
    if t is not None:
        query["t"] = format_seconds(t)
    if confidence is not None:
        query["conf"] = format_confidence(confidence)
    if label:
        query["label"] = label
    if note is not None:
        query["note"] = str(int(note))
    return query


def results_link(public_url: str, analysis_id: str, t: float | None = None, *,
                 confidence: float | None = None, label: str | None = None,
                 note: int | None = None) -> str:
    """The URL an analyst pastes to a colleague: <public_url>/results?analysis=<id>&t=<s>..."""
    base = public_url.rstrip("/")
    query = results_query(analysis_id, t, confidence=confidence, label=label, note=note)
    return f"{base}/{RESULTS_PATH}?{urlencode(query)}"


def parse_seconds(raw: str | None) -> float | None:
    """A t query value as seconds, or None when missing or not a finite, non-negative number."""
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return value


def parse_note(raw: str | None) -> int | None:
    """A note query value as a note id, or None when missing or not a whole number."""
    return int(raw) if raw and raw.isdigit() and len(raw) < 19 else None


def parse_confidence(raw: str | None) -> float | None:
    """A conf query value in [0, 1], or None when missing or out of range."""
    value = parse_seconds(raw)
    return value if value is not None and value <= 1 else None
