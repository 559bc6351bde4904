"""Image Analysis 4.0 images and answers: frames kept within the service's limits, answers as rows.

Pure functions of the frame and the service's JSON: no requests here (services/vision/azure.py
sends them).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from services.domain import LabelKind
from services.video.frames import SampledFrame
from services.vision.base import Found, FrameResult

MAX_BYTES = 20 * 1024 * 1024 - 1  # the service takes images under 20 MB
MIN_SIDE = 64  # the service needs more than 50x50 pixels; a margin above that
MAX_SIDE = 15_000  # ... and less than 16,000x16,000


@dataclass(frozen=True)
class Prepared:
    """The bytes we send, and how to turn the service's pixels back into the frame's."""

    data: bytes
    scale_x: float = 1.0  # frame pixels per sent pixel
    scale_y: float = 1.0


def prepare_image(frame: SampledFrame) -> Prepared:
    """Keep the frame within the service's limits: upscale/pad tiny ones, shrink huge ones."""
    w, h = frame.width, frame.height
    if min(w, h) > 50 and max(w, h) < 16_000 and len(frame.jpeg) <= MAX_BYTES:
        return Prepared(frame.jpeg)
    if frame.rgb is not None:
        img = Image.fromarray(frame.rgb).convert("RGB")
    else:
        img = Image.open(io.BytesIO(frame.jpeg)).convert("RGB")
    scale = max(1.0, MIN_SIDE / min(img.size))
    scale = min(scale, MAX_SIDE / max(img.size))
    while True:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        # A very thin frame cannot be upscaled enough without passing MAX_SIDE: pad it instead
        # (bottom/right, so the service's coordinates need no offset).
        canvas = Image.new("RGB", (max(size[0], MIN_SIDE), max(size[1], MIN_SIDE)))
        canvas.paste(img.resize(size, Image.Resampling.LANCZOS), (0, 0))
        buf = io.BytesIO()
        canvas.save(buf, format="JPEG", quality=90)
        if buf.tell() <= MAX_BYTES:
            return Prepared(buf.getvalue(), w / size[0], h / size[1])
        scale *= 0.7


def to_result(raw: bytes, result, prepared: Prepared, frame: SampledFrame, transactions: int):
    """All seven features as rows, boxes in pixels of the frame as we analysed it."""
    to_box = _Boxes(prepared, frame.width, frame.height)
    found: list[Found] = []
    for p in result.people.list if result.people else []:
        found.append(Found(LabelKind.person, "person", p.confidence, *to_box(p.bounding_box)))
    for o in result.objects.list if result.objects else []:
        tag = o.tags[0] if o.tags else None
        label, conf = (tag.name, tag.confidence) if tag else (None, None)
        found.append(Found(LabelKind.object, label, conf, *to_box(o.bounding_box)))
    for t in result.tags.list if result.tags else []:
        found.append(Found(LabelKind.tag, t.name, t.confidence))
    for d in result.dense_captions.list if result.dense_captions else []:
        found.append(Found(LabelKind.dense_caption, d.text, d.confidence, *to_box(d.bounding_box)))
    for block in result.read.blocks if result.read else []:
        for line in block.lines:
            # Lines carry no confidence of their own; their words' mean stands in for it.
            conf = [w.confidence for w in line.words or []]
            mean = sum(conf) / len(conf) if conf else None
            found.append(Found(LabelKind.text_line, line.text, mean, *to_box.polygon(line)))
    for c in result.smart_crops.list if result.smart_crops else []:
        found.append(Found(LabelKind.smart_crop, f"{c.aspect_ratio:g}", None,
                           *to_box(c.bounding_box)))
    caption = result.caption
    return FrameResult(
        caption=caption.text if caption else None,
        caption_confidence=caption.confidence if caption else None,
        detections=found,
        raw_json=raw,
        transactions=transactions,
    )


class _Boxes:
    """Maps the service's boxes (pixels of the image we sent) to pixels of the frame."""

    def __init__(self, prepared: Prepared, width: int, height: int):
        self.sx, self.sy = prepared.scale_x, prepared.scale_y
        self.width, self.height = width, height

    def _clip(self, x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        x0, x1 = (min(max(round(v * self.sx), 0), self.width) for v in (x0, x1))
        y0, y1 = (min(max(round(v * self.sy), 0), self.height) for v in (y0, y1))
        return x0, y0, x1 - x0, y1 - y0

    def __call__(self, box) -> tuple[int, int, int, int]:
        return self._clip(box.x, box.y, box.x + box.width, box.y + box.height)

    def polygon(self, line) -> tuple[int, int, int, int]:
        xs = [p.x for p in line.bounding_polygon]
        ys = [p.y for p in line.bounding_polygon]
        return self._clip(min(xs), min(ys), max(xs), max(ys))
