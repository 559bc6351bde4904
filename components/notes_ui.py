"""The results page's notes: add one at the selected moment, the list with author and time, each
with its share link (the one opened from a link highlighted), the author's edit and delete, and
the notes as marks on the time charts. Components draw and return what the analyst asked
(services.review.actions); the page does it."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from components.formatting import clock
from components.share import results_link
from components.state_keys import keep_asked, take_asked, time_key
from components.text import escape_markdown, one_line
from services.review.actions import AddNote, DeleteNote, EditNote, ReviewAction
from services.review.models import MAX_NOTE
from services.review.notes import NoteChange, NoteView

NOTE_COLOUR = "#ff8c00"
NO_TOPIC = "(the moment)"


def note_marks(notes: list[NoteView], end: float) -> alt.Chart | None:
    """A mark per note on a time chart (0 to `end` s), its text in the tooltip."""
    if not notes:
        return None
    data = pd.DataFrame({"timestamp_s": [n.at_s for n in notes],
                         "note": [one_line(n.text, 120) for n in notes],
                         "author": [one_line(n.author, 80) for n in notes]})
    return (alt.Chart(data).mark_rule(color=NOTE_COLOUR, strokeWidth=2, strokeDash=[2, 2])
            .encode(x=alt.X("timestamp_s:Q", scale=alt.Scale(domain=[0, end], nice=False),
                            title=None),
                    tooltip=[alt.Tooltip("timestamp_s:Q", title="note at (s)", format=".2f"),
                             alt.Tooltip("author:N"), alt.Tooltip("note:N")]))


def with_notes(chart: alt.LayerChart, notes: list[NoteView], end: float) -> alt.LayerChart:
    """The chart with the notes' marks layered over it."""
    marks = note_marks(notes, end)
    if marks is None:
        return chart
    marked = chart.copy()  # keeps its height and title
    marked.layer = [*chart.layer, marks]
    return marked


def _topic(about: str | None) -> str | None:
    return None if about in (None, NO_TOPIC) else about


def _keep_note(analysis_id: str, t: float) -> None:
    keep_asked(analysis_id, AddNote(t, st.session_state.get(f"note_text_{analysis_id}") or "",
                               _topic(st.session_state.get(f"note_about_{analysis_id}"))))


def _keep_edit(note: NoteView) -> None:
    keep_asked(note.analysis_id, EditNote(
        note.id, st.session_state.get(f"note_edit_text_{note.id}") or "",
        _topic(st.session_state.get(f"note_edit_about_{note.id}"))))


def add_note_ui(analysis_id: str, t: float, topics: list[str]) -> ReviewAction | None:
    """A note at the selected moment, optionally about a question or a label."""
    with st.form(f"add_note_{analysis_id}", clear_on_submit=True, border=False):
        st.text_area(f"Note at {clock(t)}", max_chars=MAX_NOTE, height=80,
                     placeholder="What the others should see at this moment",
                     key=f"note_text_{analysis_id}")
        st.selectbox("About", [NO_TOPIC, *topics], key=f"note_about_{analysis_id}")
        st.form_submit_button("Add note", icon=":material/add_comment:", on_click=_keep_note,
                              args=(analysis_id, t))
    return take_asked(analysis_id)


def _go_to(analysis_id: str, at_s: float) -> None:
    # The slider moves to the frame nearest the note on the next run (results_ui.time_ui).
    st.session_state[time_key(analysis_id)] = at_s


def _note_ui(note: NoteView, user: str, link: str, highlighted: bool, topics: list[str],
             history: list[NoteChange]) -> None:
    edited = f" · edited {note.updated_at:%Y-%m-%d %H:%M} UTC" if note.edited else ""
    about = f" · about {escape_markdown(note.about, 100)}" if note.about else ""
    head = (f"**{clock(note.at_s)}** · {escape_markdown(note.author, 100)} · "
            f"{note.created_at:%Y-%m-%d %H:%M} UTC{edited}{about}")
    if highlighted:
        head = f":orange-badge[Linked note] {head}"
    st.markdown(head)
    st.markdown(escape_markdown(note.text, MAX_NOTE))
    if history:
        with st.expander(f"Earlier versions ({len(history)})"):
            for change in reversed(history):  # the latest first, as the note reads now
                about = f" · about {escape_markdown(change.about, 100)}" if change.about else ""
                st.caption(f"Before {escape_markdown(change.author, 100)}'s edit of "
                           f"{change.at:%Y-%m-%d %H:%M} UTC{about}")
                st.markdown(escape_markdown(change.text, MAX_NOTE))
    go, share, *mine = st.columns([1, 4, 1, 1] if note.author == user else [1, 5])
    go.button("Go to", key=f"note_go_{note.id}", icon=":material/my_location:",
              on_click=_go_to, args=(note.analysis_id, note.at_s))
    share.code(link, language=None, wrap_lines=True)
    if not mine:
        return
    with mine[0].popover("Edit", icon=":material/edit:"):
        with st.form(f"note_edit_{note.id}", border=False):
            st.text_area("Note", value=note.text, max_chars=MAX_NOTE,
                         key=f"note_edit_text_{note.id}")
            choices = [NO_TOPIC, *dict.fromkeys([*topics, *([note.about] if note.about else [])])]
            st.selectbox("About", choices, index=choices.index(note.about or NO_TOPIC),
                         key=f"note_edit_about_{note.id}")
            st.form_submit_button("Save", on_click=_keep_edit, args=(note,))
    mine[1].button("Delete", key=f"note_delete_{note.id}", icon=":material/delete:",
                   on_click=keep_asked, args=(note.analysis_id, DeleteNote(note.id)))


def notes_ui(notes: list[NoteView], user: str, public_url: str, highlighted: int | None,
             topics: list[str], histories: dict[int, list[NoteChange]]) -> ReviewAction | None:
    """Every note in time order with its author, time, link and earlier versions; the author's
    edit and delete."""
    if not notes:
        st.caption("No notes yet. Notes are shared: everyone who opens this analysis sees them.")
        return None
    if highlighted is not None and all(n.id != highlighted for n in notes):
        st.info("The note this link points to was deleted.")
    for note in notes:
        link = results_link(public_url, note.analysis_id, note.at_s, note=note.id)
        with st.container(border=True):
            _note_ui(note, user, link, note.id == highlighted, topics,
                     histories.get(note.id, []))
    return take_asked(notes[0].analysis_id)
