"""Azure OpenAI frames and answers: what one frame costs before it is sent, the frame as the
service takes it, and the service's answer as a FrameResult.

Pure functions of the frame, the question set and the service's JSON: no requests here
(services/vision/openai_chat.py sends them).
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from PIL import Image

from services.domain import LabelKind
from services.questions import Question, check_answers, questions_prompt, response_schema
from services.video.frames import SampledFrame
from services.vision.base import Found, FrameRefused, FrameResult, TokenUsage
from services.vision.openai_tokens import FrameEstimate, Prices, estimate_frame

SERVICE = "Azure OpenAI"
SYSTEM_PROMPT = (
    "You look at one frame of a video and answer questions about what is visible in it. "
    "Answer each question from the picture alone. If the picture does not show enough to "
    "answer, say cannot_tell (or null for numbers and text): never guess."
)
JPEG_QUALITY = 85


def prompt_text(questions: tuple[Question, ...], *, caption: bool, tags: bool) -> str:
    """Every text the service counts as prompt: system prompt, questions, the answer schema
    (structured outputs put it into the prompt)."""
    schema = response_schema(questions, caption=caption, tags=tags)
    return SYSTEM_PROMPT + questions_prompt(questions) + json.dumps(schema)


def frame_estimate(settings: Any, width: int, height: int,
                   questions: tuple[Question, ...], *, caption: bool = True,
                   tags: bool = True) -> FrameEstimate:
    """One frame's tokens before a run: the image at the size it is sent, the system prompt,
    the questions and the schema (structured outputs count it as prompt), the output bound."""
    text = prompt_text(questions, caption=caption, tags=tags)
    return estimate_frame(width, height, model=settings.openai_model, prompt_text=text,
                          max_side=settings.openai_max_side,
                          max_completion_tokens=settings.openai_max_completion_tokens)


def frame_prices(settings: Any) -> Prices:
    return Prices(settings.openai_input_price, settings.openai_output_price)


def data_url(frame: SampledFrame, max_side: int) -> tuple[str, int, int]:
    """The frame as a JPEG data URL, its long side at most max_side px."""
    if frame.rgb is not None:
        img = Image.fromarray(frame.rgb)
    else:
        img = Image.open(io.BytesIO(frame.jpeg))
    if max(img.size) > max_side:
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
        data = out.getvalue()
    else:
        data = frame.jpeg
    return "data:image/jpeg;base64," + base64.b64encode(data).decode(), img.width, img.height


def parse_answer(raw: bytes, questions: tuple[Question, ...],
                 headers: Any = None) -> FrameResult:
    """A chat completion's body as a FrameResult: answers checked, caption, tags, and the usage
    (with the region and request id from the answer's headers, when given)."""
    body = json.loads(raw)
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    reason = choice.get("finish_reason")
    if message.get("refusal"):
        raise FrameRefused(f"{SERVICE} refused to answer for this frame: "
                           f"{str(message['refusal'])[:200]}")
    if reason == "content_filter":
        raise FrameRefused(f"{SERVICE}'s content filter withheld the answer for this frame")
    if reason == "length":
        raise FrameRefused(f"{SERVICE}'s answer was cut at the token limit "
                           "(AZURE_OPENAI_MAX_COMPLETION_TOKENS)")
    try:
        content = json.loads(message.get("content") or "")
        values = content["answers"]
        if not isinstance(values, dict):
            raise TypeError("answers is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise FrameRefused(f"{SERVICE} gave an answer that is not the asked JSON ({exc})") \
            from None
    tags = content.get("tags") if isinstance(content.get("tags"), list) else []
    caption = content.get("caption") if isinstance(content.get("caption"), str) else None
    return FrameResult(
        caption=caption,
        detections=[Found(LabelKind.tag, str(t)[:200], None) for t in tags if str(t).strip()],
        answers=check_answers(questions, values),
        raw_json=raw,
        transactions=1,
        usage=usage_of(body, headers or {}),
    )


def usage_of(body: dict[str, Any], headers: Any) -> TokenUsage:
    usage = body.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return TokenUsage(
        prompt=int(usage.get("prompt_tokens") or 0),
        completion=int(usage.get("completion_tokens") or 0),
        cached=int(prompt_details.get("cached_tokens") or 0),
        reasoning=int(completion_details.get("reasoning_tokens") or 0),
        model=str(body.get("model") or "")[:100] or None,
        region=(headers.get("x-ms-region") or "")[:60] or None,
        request_id=str(headers.get("apim-request-id") or headers.get("x-request-id")
                       or body.get("id") or "")[:100] or None,
    )
