"""Upload page pieces: pick a stored video, show a video's facts, choose how to analyse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from components.formatting import clock, file_size, money
from components.text import escape_markdown
from services.analysis.adaptive import ADAPTIVE_EVERY_S
from services.analysis.estimate import Estimate
from services.analysis.shot_sampling import ShotPlan
from services.config import Settings
from services.domain import (
    DEFAULT_SHOT_EVERY_S,
    MAX_SAMPLE_FPS,
    MAX_SHOT_EVERY_S,
    MIN_SHOT_EVERY_S,
    AnalyzerKind,
    Feature,
)
from services.models import Video
from services.storage.base import VIDEOS


@dataclass(frozen=True)
class Options:
    """How the analyst wants a video analysed."""

    analyzer: AnalyzerKind
    features: tuple[Feature, ...]
    fps: float
    max_frames: int | None
    adaptive: bool
    shot_every: float | None = None  # shot-aware sampling's N (None: the fixed rate `fps`)


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
    kinds = list(AnalyzerKind)
    off = [kind for kind in kinds if not settings.analyzer_ready(kind)]
    left, right = st.columns(2)
    with left:
        analyzer = st.radio(
            "Analyser", kinds, index=kinds.index(settings.analyzer),
            format_func=lambda kind: f"{kind.label} ({kind.finds})",
            disabled=len(off) == len(kinds) - 1, horizontal=True,  # only Local is on
        )
        for kind in off:
            st.caption(f"{kind.label} is off: set {kind.endpoint_setting} (and {kind.key_setting}, "
                       "or give the app a managed identity) to turn it on.")
        shot_aware = st.radio(
            "Sampling", ["Fixed rate", "Shot-aware"], horizontal=True,
            help="Shot-aware: at least one frame per shot, plus one every N seconds in longer "
                 "shots; the shots are found first, by one decode of the video, without the "
                 "cloud.") == "Shot-aware"
        fps, shot_every = 1.0, None
        if shot_aware:
            shot_every = float(st.number_input(
                "A frame per N seconds of a long shot", min_value=MIN_SHOT_EVERY_S,
                max_value=MAX_SHOT_EVERY_S, value=DEFAULT_SHOT_EVERY_S, step=1.0,
                format="%.0f"))
        else:
            fps = st.number_input("Frames sampled per second", min_value=0.1,
                                  max_value=MAX_SAMPLE_FPS, value=1.0, step=0.5, format="%.1f")
        if fps > video.fps:
            st.caption(f"The video has only {video.fps:.2f} fps: some samples will repeat a frame.")
        max_frames = st.number_input("Max frames (optional)", min_value=1, value=None, step=1,
                                     placeholder="all sampled frames")
    features: tuple[Feature, ...] = ()
    adaptive = False
    with right:
        if analyzer.detects:  # the features are Azure AI Vision's
            features = tuple(st.multiselect(
                "Azure features", list(Feature), default=list(settings.vision_features),
                format_func=lambda feature: feature.label,
                help="Caption and dense captions exist only in some Azure regions.",
            ))
            if shot_every is None:  # shot-aware sampling already sends only what it plans
                adaptive = st.checkbox(
                    "Adaptive", help="Every frame still gets the local statistics.",
                )
                st.caption("Adaptive: send a frame to Azure only on a new shot, strong motion "
                           f"or every {ADAPTIVE_EVERY_S:g} s.")
    return Options(analyzer, features, float(fps),
                   int(max_frames) if max_frames else None, adaptive, shot_every)


def shot_plan_ui(shot_plan: ShotPlan) -> None:
    """What shot-aware sampling planned, under the estimate."""
    st.caption(f"Shot-aware: {len(shot_plan.shots):,} shots found; a frame per shot and one per "
               f"{shot_plan.every_s:g} s of a longer shot make {shot_plan.frames:,} frames.")


def estimate_ui(plan: Estimate, options: Options, price_per_1000: float) -> None:
    """Frames planned, Azure transactions and the cost before anything is queued."""
    cols = st.columns(3)
    cols[0].metric("Frames planned", f"{plan.frames:,}")
    if not options.analyzer.cloud:
        cols[1].metric("Azure transactions", "0")
        cols[2].metric("Estimated cost", "free")
        return
    if plan.prompt_tokens or options.analyzer.asks:
        _token_estimate_ui(plan, cols)
        return
    low, high = plan.transactions, plan.most

    def price(n: int) -> str:
        return money(n * price_per_1000 / 1000)

    why = []
    if options.adaptive:
        why.append(f"adaptive: at least one per {ADAPTIVE_EVERY_S:g} s; every cut or strong "
                   "motion adds one")
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


def _token_estimate_ui(plan: Estimate, cols: Sequence[Any]) -> None:
    """A token-priced analyser: requests, tokens, and the cost with output at its bound."""
    cols[1].metric("Requests (one per frame)", f"{plan.transactions:,}",
                   help=f"{plan.prompt_tokens:,} prompt tokens (image and questions, by the "
                        f"model's documented rule) and at most {plan.completion_tokens:,} "
                        "output tokens (AZURE_OPENAI_MAX_COMPLETION_TOKENS per frame).")
    cols[2].metric("Estimated cost (at most)", money(plan.cost),
                   help="At AZURE_OPENAI_INPUT_PRICE_PER_MILLION and "
                        "AZURE_OPENAI_OUTPUT_PRICE_PER_MILLION; the results page shows what the "
                        "service counted.")


def stored_video_ui(keys: list[str]) -> str | None:
    """Pick a video copied into storage; returns its key once "Use this video" is clicked."""
    if not keys:
        st.caption(f"No unregistered videos in storage. Copy a file under {VIDEOS} in the "
                   f"storage container (or the data folder's blobs/{VIDEOS}): it shows here "
                   "within 20 s.")
        return None
    key = st.selectbox("Video in storage", keys, index=None, placeholder="Choose a stored video")
    return key if st.button("Use this video", disabled=key is None) else None
