"""Upload page pieces: ingest an upload once, pick a stored video, choose how to analyse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import streamlit as st

from components.formatting import clock, file_size, money
from components.text import escape_markdown, one_line
from services.analysis.estimate import Estimate
from services.config import VISION_FEATURES, Settings
from services.context import Services
from services.library import (
    VIDEO_SUFFIXES,
    display_name,
    ingest_video,
    register_stored_video,
    unregistered_videos,
)
from services.models import Video
from services.storage.base import StorageError
from services.video.probe import VideoError

ADAPTIVE_EVERY_S = 10.0
FEATURE_NAMES = {
    "tags": "Tags", "caption": "Caption", "denseCaptions": "Dense captions",
    "objects": "Objects", "read": "Text (OCR)", "smartCrops": "Smart crops", "people": "People",
}


@dataclass(frozen=True)
class Options:
    """How the analyst wants a video analysed."""

    analyzer: str
    features: tuple[str, ...]
    fps: float
    max_frames: int | None
    adaptive: bool


def ingest_upload(
    services: Services, stream: BinaryIO, *, name: str, size: int, user: str
) -> tuple[Video | None, str | None]:
    """Store one uploaded file as a Video; returns (video, None) or (None, one-line error)."""
    limit_mb = services.settings.max_upload_mb
    shown = one_line(display_name(name), 120)
    if size > limit_mb * 1024 * 1024:
        return None, (f"{shown} is {file_size(size)}, over the {limit_mb:,} MB upload limit: "
                      "copy it into storage and use 'Analyse a video already in storage'.")
    if not name.lower().endswith(VIDEO_SUFFIXES):
        return None, f"{shown} is not a video file; choose one of {', '.join(VIDEO_SUFFIXES)}."
    if hasattr(stream, "seek"):
        stream.seek(0)
    try:
        # The UploadedFile is file-like: it is copied to the store in chunks, never as one copy.
        video = ingest_video(services.engine, services.store, stream, filename=name,
                             uploaded_by=user, max_bytes=limit_mb * 1024 * 1024)
    except VideoError as exc:
        return None, f"{shown} cannot be analysed: {one_line(exc, 300)}"
    except StorageError as exc:
        return None, f"{shown} could not be stored: {one_line(exc, 300)}"
    return video, None


def remember_upload(services: Services, uploaded, user: str) -> str | None:
    """Ingest each uploaded file once per session (keyed by file_id); returns its error, if any.

    A successful upload becomes the session's current video (st.session_state.current_video_id).
    """
    done: dict[str, tuple[str | None, str | None]] = st.session_state.setdefault("ingested", {})
    if uploaded.file_id not in done:
        with st.spinner("Storing and probing the video…"):
            video, error = ingest_upload(services, uploaded, name=uploaded.name,
                                         size=uploaded.size, user=user)
        done[uploaded.file_id] = (video.id if video else None, error)
        if video is not None:
            st.session_state["current_video_id"] = video.id
    return done[uploaded.file_id][1]


def video_summary_ui(video: Video) -> None:
    """The probed facts of a video as a row of metrics."""
    st.markdown(f"**{escape_markdown(video.original_filename, 200)}**")
    cols = st.columns(5)
    cols[0].metric("Duration", clock(video.duration_s))
    cols[1].metric("Resolution", f"{video.width}×{video.height}")
    cols[2].metric("Frame rate", f"{video.fps:.2f} fps")
    cols[3].metric("Codec", escape_markdown(video.codec, 40))
    cols[4].metric("Size", file_size(video.size_bytes))


def options_ui(settings: Settings, video: Video) -> Options:
    """Analyser, features and sampling widgets; returns the analyst's choices."""
    azure_ready = settings.vision_endpoint is not None
    left, right = st.columns(2)
    with left:
        analyzer = st.radio(
            "Analyser", ["local", "azure"],
            index=1 if azure_ready and settings.analyzer == "azure" else 0,
            format_func={"local": "Local (image statistics, free)",
                         "azure": "Azure AI Vision (people, objects, tags, text)"}.get,
            disabled=not azure_ready, horizontal=True,
        )
        if not azure_ready:
            st.caption("Azure AI Vision is off: set AZURE_VISION_ENDPOINT (and AZURE_VISION_KEY, "
                       "or give the app a managed identity) to turn it on.")
        fps = st.number_input("Frames sampled per second", min_value=0.1, max_value=30.0,
                              value=1.0, step=0.5, format="%.1f")
        if fps > video.fps:
            st.caption(f"The video has only {video.fps:.2f} fps: some samples will repeat a frame.")
        max_frames = st.number_input("Max frames (optional)", min_value=1, value=None, step=1,
                                     placeholder="all sampled frames")
    features: tuple[str, ...] = ()
    adaptive = False
    with right:
        if analyzer == "azure":
            features = tuple(st.multiselect(
                "Azure features", list(VISION_FEATURES), default=list(settings.vision_features),
                format_func=lambda f: FEATURE_NAMES.get(f, f),
                help="Caption and dense captions exist only in some Azure regions.",
            ))
            adaptive = st.checkbox(
                "Adaptive", help="Every frame still gets the local statistics.",
            )
            st.caption("Adaptive: send a frame to Azure only on a new shot, strong motion or "
                       f"every {ADAPTIVE_EVERY_S:.0f} s.")
    return Options(analyzer, features, float(fps),
                   int(max_frames) if max_frames else None, adaptive)


