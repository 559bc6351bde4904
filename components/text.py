"""Show user-derived text (file names, captions, OCR, tags) as text, never as Markdown or HTML."""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping all the
# ones Markdown, GitHub extensions or Streamlit directives (:red[..], $math$) give meaning to
# turns links, images, emphasis, HTML tags and entities into the literal characters.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&=\"'^%@/])")
_SPACE = re.compile(r"\s+")


def one_line(text: object, limit: int = 500) -> str:
    """Whitespace and control characters collapsed to single spaces, at most `limit` chars."""
    raw = "" if text is None else str(text)
    raw = "".join(ch if ch.isprintable() else " " for ch in raw)
    raw = _SPACE.sub(" ", raw).strip()
    return raw if len(raw) <= limit else raw[: limit - 1] + "…"


def escape_markdown(text: object, limit: int = 500) -> str:
    """Text safe to put inside st.markdown / st.caption / st.write: shown exactly as written."""
    return _SPECIAL.sub(r"\\\1", one_line(text, limit))
