"""Results page pieces: status, summary, the chosen moment, the frame viewer, video and exports."""

from __future__ import annotations

import mimetypes
from functools import partial

import pandas as pd
import streamlit as st

from components.charts import (
    JUMP_PARAM,
    METRICS,
    domain_end,
    frame_spans,
    jump_chart,
    metric_chart,
)
from components.formatting import clock, money
from components.frame_viewer import boxes_for_frame, draw_boxes, nearest_index
from components.notes_ui import with_notes
from components.share import format_seconds, parse_seconds, share_link
from components.state_keys import time_key
from components.text import escape_markdown, one_line
from services.insights.exports import Download
from services.insights.media import Media
from services.insights.summary import Summary
from services.models import Analysis, Status, Video
from services.review.notes import NoteView


def status_ui(analysis: Analysis, cancellable: bool = False) -> bool:
    """Progress while it runs, the outcome once it has ended; True when Cancel was clicked.

    frames_done is what is stored (written with each frame's rows); when `cancellable`, a queued
    or running analysis gets a "Cancel analysis" button.
    """
    status = analysis.status
    done = analysis.frames_done
    clicked = False
    if status.cancellable:
        label = ("Queued: waiting for a worker…" if status == Status.queued else
                 f"Analysing: {done:,} of {analysis.frames_planned:,} frames")
        planned = analysis.frames_planned
        st.progress(min(1.0, done / planned) if planned else 0.0, text=label)
        if cancellable:
            clicked = st.button(
                "Cancel analysis", key=f"cancel_{analysis.id}", icon=":material/cancel:",
                help="Stops the analysis within a few seconds; the frames analysed so far stay, "
                     "with their charts and exports.")
    elif status == Status.failed:
        reason = escape_markdown(analysis.error_message or "no reason was recorded", 600)
        st.error(f"The analysis failed: {reason}. Check the video and the settings named in "
                 "the message, then retry it: it continues from the first missing frame.")
    elif status == Status.cancelled:
        if done:
            st.info(f"The analysis was cancelled after {done:,} of "
                    f"{analysis.frames_planned:,} frames: the frames analysed so far are kept.")
        else:
            st.info("The analysis was cancelled before any frame was analysed.")
    if analysis.truncated:
        st.warning("The video ends early (it is truncated or damaged): it was analysed as far "
                   "as it decodes.")
    return clicked


def wait_ui(text: str | None) -> None:
    """What a running analysis waits for (throttling, an outage), so the bar is not frozen."""
    if text:
        st.warning(escape_markdown(text, 300), icon=":material/hourglass_top:")


def refused_ui(frames: pd.DataFrame) -> None:
    """How many frames the service refused: stored as not analysed, with its reason."""
    refused = frames[frames["error"].notna()] if "error" in frames else frames.iloc[0:0]
    if refused.empty:
        return
    reason = escape_markdown(one_line(str(refused["error"].iloc[0]), 200))
    count = (f"{len(refused):,} frames were" if len(refused) > 1 else "1 frame was")
    st.warning(f"{count} not analysed: the service refused it (first reason: {reason}). Such "
               "frames show no detections; the column error of frames.csv gives each reason.",
               icon=":material/image_not_supported:")


def retry_ui(analysis: Analysis) -> bool:
    """A "Retry analysis" button for a failed or cancelled analysis; True when it was clicked."""
    if not analysis.status.retryable:
        return False
    return st.button("Retry analysis", key=f"retry_{analysis.id}", icon=":material/replay:",
                     help="Queues it again: it continues from the first missing frame, and "
                          "frames already analysed cost nothing.")


def summary_ui(analysis: Analysis, frames: pd.DataFrame, summary: Summary,
               price_per_1000: float) -> None:
    """Summary metrics of the frames analysed so far (services.insights.summary)."""
    spans = frame_spans(frames)
    covered = float(spans["end_s"].max() - spans["timestamp_s"].min())
    cols = st.columns(5)
    done = analysis.frames_done
    planned = analysis.frames_planned
    # "1,000 / 1,000" does not fit a fifth of the page: the planned count only when it differs.
    cols[0].metric("Frames", f"{done:,}" if done == planned else f"{done:,} / {planned:,}",
                   help=f"{done:,} of {planned:,} planned frames analysed")
    cols[1].metric("Duration covered", clock(covered))
    cols[2].metric("Shots", f"{summary.shots:,}")
    cols[3].metric("Black frames", f"{summary.black_frames:,}")
    cols[4].metric("Mean brightness", f"{frames['brightness'].astype(float).mean():.3f}")
    if not analysis.analyzer.detects:
        return  # a token-priced analyser shows its requests, tokens and cost with its answers
    cols = st.columns(5)
    cols[0].metric("Azure transactions", f"{summary.transactions:,}")
    cols[1].metric("Actual cost", money(summary.transactions * price_per_1000 / 1000),
                   help=f"Estimated before queuing: {money(analysis.estimated_cost)}")
    cols[2].metric("Max people in a frame", f"{summary.max_people_in_a_frame}")
    cols[3].metric("Frames sent to Azure", f"{summary.frames_analysed_remotely:,}")


def _jump(slider_key: str, chart_key: str, times: list[float]) -> None:
    """Chart click callback: move the time slider to the clicked frame."""
    state = st.session_state.get(chart_key) or {}
    points = (state.get("selection") or {}).get(JUMP_PARAM) or []
    if points and "timestamp_s" in points[0]:
        st.session_state[slider_key] = times[nearest_index(times, float(points[0]["timestamp_s"]))]


