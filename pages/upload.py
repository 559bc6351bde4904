"""Upload page: store a video, choose how to analyse it, see the cost, queue the analysis."""

from __future__ import annotations

import streamlit as st

from components.auth import current_user
from components.context import get_services, route_through_app
from components.data import cached_frames, unregistered
from components.text import escape_markdown
from components.upload import estimate_ui, options_ui, stored_video_ui, video_summary_ui
from services.analysis.estimate import estimate
from services.analysis.jobs import queue_analysis
from services.ingest import VIDEO_SUFFIXES, ingest_video, register_stored_video
from services.library import get_video, video_info
from services.storage.base import StorageError
from services.video.probe import VideoError


def _forget_current_video() -> None:
    # A new or removed file replaces whatever video the form was showing.
    st.session_state.pop("current_video_id", None)
    st.session_state.pop("queued_analysis_id", None)


route_through_app()
services = get_services()
settings = services.settings
user = current_user()

st.title("Upload a video")
uploaded = st.file_uploader(
    "Video file",
    type=[s.lstrip(".") for s in VIDEO_SUFFIXES],
    max_upload_size=settings.max_upload_mb,
    on_change=_forget_current_video,
    help=f"Up to {settings.max_upload_mb:,} MB (FRAMEWISE_MAX_UPLOAD_MB).",
)
# Each uploaded file is ingested once per session (keyed by file_id), not on every rerun.
ingested: dict[str, str | None] = st.session_state.setdefault("ingested", {})
if uploaded is not None and uploaded.file_id not in ingested:
    try:
        with st.spinner("Storing and probing the video…"):
            added = ingest_video(services.engine, services.store, uploaded, filename=uploaded.name,
                                 uploaded_by=user, size=uploaded.size,
                                 max_bytes=settings.max_upload_mb * 1024 * 1024)
        ingested[uploaded.file_id] = None
        st.session_state["current_video_id"] = added.id
    except (VideoError, StorageError) as exc:
        ingested[uploaded.file_id] = str(exc)
if uploaded is not None and (error := ingested.get(uploaded.file_id)):
    st.error(escape_markdown(error, 600))

with st.expander("Analyse a video already in storage"):
    where = f"{settings.storage_account_url or settings.data_dir}/{settings.storage_container}"
    if key := stored_video_ui(unregistered(services, where)):
        try:
            with st.spinner("Probing the stored video…"):
                stored = register_stored_video(services.engine, services.store, key, user)
            unregistered.clear()
            st.session_state["current_video_id"] = stored.id
            st.session_state.pop("queued_analysis_id", None)
        except (VideoError, StorageError) as exc:
            st.error(escape_markdown(exc, 600))

video_id = st.session_state.get("current_video_id")
video = get_video(services.engine, video_id) if video_id else None

if video is not None:
    st.divider()
    video_summary_ui(video)
    st.subheader("How to analyse it")
    options = options_ui(settings, video)
    plan = estimate(
        video_info(video), fps=options.fps, max_frames=options.max_frames,
        analyzer=options.analyzer, price_per_1000=settings.vision_price_per_1000,
        adaptive=options.adaptive,
        cached=(cached_frames(services, video.sha256, tuple(options.features))
                if options.analyzer == "azure" and options.features else 0),
    )
    estimate_ui(plan, options, settings.vision_price_per_1000)
    no_features = options.analyzer == "azure" and not options.features
    if no_features:
        st.warning("Choose at least one Azure feature.")
    if st.button("Queue analysis", type="primary", disabled=no_features or plan.frames == 0):
        analysis = queue_analysis(
            services.engine, video_id=video.id, analyzer=options.analyzer, created_by=user,
            sample_fps=options.fps, max_frames=options.max_frames, frames_planned=plan.frames,
            features=options.features, adaptive=options.adaptive, estimated_cost=plan.cost,
        )
        st.session_state["queued_analysis_id"] = analysis.id
elif uploaded is None:
    st.info("Choose a video file to start. It is stored under a generated name, probed, and "
            "then you choose how to analyse it.")

if queued := st.session_state.get("queued_analysis_id"):
    st.success("Analysis queued: the results page fills in as frames are analysed.")
    st.page_link("pages/results.py", label="Open the results", icon=":material/monitoring:",
                 query_params={"analysis": queued})
