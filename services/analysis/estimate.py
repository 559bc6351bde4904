"""What an analysis will cost before it is queued: frames, cloud transactions, tokens, dollars.

Azure AI Vision is priced per transaction; Azure OpenAI per token: each frame sent costs its
estimated prompt (image and text) and at most max_completion_tokens of output, so its cost is an
upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.analysis.adaptive import fewest_sent
from services.analysis.shot_sampling import ShotPlan
from services.domain import AnalyzerKind
from services.video.frames import planned_frames
from services.video.probe import VideoInfo
from services.vision.openai_tokens import FrameEstimate, Prices


@dataclass(frozen=True)
class Estimate:
    frames: int
    transactions: int  # the fewest to expect: adaptive adds frames on cuts and motion
    cost: float
    most: int = 0  # the most: every planned frame sent, none answered from the cache
    cached: int = 0  # answers of earlier analyses of this video with the same settings
    prompt_tokens: int = 0  # token-priced analysers: the prompts of the frames sent ...
    completion_tokens: int = 0  # ... and the most output they may cost


def estimate(
    info: VideoInfo,
    *,
    fps: float,
    max_frames: int | None,
    analyzer: AnalyzerKind | str,
    price_per_1000: float,
    adaptive: bool = False,
    cached: int = 0,
    tokens: tuple[FrameEstimate, Prices] | None = None,
    shot_plan: ShotPlan | None = None,
) -> Estimate:
    """Frames planned; for a cloud analyser one transaction per frame sent and not cached.

    Cached answers count fully only when the same frames are sampled again (same rate), so with
    a cache the figure is the lower end of a range whose upper end is `most`. A `shot_plan`
    (shot-aware sampling, made without the cloud) gives the frames instead of `fps`.
    """
    frames = shot_plan.frames if shot_plan else planned_frames(info, fps, max_frames)
    if not AnalyzerKind(analyzer).cloud:
        return Estimate(frames, 0, 0.0)
    sent = frames
    if adaptive:
        sent = fewest_sent(frames, fps)
    fewest = max(0, sent - cached)
    if tokens is not None:  # priced per token: `tokens` is one frame's estimate and the prices
        frame, prices = tokens
        prompt, output = fewest * frame.prompt_tokens, fewest * frame.max_completion_tokens
        return Estimate(frames, fewest, round(prices.cost(prompt, output), 4), frames, cached,
                        prompt, output)
    return Estimate(frames, fewest, round(fewest * price_per_1000 / 1000, 4), frames, cached)
