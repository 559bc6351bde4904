"""What one sampled frame becomes: its thumbnail for the frame viewer, its Frame row, and the
rows of its answers and token counts."""

from __future__ import annotations

import io

from PIL import Image

from services.models import Frame
from services.video.frames import SampledFrame
from services.vision.base import FrameResult

THUMB_SIDE = 640


def thumbnail(frame: SampledFrame) -> bytes:
    """A small JPEG for the frame viewer; boxes are scaled from the analysed frame's size."""
    if frame.rgb is not None:
        img = Image.fromarray(frame.rgb)
    else:
        img = Image.open(io.BytesIO(frame.jpeg))
    if max(img.size) <= THUMB_SIDE:
        return frame.jpeg
    img.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    img.convert("RGB").save(out, format="JPEG", quality=80)
    return out.getvalue()


def frame_row(analysis_id: str, frame: SampledFrame, stats: dict, result: FrameResult,
              thumb_key: str, raw_key: str | None, remote: bool,
              error: str | None = None) -> Frame:
    """The Frame row: local statistics, the remote answer's caption, or the service's reason
    for refusing the frame (then it is not remote-analysed). Counts of people and objects are
    not stored: readers count the detections at the confidence they are asked for."""
    return Frame(
        analysis_id=analysis_id,
        frame_index=frame.index,
        timestamp_s=frame.timestamp_s,
        width=frame.width,
        height=frame.height,
        thumbnail_key=thumb_key,
        raw_result_key=raw_key,
        caption=result.caption,
        caption_confidence=result.caption_confidence,
        brightness=stats.get("brightness"),
        contrast=stats.get("contrast"),
        sharpness=stats.get("sharpness"),
        colourfulness=stats.get("colourfulness"),
        motion=stats.get("motion"),
        is_black=stats.get("is_black"),
        shot_index=stats.get("shot_index"),
        remote_analysed=remote,
        transactions=result.transactions,
        error=error,
    )


def answer_rows(analysis_id: str, frame_index: int,
                result: FrameResult) -> tuple[list[dict], dict | None]:
    """The frame's answers (AnswerRow values) and what the service counted (FrameUsage), as
    the model gave them."""
    answers = [{"analysis_id": analysis_id, "frame_index": frame_index, "question_key": a.key,
                "number": a.number, "text": a.text, "valid": a.valid} for a in result.answers]
    u = result.usage
    usage = None if u is None else {
        "analysis_id": analysis_id, "frame_index": frame_index, "prompt_tokens": u.prompt,
        "completion_tokens": u.completion, "cached_tokens": u.cached,
        "reasoning_tokens": u.reasoning, "model": u.model, "region": u.region,
        "request_id": u.request_id,
    }
    return answers, usage
