"""Upload page: store a video, choose how to analyse it, see the cost, queue the analysis."""

from __future__ import annotations

import streamlit as st

from components.auth import current_user
from components.data import cached_frames, shot_scan, unregistered
from components.navigation import page_file
from components.questions_ui import questions_ui
from components.text import escape_markdown
from components.upload import (
    estimate_ui,
    options_ui,
    shot_plan_ui,
    stored_video_ui,
    video_summary_ui,
)
from components.upload_widget import page_session_id, upload_widget_ui
from server.context import get_services
from server.uploads import DESK
from services.analysis.estimate import estimate
from services.analysis.jobs import queue_analysis
from services.analysis.shot_sampling import mean_rate
from services.analysis.shot_sampling import plan as plan_shots
from services.library import get_video, video_info
from services.question_sets import list_question_sets, save_question_set
from services.questions import QuestionError
from services.storage.base import StorageError
from services.upload.ingest import VIDEO_SUFFIXES, check_upload, display_name, register_stored_video
from services.video.probe import VideoError
from services.vision.openai_results import frame_estimate, frame_prices

# This page's session state: the video shown, the analysis just queued, the last upload's error.
CURRENT_VIDEO = "current_video_id"
QUEUED_ANALYSIS = "queued_analysis_id"
UPLOAD_ERROR = "upload_error"


def _show_upload(message: str | None, video_id: str | None = None) -> None:
    # A new upload replaces the video the form showed: by itself, or by its error, which stays
    # on the page until the next upload.
    st.session_state[UPLOAD_ERROR] = message
    if message or video_id:
        st.session_state[CURRENT_VIDEO] = video_id
        st.session_state.pop(QUEUED_ANALYSIS, None)


services = get_services()
settings = services.settings
user = current_user(settings)

st.title("Upload a video")
session_id = page_session_id()
max_bytes = settings.max_upload_mb * 1024 * 1024
# A fresh single-use token each run, for this session and user only (the upload route's key).
token = DESK.mint(session_id=session_id, user=user, services=services, max_bytes=max_bytes)
event = upload_widget_ui(token=token, session_id=session_id, max_bytes=max_bytes,
                         suffixes=VIDEO_SUFFIXES)
if event is not None and event.kind == "refused":
    try:  # the browser refused it before sending: the service words why
        check_upload(event.name, size=event.size, max_bytes=max_bytes)
    except VideoError as exc:
        _show_upload(str(exc))
elif event is not None and event.kind == "failed":
    _show_upload(f"{display_name(event.name)} was not uploaded: {event.message}")
elif event is not None and event.kind == "cancelled":
    _show_upload(None)
    st.toast(f"Upload of {escape_markdown(display_name(event.name), 120)} cancelled: "
             "nothing was stored.")
for outcome in DESK.take(session_id, user):  # what the route did with this session's uploads
    _show_upload(outcome.error, outcome.video_id)
if error := st.session_state.get(UPLOAD_ERROR):
    st.error(escape_markdown(error, 600))

with st.expander("Analyse a video already in storage"):
    where = f"{settings.storage_account_url or settings.data_dir}/{settings.storage_container}"
    if key := stored_video_ui(unregistered(services, where)):
        try:
            with st.spinner("Probing the stored video…"):
                stored = register_stored_video(services.engine, services.store, key, user)
            unregistered.clear()
            st.session_state[CURRENT_VIDEO] = stored.id
            st.session_state.pop(QUEUED_ANALYSIS, None)
        except (VideoError, StorageError) as exc:
            st.error(escape_markdown(exc, 600))

video_id = st.session_state.get(CURRENT_VIDEO)
video = get_video(services.engine, video_id) if video_id else None

if video is not None:
    st.divider()
    video_summary_ui(video)
    st.subheader("How to analyse it")
    options = options_ui(settings, video)
    asked = questions_ui(list_question_sets(services.engine)) \
        if options.analyzer.asks else None
    if asked is not None and asked.save_as:
        try:
            save_question_set(services.engine, asked.save_as, asked.questions, user)
            st.toast(f"Saved the question set “{escape_markdown(asked.save_as, 100)}”.")
        except QuestionError as exc:
            st.warning(escape_markdown(exc, 300))
    features = options.features if asked is None else asked.features
    tokens = None
    if asked is not None and asked.questions:
        tokens = (frame_estimate(settings, video.width, video.height, asked.questions,
                                 caption=asked.caption, tags=asked.tags), frame_prices(settings))
    shot_plan = None
    if options.shot_every is not None:  # shots first (no cloud), then the frames they plan
        try:
            shot_plan = plan_shots(shot_scan(services, video.blob_key, video.duration_s),
                                   options.shot_every, options.max_frames)
        except VideoError as exc:
            st.error(escape_markdown(exc, 600))
    plan = estimate(
        video_info(video), fps=options.fps, max_frames=options.max_frames,
        analyzer=options.analyzer, price_per_1000=settings.vision_price_per_1000,
        adaptive=options.adaptive, tokens=tokens, shot_plan=shot_plan,
        cached=(cached_frames(services, video.sha256, tuple(options.features))
                if options.features and shot_plan is None else 0),
    )
    estimate_ui(plan, options, settings.vision_price_per_1000)
    if shot_plan is not None:
        shot_plan_ui(shot_plan)
    no_features = options.analyzer.detects and not options.features
    if no_features:
        st.warning("Choose at least one Azure feature.")
    unusable = asked is not None and asked.problem is not None
    off = not settings.analyzer_ready(options.analyzer)
    if st.button("Queue analysis", type="primary",
                 disabled=no_features or unusable or off or plan.frames == 0
                 or (options.shot_every is not None and shot_plan is None)):
        analysis = queue_analysis(
            services.engine, video_id=video.id, analyzer=options.analyzer, created_by=user,
            sample_fps=options.fps if shot_plan is None
            else mean_rate(shot_plan, video.duration_s),
            max_frames=options.max_frames, frames_planned=plan.frames,
            features=features, adaptive=options.adaptive, estimated_cost=plan.cost,
            questions=asked.questions if asked is not None else (),
            sampling_plan=shot_plan.to_json() if shot_plan is not None else None,
        )
        st.session_state[QUEUED_ANALYSIS] = analysis.id
elif not st.session_state.get(UPLOAD_ERROR):
    st.info("Choose a video file to start. It is stored under a generated name, probed, and "
            "then you choose how to analyse it.")

if queued := st.session_state.get(QUEUED_ANALYSIS):
    st.success("Analysis queued: the results page fills in as frames are analysed.")
    st.page_link(page_file("results"), label="Open the results", icon=":material/monitoring:",
                 query_params={"analysis": queued})
