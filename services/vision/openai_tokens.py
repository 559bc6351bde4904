"""What one frame costs an Azure OpenAI vision model, in tokens and USD, before it is sent.

Image tokens follow the model's documented rule (verify against `usage` after the first real run;
the rules are not measured here):
- gpt-4o, gpt-4.1 (and unknown models): fit into 2048 px, the short side into 768 px, then
  85 + 170 per 512-px tile (85 at detail low);
- gpt-4.1-mini, gpt-4.1-nano, gpt-5-mini: 32-px patches, at most 1,536 (the image scaled down to
  fit), times a multiplier (1.62, 2.46, 1.2).
Text is counted at about 4 characters a token (no tokenizer in the runtime). The output is
bounded by max_completion_tokens; prices are settings, never constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

PATCH = 32
MAX_PATCHES = 1536
PATCH_MULTIPLIERS = {"gpt-4.1-mini": 1.62, "gpt-4.1-nano": 2.46, "gpt-5-mini": 1.2}
TILE, TILE_BASE, TILE_TOKENS = 512, 85, 170
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 10  # tokens the chat format adds around the messages (an allowance)


def _family(model: str) -> str | None:
    """The patch family a model (or a dated model name) belongs to, or None for tiles."""
    name = model.lower()
    return next((f for f in sorted(PATCH_MULTIPLIERS, key=len, reverse=True)
                 if name.startswith(f)), None)


def _patches(width: int, height: int) -> int:
    patches = math.ceil(width / PATCH) * math.ceil(height / PATCH)
    if patches <= MAX_PATCHES:
        return patches
    # Scaled down to fit the patch budget, then a little more so both sides are whole patches
    # (the documented rule).
    shrink = math.sqrt(MAX_PATCHES * PATCH * PATCH / (width * height))
    across, down = width * shrink / PATCH, height * shrink / PATCH
    shrink *= min(math.floor(across) / across, math.floor(down) / down)
    return min(MAX_PATCHES, math.ceil(width * shrink / PATCH) * math.ceil(height * shrink / PATCH))


def _tiles(width: int, height: int) -> int:
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return math.ceil(w / TILE) * math.ceil(h / TILE)


def image_tokens(width: int, height: int, model: str, detail: str = "high") -> int:
    """Prompt tokens of one image of this size for this model."""
    family = _family(model)
    if family is not None:
        # Exact decimal arithmetic: in floats 1200 x 1.62 is 1944.0000000000002 (ceil: 1945).
        multiplier = Fraction(str(PATCH_MULTIPLIERS[family]))
        return math.ceil(_patches(width, height) * multiplier)
    if detail == "low":
        return TILE_BASE
    return TILE_BASE + TILE_TOKENS * _tiles(width, height)


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def sent_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size a frame is sent at: its long side at most `max_side`, never enlarged."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


@dataclass(frozen=True)
class Prices:
    """USD per million tokens (settings: third-party copies of the price list)."""

    input_per_million: float
    output_per_million: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_million
                + completion_tokens * self.output_per_million) / 1e6


@dataclass(frozen=True)
class FrameEstimate:
    """One request's tokens before it is sent: its prompt, and the output's upper bound."""

    image_tokens: int
    text_tokens: int
    max_completion_tokens: int

    @property
    def prompt_tokens(self) -> int:
        return self.image_tokens + self.text_tokens

    @property
    def budget(self) -> int:
        """What the deployment counts against its tokens per minute on arrival."""
        return self.prompt_tokens + self.max_completion_tokens


def estimate_frame(width: int, height: int, *, model: str, prompt_text: str, max_side: int,
                   max_completion_tokens: int) -> FrameEstimate:
    w, h = sent_size(width, height, max_side)
    return FrameEstimate(image_tokens(w, h, model),
                         text_tokens(prompt_text) + MESSAGE_OVERHEAD, max_completion_tokens)


def request_rate(tpm: int, rpm: int, budget: int) -> float:
    """Requests per second a deployment admits for requests of this budget (the lower limit)."""
    return min(rpm, tpm / max(1, budget)) / 60.0