def estimate_ui(plan: Estimate, options: Options, price_per_1000: float) -> None:
    """Frames planned, Azure transactions and the cost before anything is queued."""
    cols = st.columns(3)
    cols[0].metric("Frames planned", f"{plan.frames:,}")
    if options.analyzer == "local":
        cols[1].metric("Azure transactions", "0")
        cols[2].metric("Estimated cost", "free")
        return
    low, high = plan.transactions, plan.most

    def price(n: int) -> str:
        return money(n * price_per_1000 / 1000)

    why = []
    if options.adaptive:
        why.append("adaptive: at least one per 10 s; every cut or strong motion adds one")
    if plan.cached:
        why.append(f"{plan.cached:,} frames of this video are already answered for these "
                   "features (result cache): frames sampled again cost nothing")
    help_text = "; ".join(why) or None
    if low == high:
        cols[1].metric("Azure transactions", f"{low:,}", help=help_text)
        cols[2].metric("Estimated cost", price(low),
                       help=f"At ${price_per_1000:g} per 1,000 transactions "
                            "(AZURE_VISION_PRICE_PER_1000).")
    else:
        cols[1].metric("Azure transactions", f"{low:,}–{high:,}", help=help_text)
        cols[2].metric("Estimated cost", f"{price(low)}–{price(high)}")
    if plan.cached:
        st.caption(f"{plan.cached:,} answers for this video and these features are cached from "
                   "earlier analyses: frames sampled again cost nothing.")


@st.cache_data(ttl=20, show_spinner=False)
def cached_frames(_services: Services, video_sha256: str, features: tuple[str, ...]) -> int:
    """Answers in the result cache for this video and features (a listing: at most every 20 s)."""
    from services.vision.azure import cache_identity
    from services.vision.cache import cached_answers

    settings = _services.settings
    identity = cache_identity(features, settings.vision_language, settings.vision_gender_neutral)
    return cached_answers(_services.store, video_sha256, identity)


@st.cache_data(ttl=20, show_spinner=False)
def _unregistered(_services: Services, where: str) -> list[str]:
    # Listing a container is a network call on Azure: at most once per 20 s, not every rerun.
    return unregistered_videos(_services.engine, _services.store)


def stored_video_ui(services: Services, user: str) -> None:
    """Register a video copied into storage directly (too large for a browser upload)."""
    settings = services.settings
    where = f"{settings.storage_account_url or settings.data_dir}/{settings.storage_container}"
    keys = _unregistered(services, where)
    if not keys:
        st.caption("No unregistered videos in storage. Copy a file under videos/ in the "
                   "storage container (or the data folder's blobs/videos/): it shows here "
                   "within 20 s.")
        return
    key = st.selectbox("Video in storage", keys, index=None, placeholder="Choose a stored video")
    if st.button("Use this video", disabled=key is None):
        try:
            with st.spinner("Probing the stored video…"):
                video = register_stored_video(services.engine, services.store, key, user)
        except (VideoError, StorageError) as exc:
            st.error(escape_markdown(f"{key} cannot be analysed: {one_line(exc, 300)}", 600))
            return
        _unregistered.clear()
        st.session_state["current_video_id"] = video.id
        st.session_state.pop("queued_analysis_id", None)