def time_labels(times: list[float]) -> dict[float, str]:
    """A distinct slider label per sampled time: tenths, or finer when frames are closer.

    st.select_slider keys its value by the label, so frames sharing one (0.00 s and 0.04 s both
    read 0:00.0) could not be chosen: the slider would jump past them.
    """
    for decimals in (1, 2, 3):
        labels = {t: clock(t, decimals) for t in times}
        if len(set(labels.values())) == len(labels):
            return labels
    return {t: f"{clock(t, 3)} (#{i + 1})" for i, t in enumerate(times)}


def time_ui(frames: pd.DataFrame, analysis_id: str, duration: float | None = None) -> float:
    """The selected moment: a slider and a click-to-jump strip, mirrored in the URL's ?t=."""
    times = [round(float(x), 3) for x in frames["timestamp_s"]]
    key, chart_key = time_key(analysis_id), f"jump_{analysis_id}"
    if st.session_state.get(key) not in times:
        wanted = st.session_state.get(key)
        if wanted is None:
            wanted = parse_seconds(st.query_params.get("t"))
        st.session_state[key] = times[nearest_index(times, wanted or 0.0)]
    labels = time_labels(times)
    t = st.select_slider("Time", options=times, key=key, format_func=labels.__getitem__)
    if st.query_params.get("t") != format_seconds(t):
        st.query_params["t"] = format_seconds(t)
    st.altair_chart(jump_chart(frames, t, duration=duration), key=chart_key,
                    selection_mode=JUMP_PARAM, on_select=partial(_jump, key, chart_key, times),
                    width="stretch")
    st.caption("Each bar is a sampled frame, coloured by shot (black frames dark): "
               "click one to jump to it.")
    return t


def frame_at(frames: pd.DataFrame, t: float) -> pd.Series:
    """The row of the frame nearest t."""
    return frames.iloc[nearest_index(frames["timestamp_s"].astype(float).tolist(), t)]


def viewer_ui(row: pd.Series, thumb: Media, detections: pd.DataFrame, kinds: list[str],
              min_confidence: float) -> None:
    """A frame's thumbnail with its boxes, and what is known about it."""
    if not isinstance(thumb.content, bytes):
        st.info(escape_markdown(thumb.problem or "This frame has no thumbnail.", 300))
        return
    index = int(row["frame_index"])
    boxes = boxes_for_frame(detections, index, kinds, min_confidence)
    st.image(draw_boxes(thumb.content, boxes, int(row["width"]), int(row["height"])),
             width="stretch")
    facts = [f"Frame {index} at {clock(row['timestamp_s'])}"]
    if pd.notna(row["shot_index"]):
        facts.append(f"shot {int(row['shot_index']) + 1}")
    if pd.notna(row["is_black"]) and bool(row["is_black"]):
        facts.append("black frame")
    if len(boxes):
        facts.append(f"{len(boxes)} boxes")
    st.caption(" · ".join(facts))
    if isinstance(row["caption"], str) and row["caption"]:
        st.caption(f"Caption: {escape_markdown(row['caption'], 300)}")


def share_ui(public_url: str, analysis_id: str, t: float, confidence: float | None = None,
             label: str | None = None) -> None:
    """The link to this view (moment, confidence, selected label), with a copy button."""
    st.code(share_link(public_url, analysis_id, t, confidence=confidence, label=label),
            language=None, wrap_lines=True)
    st.caption("Copy this link to share this moment and view (base URL: FRAMEWISE_PUBLIC_URL).")


def play_video_ui(running: bool = False) -> bool:
    """Whether to play the source video (it can be large: loaded only when asked)."""
    return st.toggle("Play the source video from here", key="play_video", disabled=running,
                     help="Available once the analysis has ended." if running else None)


def video_ui(video: Video, source: Media, t: float) -> None:
    """Play the source video from t: a URL the browser streams, or a file Streamlit serves."""
    mime = mimetypes.guess_type(video.blob_key)[0] or "video/mp4"
    if isinstance(source.content, str):
        st.video(source.content, format=mime, start_time=int(t))
    else:
        st.warning(escape_markdown(source.problem or "The video cannot be played.", 300))
    if mime not in ("video/mp4", "video/webm", "video/ogg"):
        st.caption(f"Browsers may not play {one_line(mime, 40)} files; the analysis is unaffected.")


def downloads_ui(analysis_id: str, files: list[Download], min_confidence: float | None) -> None:
    """A button per export; each file is made when its button is clicked, not on every rerun."""
    stem = f"framewise-{analysis_id[:8]}"
    with st.container(horizontal=True):  # wraps: eight names in eight columns were cut short
        for file in files:
            st.download_button(file.name, file.make, file_name=f"{stem}-{file.name}",
                               mime=file.mime, on_click="ignore", icon=":material/download:",
                               width="content", key=f"download_{file.name}_{analysis_id}")
    same = "`python cli.py export` writes the same files."
    st.caption(same if min_confidence is None else
               f"At minimum confidence {min_confidence:.2f}, like everything on this page; {same}")


def statistics_ui(frames: pd.DataFrame, t: float, duration: float, shots: pd.DataFrame,
                  notes: list[NoteView]) -> None:
    """The local image statistics over time, a chart each, shots and notes marked."""
    for name, title in METRICS:
        chart = with_notes(metric_chart(frames, name, title, t, height=130, x_title=None,
                                        duration=duration, shots=shots),
                           notes, domain_end(frames, duration))
        st.altair_chart(chart, width="stretch")
    st.caption("Time in seconds. Dashed lines: new shots. Shaded: black frames. "
               "Red: the selected moment. Orange: notes.")
