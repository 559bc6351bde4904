"""The frame viewer: pick the frame nearest a time and draw detection boxes on its thumbnail.

Boxes are stored in pixels of the analysed frame (origin top left); the thumbnail is smaller, so
every box is scaled by thumbnail size / analysed frame size before it is drawn. Labels are drawn
into the pixels, so OCR or tag text can never become markup.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from services.domain import LabelKind
from services.insights.results import confident

# Colour per kind of box (Streamlit's palette); smart crops are dashed: they are suggestions.
KIND_COLOURS: dict[LabelKind, str] = {
    LabelKind.person: "#ff4b4b",
    LabelKind.object: "#1c83e1",
    LabelKind.text_line: "#ffbd45",
    LabelKind.smart_crop: "#21c354",
}
KIND_LABELS: dict[LabelKind, str] = {
    LabelKind.person: "People",
    LabelKind.object: "Objects",
    LabelKind.text_line: "Text (OCR)",
    LabelKind.smart_crop: "Smart crops",
}
DASHED_KINDS = frozenset({LabelKind.smart_crop})
LABELLED_KINDS = frozenset({LabelKind.person, LabelKind.object})


def nearest_index(times: Iterable[float], t: float) -> int:
    """Position of the time closest to t (the earlier one on a tie)."""
    values = list(times)
    if not values:
        raise ValueError("no frames")
    return min(range(len(values)), key=lambda i: (abs(values[i] - t), values[i]))


def boxes_for_frame(
    detections: pd.DataFrame, frame_index: int, kinds: Iterable[str], min_confidence: float
) -> pd.DataFrame:
    """The frame's detections of the chosen kinds that have a box and pass the threshold."""
    rows = detections[(detections["frame_index"] == frame_index)
                      & detections["kind"].isin(list(kinds))]
    rows = confident(rows, min_confidence)
    return rows.dropna(subset=["x", "y", "w", "h"])


def _dashed_rectangle(draw: ImageDraw.ImageDraw, box, colour: str, width: int, dash: int) -> None:
    x0, y0, x1, y1 = box
    for a, b, fixed, horizontal in ((x0, x1, y0, True), (x0, x1, y1, True),
                                    (y0, y1, x0, False), (y0, y1, x1, False)):
        pos = a
        while pos < b:
            end = min(pos + dash, b)
            line = [(pos, fixed), (end, fixed)] if horizontal else [(fixed, pos), (fixed, end)]
            draw.line(line, fill=colour, width=width)
            pos += 2 * dash


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType support
        return ImageFont.load_default()


def draw_boxes(
    thumbnail: bytes | Image.Image, boxes: pd.DataFrame, frame_width: int, frame_height: int
) -> Image.Image:
    """The thumbnail with each box drawn, scaled from the analysed frame's pixel size."""
    if isinstance(thumbnail, Image.Image):
        image = thumbnail.convert("RGB")
    else:
        with Image.open(io.BytesIO(thumbnail)) as opened:
            image = opened.convert("RGB")
    if boxes.empty or not frame_width or not frame_height:
        return image
    sx, sy = image.width / frame_width, image.height / frame_height
    line = max(2, round(min(image.size) / 160))
    font = _font(max(10, round(image.height / 28)))
    draw = ImageDraw.Draw(image)
    for row in boxes.itertuples(index=False):
        colour = KIND_COLOURS.get(row.kind, "#ffffff")
        x0, y0 = float(row.x) * sx, float(row.y) * sy
        x1, y1 = (float(row.x) + float(row.w)) * sx, (float(row.y) + float(row.h)) * sy
        box = (x0, y0, max(x0, x1 - 1), max(y0, y1 - 1))
        if row.kind in DASHED_KINDS:
            _dashed_rectangle(draw, box, colour, line, dash=4 * line)
        else:
            draw.rectangle(box, outline=colour, width=line)
        if row.kind in LABELLED_KINDS:
            text = str(row.label or row.kind)[:30]
            if pd.notna(row.confidence):
                text += f" {float(row.confidence):.2f}"
            left, top, right, bottom = draw.textbbox((x0, y0), text, font=font)
            lift = min(y0, bottom - top + 2)
            draw.rectangle((left, top - lift, right + 4, bottom - lift + 2), fill=colour)
            draw.text((x0 + 2, y0 - lift), text, fill="white", font=font)
    return image
