"""Results page, /results?analysis=<id>&t=<seconds>: live progress, charts, viewer, exports.

While the analysis is queued or running, the body is a fragment that reruns every 2 s and draws
the frames stored so far, with a "Cancel analysis" button; when the analysis ends, it asks for
one full rerun to draw the rest. Progress is stored with each frame, in the same transaction,
so frames_done always counts the rows there are; nothing is stored after a cancel.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from components import data
from components.answers_ui import (
    answers_ui,
    frame_answers_ui,
    model_note_ui,
    thresholds_ui,
    usage_ui,
)
from components.auth import current_user
from components.azure_ui import azure_ui, detection_controls_ui
from components.charts import frame_step
from components.clip_ui import clip_ui
from components.corrections_ui import agreement_ui, answer_review_ui, detection_review_ui
from components.errors import database_errors_ui
from components.formatting import clock
from components.navigation import page_file
from components.notes_ui import add_note_ui, notes_ui
from components.results_ui import (
    downloads_ui,
    frame_at,
    play_video_ui,
    refused_ui,
    retry_ui,
    share_ui,
    statistics_ui,
    status_ui,
    summary_ui,
    time_ui,
    video_ui,
    viewer_ui,
    wait_ui,
)
from components.segments_ui import segments_ui
from components.state_keys import selected_label_key
from components.storyboard import storyboard_ui
from components.tables import frame_columns
from components.text import escape_markdown
from components.upload_widget import page_session_id
from server.clips import DESK as CLIP_DESK
from server.context import get_services
from services.analysis.jobs import cancel, get_analysis
from services.analysis.progress import analysis_wait_text
from services.analysis.retry import RetryRefused, retry_analysis
from services.insights import media
from services.insights.answers import Answered, usage_totals
from services.insights.exports import downloads
from services.insights.links import parse_note
from services.insights.results import frames_table
from services.insights.summary import summarise
from services.library import get_video
from services.models import Video
from services.question_sets import load_questions
from services.review.actions import ReviewAction, apply
from services.review.agreement import agreement_table
from services.review.base import ReviewError
from services.review.corrections import frame_detections, reviews_stamp, wrong_detections
from services.review.notes import list_notes, note_histories
from services.video.clip_desk import ClipGrant, clip_url
from services.video.clips import clip_name
from services.vision.openai_results import frame_prices

POLL_SECONDS = 2

services = get_services()
settings, engine, store = services.settings, services.engine, services.store

analysis_id = (st.query_params.get("analysis") or "").strip()
analysis = get_analysis(engine, analysis_id) if analysis_id else None
video = get_video(engine, analysis.video_id) if analysis else None
if analysis is None or video is None:
    st.title("Results")
    if analysis_id:
        st.info("There is no analysis with this id: it may have been deleted, or the link is "
                "incomplete.")
    else:
        st.info("No analysis chosen. Open one from the list of analyses.")
    st.page_link(page_file("analyses"), label="Go to Analyses", icon=":material/list:")
    st.stop()

st.title(escape_markdown(video.original_filename, 120))
st.caption(
    f"{analysis.analyzer.label} analyser · {analysis.sample_fps:g} frames per second"
    + (" · shot-aware" if analysis.sampling_plan else "")
    + (" · adaptive" if analysis.adaptive else "")
    + f" · video {clock(video.duration_s)} · created by {escape_markdown(analysis.created_by)}"
    f" on {analysis.created_at:%Y-%m-%d %H:%M} UTC"
)
remote = analysis.analyzer.cloud  # its frames have detections and captions
# Only Azure AI Vision gives confidences; a model's tags and captions carry none.
min_confidence, kinds = (
    detection_controls_ui(settings.min_confidence, analysis.id)
    if analysis.analyzer.detects else (settings.min_confidence, [])
)
questions = load_questions(engine, analysis.id)
was_finished = analysis.status.finished
user = current_user(settings)  # the author of the notes and corrections made here


def review(analysis_id: str, asked: list[ReviewAction | None]) -> None:
    """Do what the review controls asked (one click at most), as the signed-in user."""
    for action in (a for a in asked if a is not None):
        try:
            st.toast(apply(engine, analysis_id, user, action), icon=":material/check:")
        except ReviewError as exc:
            st.error(escape_markdown(exc, 300))
        else:
            st.rerun()


def body(analysis_id: str, video: Video) -> None:
    """Everything drawn from the analysis's rows; a fragment while the analysis runs."""
    current = get_analysis(engine, analysis_id)
    if current is None or (not was_finished and current.status.finished):
        st.rerun()  # deleted, or just finished: redraw the whole page once
    key = current.frames_done  # the rows' cache key: frames_done counts what is stored
    reviewed = f"{key}:{reviews_stamp(engine, current.id)}"  # and the corrections made
    notes = list_notes(engine, current.id)
    asked: list[ReviewAction | None] = []
    frames = data.frames(engine, current.id, key)
    if status_ui(current, cancellable=True):
        if not cancel(engine, current.id):  # from now on the worker can store nothing more
            st.toast("The analysis had already ended.", icon=":material/info:")
        st.rerun()
    wait_ui(analysis_wait_text(current))
    if retry_ui(current):
        try:
            retry_analysis(engine, current.id)
        except RetryRefused as exc:
            st.warning(f"It cannot be retried now: {escape_markdown(exc, 200)}.")
        else:
            st.rerun()
    refused_ui(frames)
    if frames.empty:
        if not current.status.finished:
            st.caption("The first frames appear here as soon as they are analysed.")
        return
    detections = data.detections(engine, current.id, reviewed)  # less those marked wrong
    answered = Answered(questions, data.answers(engine, current.id, reviewed),
                        data.usage(engine, current.id, key), frame_prices(settings),
                        data.answers_given(engine, current.id, key),
                        data.reviews(engine, current.id, reviewed)) if questions else None
    summary_ui(current, frames, summarise(current, frames, detections, min_confidence),
               settings.vision_price_per_1000)
    shots = data.shots(engine, current.id, key, current.status.value, video.duration_s)

    t = time_ui(frames, current.id, video.duration_s)
    left, right = st.columns(2, gap="medium")
    with left:
        st.subheader("Frame")
        frame = frame_at(frames, t)
        viewer_ui(frame, media.thumbnail(store, frame["thumbnail_key"]), detections, kinds,
                  min_confidence)
        if answered is not None and answered.model is not None and answered.reviews is not None:
            frame_answers_ui(questions, answered.answers, int(frame["frame_index"]))
            asked.append(answer_review_ui(questions, answered.model, answered.reviews,
                                          int(frame["frame_index"]), t, current.id))
        if current.analyzer.detects:
            asked.append(detection_review_ui(
                frame_detections(engine, current.id, int(frame["frame_index"])),
                wrong_detections(engine, current.id), current.id, int(frame["frame_index"])))
        share_slot = st.container()  # filled once the selected label is known
        if play_video_ui(running=not current.status.finished):
            video_ui(video, media.playback(store, video.blob_key), t)
    with right:  # the analysts' questions beside the frame; else the image statistics
        if answered is not None:
            st.subheader("Answers over time")
            model_note_ui(sorted(set(answered.usage["model"].dropna())))
            answers_ui(questions, frames, answered.answers, t, video.duration_s, current.id,
                       notes, shots)
            with st.expander("Image statistics over time"):
                statistics_ui(frames, t, video.duration_s, shots, notes)
        else:
            st.subheader("Over time")
            statistics_ui(frames, t, video.duration_s, shots, notes)

    st.subheader("Notes")
    chosen = st.session_state.get(selected_label_key(current.id))  # the selected label
    topics = [q.key for q in questions] + ([chosen] if chosen else [])
    asked.append(add_note_ui(current.id, t, topics))
    asked.append(notes_ui(notes, user, settings.public_url,
                          parse_note(st.query_params.get("note")), topics,
                          note_histories(engine, current.id) if notes else {}))

    st.subheader("Storyboard")
    storyboard_ui(shots, current.id, [round(float(x), 3) for x in frames["timestamp_s"]], t,
                  partial(media.thumbnail, store))

    st.subheader("Segments")
    thresholds = thresholds_ui(questions, current.id) if questions else {}
    segs = data.segments(engine, current.id, key, min_confidence,
                         tuple(sorted(thresholds.items())))
    label = segments_ui(segs, frames, current.id, t, frame_step(frames), remote=remote,
                        duration=video.duration_s)
    with share_slot:
        share_ui(settings.public_url, current.id, t,
                 min_confidence if current.analyzer.detects else None, label)
    st.subheader("Clip")
    clip_ui(current.id, video.original_filename, t, video.duration_s, shots, segs, label,
            frame_step(frames), lambda start, end: clip_url(CLIP_DESK.mint(ClipGrant(
                page_session_id(), video.blob_key, partial(store.ffmpeg_input, video.blob_key),
                start, end, clip_name(video.original_filename, start, end)))))

    if answered is not None:
        st.subheader("Agreement with the reviews")
        if answered.model is not None and answered.reviews is not None:
            agreement_ui(agreement_table(questions, answered.model, answered.reviews))
        usage_ui(usage_totals(answered.usage, frame_prices(settings)), current.estimated_cost,
                 len(frames))
    if remote:
        azure_ui(frames, detections, min_confidence, t, current.id, current.analyzer,
                 current.parsed_features)

    st.subheader("Frames")
    st.dataframe(frames_table(frames, detections, min_confidence),
                 column_config=frame_columns(current.analyzer), hide_index=True, width="stretch",
                 height=min(320, 38 + 35 * len(frames)))  # no empty rows under a short table
    st.subheader("Downloads")
    downloads_ui(current.id, downloads(current, video, frames, detections, min_confidence,
                                       answered, notes, shots),
                 min_confidence if current.analyzer.detects else None)
    review(current.id, asked)


shown = database_errors_ui("reading the analysis's results")(body)  # also in fragment reruns
if was_finished:
    shown(analysis.id, video)
else:
    st.fragment(shown, run_every=POLL_SECONDS)(analysis.id, video)
