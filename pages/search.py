"""Search page, /search?q=<words>: every analysis's labels, OCR text and captions, as segments."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.search_ui import controls_ui, result_ui
from server.context import get_services
from services.insights import media
from services.insights.search import search

services = get_services()

st.title("Search")
st.caption("Finds labels, text in the picture (OCR), captions, answers and analysts' notes in "
           "every analysis, ignoring case. Each result is a segment (consecutive frames showing "
           "it at the minimum confidence) or a note at its moment. Newest analyses first.")
controls = controls_ui(services.settings.min_confidence)
if not controls.query:
    st.info("Type a word to find, for example a tag such as “person” or words of a sign.")
    st.stop()
if not controls.kinds:
    st.info("Choose at least one kind to search in.")
    st.stop()

try:
    found = search(services.engine, controls.query, public_url=services.settings.public_url,
                   min_confidence=controls.min_confidence, kinds=controls.kinds,
                   limit=controls.limit)
except SQLAlchemyError as exc:  # one line naming what failed: never the SQL or its parameters
    st.error(f"The database did not answer the search ({type(exc).__name__}). Try again in a "
             "moment; if it keeps failing, check the DATABASE_URL setting.")
    st.stop()
if not found:
    st.info("Nothing found. Try fewer letters, more kinds or a lower minimum confidence.")
    st.stop()
more = " (the first ones: raise “At most” for more)" if len(found) == controls.limit else ""
st.caption(f"{len(found)} segment{'s' if len(found) != 1 else ''}{more}")
for result in found:
    result_ui(result, media.thumbnail(services.store, result.thumbnail_key))
