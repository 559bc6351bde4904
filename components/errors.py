"""A database error on a page: one line naming what failed, never SQL, parameters or rows."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from components.text import escape_markdown
from services.db import DatabaseError, database_error

log = logging.getLogger(__name__)


@contextmanager
def database_errors_ui(doing: str) -> Iterator[None]:
    """Context manager or decorator: a database error shows one line and ends the run."""
    try:
        yield
    except (DatabaseError, SQLAlchemyError) as exc:
        error = exc if isinstance(exc, DatabaseError) else database_error(exc, doing)
        log.warning("%s", error)  # the statement stays out of the log too
        st.error(f"{escape_markdown(error, 400)}. Reload the page in a moment; if it happens "
                 "again, check the database at DATABASE_URL and its permissions.")
        st.stop()
