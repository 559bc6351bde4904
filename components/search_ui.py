"""Search page pieces: the query controls (kept in the URL) and one result card per segment."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from components.formatting import clock
from components.share import mirror, restore
from components.text import escape_markdown
from components.timeline import kind_noun
from services.domain import SEARCH_KINDS, LabelKind
from services.insights.links import format_confidence, parse_confidence
from services.insights.media import Media
from services.insights.search import SearchResult

LIMITS = (10, 25, 50, 100, 200)


@dataclass(frozen=True)
class SearchControls:
    query: str
    kinds: tuple[str, ...]
    min_confidence: float
    limit: int


def _kinds(raw: str | None) -> list[LabelKind] | None:
    chosen = [LabelKind(k) for k in (raw or "").split(",") if k in SEARCH_KINDS]
    return chosen or None


def controls_ui(default_confidence: float) -> SearchControls:
    """The query, kinds, minimum confidence and limit; each mirrored in the URL (?q=&kind=...)."""
    restore("search_q", "q", lambda raw: raw, "")
    restore("search_kinds", "kind", _kinds, list(SEARCH_KINDS))
    restore("search_conf", "conf", parse_confidence, float(default_confidence))
    restore("search_limit", "limit", lambda raw: next((n for n in LIMITS if str(n) == raw), None),
            50)
    query = st.text_input("Find", key="search_q",
                          placeholder="A label, words of text in the picture, part of a caption")
    left, middle, right = st.columns([3, 2, 1])
    kinds = left.multiselect("In", SEARCH_KINDS, key="search_kinds",
                             format_func=kind_noun)
    conf = middle.slider("Minimum confidence", 0.0, 1.0, step=0.05, key="search_conf")
    limit = right.selectbox("At most", LIMITS, key="search_limit")
    mirror("q", query.strip())
    mirror("kind", ",".join(kinds) if set(kinds) != set(SEARCH_KINDS) else None)
    mirror("conf", format_confidence(conf))
    mirror("limit", str(limit) if limit != 50 else None)
    return SearchControls(query.strip(), tuple(kinds), float(conf), int(limit))


def result_ui(result: SearchResult, thumb: Media) -> None:
    """One segment: its first frame, where and what it is, and a link to that moment."""
    with st.container(border=True):
        image, text = st.columns([1, 4], vertical_alignment="center")
        if isinstance(thumb.content, bytes):
            image.image(thumb.content, width="stretch")
        else:
            image.caption("No thumbnail")
        conf = ("" if result.max_confidence is None
                else f" · max confidence {result.max_confidence:.2f}")
        frames = f"{result.frames} frame{'s' if result.frames != 1 else ''}"
        what = kind_noun(result.kind)
        if result.author is not None:  # a note: its author instead of a run of frames
            what = f"{what} by {escape_markdown(result.author, 120)}"
        text.markdown(f"**{escape_markdown(result.label, 200)}**  \n{what} in "
                      f"{escape_markdown(result.video, 120)}")
        where = (clock(result.start_s) if result.author is not None
                 else f"{clock(result.start_s)} to {clock(result.end_s)} · {frames}")
        text.caption(f"{where}{conf} · "
                     f"analysis {result.analysis_id[:8]} of "
                     f"{result.created_at:%Y-%m-%d %H:%M} UTC")
        text.link_button(f"Open at {clock(result.start_s)}", result.link,
                         icon=":material/open_in_new:")
