"""Share links: the public base URL plus the results page path and its query parameters."""

from __future__ import annotations

from urllib.parse import urlencode

RESULTS_PATH = "results"


def format_seconds(t: float) -> str:
    """Seconds as a short, stable query value: 12.5 -> '12.5', 3.0 -> '3'."""
    return f"{round(float(t), 2):g}"


def results_query(analysis_id: str, t: float | None = None) -> dict[str, str]:
    """Query parameters of the results page for one analysis at one moment."""
    query = {"analysis": analysis_id}
    if t is not None:
        query["t"] = format_seconds(t)
    return query


def share_link(public_url: str, analysis_id: str, t: float | None = None) -> str:
    """The URL an analyst pastes to a colleague: <public_url>/results?analysis=<id>&t=<s>."""
    base = public_url.rstrip("/")
    return f"{base}/{RESULTS_PATH}?{urlencode(results_query(analysis_id, t))}"


def parse_seconds(raw: str | None) -> float | None:
    """A t query value as seconds, or None when missing or not a finite, non-negative number."""
    try:
        value = float(raw) if raw not in (None, "") else None
    except ValueError:
        return None
    if value is None or value != value or value in (float("inf"), float("-inf")) or value < 0:
        return None
    return value
