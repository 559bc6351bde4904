"""The local analyser: image statistics, motion, black frames and shots with numpy and Pillow only.

It keeps the previous sampled frame to measure motion and find cuts, so frames must be fed in
order; `restore` feeds a frame that was stored by an earlier run without producing a result.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from services.domain import AnalyzerKind
from services.video.frames import SampledFrame
from services.vision.base import FrameResult

WORK_SIDE = 160  # statistics on a small copy: fast, and robust to noise and compression
HIST_BINS = 16


def _pixels(frame: SampledFrame) -> np.ndarray:
    if frame.rgb is not None:
        return frame.rgb
    with Image.open(io.BytesIO(frame.jpeg)) as img:
        return np.asarray(img.convert("RGB"))


def _small(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = WORK_SIDE / max(h, w)
    if scale >= 1:
        return rgb.astype(np.float32) / 255.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0


def _luma(rgb01: np.ndarray) -> np.ndarray:
    return rgb01 @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _histogram(rgb01: np.ndarray) -> np.ndarray:
    hists = [np.histogram(rgb01[..., c], bins=HIST_BINS, range=(0.0, 1.0))[0] for c in range(3)]
    h = np.concatenate(hists).astype(np.float32)
    return h / max(1.0, h.sum() / 3)


def _colourfulness(rgb01: np.ndarray) -> float:
    """Hasler and Suesstrunk's colourfulness metric, on a 0-1 scale of pixel values."""
    r, g, b = rgb01[..., 0], rgb01[..., 1], rgb01[..., 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def _sharpness(gray: np.ndarray) -> float:
    """Variance of a 4-neighbour Laplacian: high for crisp edges, near zero for blur."""
    if min(gray.shape) < 3:
        return 0.0
    lap = (
        gray[1:-1, :-2] + gray[1:-1, 2:] + gray[:-2, 1:-1] + gray[2:, 1:-1] - 4 * gray[1:-1, 1:-1]
    )
    return float(lap.var() * 100)


class LocalAnalyzer:
    """Per-frame brightness, contrast, sharpness, colourfulness, motion, black flag and shot."""

    name = AnalyzerKind.local
    concurrency = 1

    def __init__(
        self,
        *,
        cut_threshold: float = 0.35,
        black_brightness: float = 0.06,
        black_contrast: float = 0.04,
    ):
        self.cut_threshold = cut_threshold
        self.black_brightness = black_brightness
        self.black_contrast = black_contrast
        self._prev_gray: np.ndarray | None = None
        self._prev_hist: np.ndarray | None = None
        self._shot = -1
        self._lock = threading.Lock()

    def analyze(self, frame: SampledFrame) -> FrameResult:
        rgb01 = _small(_pixels(frame))
        gray = _luma(rgb01)
        hist = _histogram(rgb01)
        brightness = float(gray.mean())
        contrast = float(gray.std())
        with self._lock:
            motion, change = self._compare(gray, hist)
            if self._shot < 0 or change > self.cut_threshold:
                self._shot += 1
            self._prev_gray, self._prev_hist = gray, hist
            shot = self._shot
        stats: dict[str, float | int | bool] = {
            "brightness": round(brightness, 5),
            "contrast": round(contrast, 5),
            "sharpness": round(_sharpness(gray), 5),
            "colourfulness": round(_colourfulness(rgb01), 5),
            "motion": round(motion, 5),
            "is_black": brightness < self.black_brightness and contrast < self.black_contrast,
            "shot_index": shot,
            "change": round(change, 5),
        }
        return FrameResult(stats=stats)

    def restore(self, frame: SampledFrame, shot_index: int) -> None:
        """Take a frame stored by an earlier run as the previous one, continuing its shot."""
        rgb01 = _small(_pixels(frame))
        with self._lock:
            self._prev_gray, self._prev_hist = _luma(rgb01), _histogram(rgb01)
            self._shot = shot_index

    def _compare(self, gray: np.ndarray, hist: np.ndarray) -> tuple[float, float]:
        """Motion (mean absolute luma difference) and content change (histogram distance)."""
        if self._prev_gray is None or self._prev_gray.shape != gray.shape:
            return 0.0, 0.0
        motion = float(np.abs(gray - self._prev_gray).mean())
        change = float(np.abs(hist - self._prev_hist).sum() / 6)  # 0 same .. 1 disjoint
        return motion, max(change, motion * 2)
