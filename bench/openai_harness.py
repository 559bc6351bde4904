"""The harness section 13 (bench/openai_chat.py) drives: the emulator in its own process, frames,
and runs of the analyser from a thread pool.

The emulator of the tests (tests/fixtures/openai_emulator.py) runs in its own process, started as
`python -m bench.openai_harness '<options as JSON>'`: it prints its endpoint, then answers `stats`
on stdin with one JSON line (every request it saw, its 429s and its stretches).
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from bench.common import timed
from bench.emulator import ServiceProcess
from services.questions import parse_questions
from services.video.frames import SampledFrame
from services.vision.openai_chat import OpenAIAnalyzer, OpenAIOptions

if TYPE_CHECKING:
    from tests.fixtures.openai_emulator import OpenAIEmulator

DEFAULT_MODEL = "gpt-4.1-mini"
MODELS = {"gpt-4.1-mini": "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
          "gpt-4o": "gpt-4o-2024-11-20"}  # the analyser's model setting -> the answering model
# Five questions of every kind the set editor offers but numbers; caption and tags on (defaults).
QUESTIONS = parse_questions([
    {"key": "people", "text": "How many people are visible?", "type": "count"},
    {"key": "hard_hat", "text": "Is everyone visible wearing a hard hat?", "type": "yes_no"},
    {"key": "activity", "text": "What are most people doing?", "type": "choice",
     "choices": ["standing", "walking", "working", "sitting", "none"]},
    {"key": "tidiness", "text": "How tidy is the work area?", "type": "score"},
    {"key": "sign", "text": "What does the largest sign say?", "type": "text"},
])
DELAY_S = 0.2  # the emulator answers a 200 after this long (the service takes longer: seconds)


# --- the emulator in its own process --------------------------------------------------------------


class OpenAIEmulatorProcess(ServiceProcess):
    """`with OpenAIEmulatorProcess(model=..., tpm=..., rpm=...) as emu:` ... `emu.stats()`."""

    def __init__(self, *, model: str = MODELS[DEFAULT_MODEL], tpm: int | None = 5_000_000,
                 rpm: int | None = 5_000, delay_s: float = DELAY_S,
                 stretches: Sequence[dict] = ()):
        # stretches: [{"retry_after_s": None or seconds, "seconds": 30, "after": 80}, ...]
        super().__init__("bench.openai_harness", {
            "model": model, "tpm": tpm, "rpm": rpm, "response_delay_s": delay_s,
            "stretches": list(stretches)})
        self.deployment = ""

    def started(self, hello: dict) -> None:
        self.deployment = hello["deployment"]


def _serve(options: dict) -> None:
    from tests.fixtures.openai_emulator import OpenAIEmulator
    from tests.fixtures.openai_faults import Fault

    stretches = options.pop("stretches", [])
    emulator = OpenAIEmulator(**options).start()
    scripted = [emulator.stretch(Fault.throttle(s.get("retry_after_s")), s["seconds"],
                                 s.get("after", 0)) for s in stretches]
    print(json.dumps({"endpoint": emulator.endpoint, "key": emulator.key,
                      "deployment": emulator.deployment}), flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            print(json.dumps(_stats(emulator, scripted)), flush=True)
    emulator.stop()


def _stats(emulator: OpenAIEmulator, stretches: list) -> dict:
    from tests.fixtures.openai_emulator import image_tokens as counted_image
    from tests.fixtures.openai_emulator import text_tokens

    seen = []
    for s in emulator.arrivals():
        texts = []
        for message in (s.body or {}).get("messages") or []:
            content = message.get("content")
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            texts += [p["text"] for p in parts or [] if p.get("type") == "text"]
        # The emulator counts the json_schema as prompt text too, as the service does.
        schema = ((s.body or {}).get("response_format") or {}).get("json_schema") or {}
        if schema.get("schema") is not None:
            texts.append(json.dumps(schema["schema"]))
        seen.append({"at": s.at, "status": s.status, "prompt": s.prompt_tokens,
                     "text": text_tokens("".join(texts)) if s.prompt_tokens else 0,
                     "image": list(size) if (size := s.image_size) else None,
                     "image_rule": counted_image(size[0], size[1], emulator.model)
                     if size else None,
                     "completion": s.completion_tokens, "charged": s.charged})
    return {"seen": seen, "throttled": emulator.throttled, "violations": emulator.violations[:5],
            "statuses": {str(k): v for k, v in emulator.statuses.items()},
            "stretches": [{"started": t.started, "ended": t.ended} for t in stretches]}


# --- frames and runs ------------------------------------------------------------------------------


def make_jpeg(size: tuple[int, int], shade: float, seed: int) -> bytes:
    """A frame with some texture (a JPEG of realistic weight), its brightness scaled by shade."""
    w, h = size
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(2, h // 24), max(2, w // 24), 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
    img = img.point(lambda v: min(255, int(v * shade)))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


def frames_of(size: tuple[int, int], n: int, distinct: int = 24) -> list[SampledFrame]:
    jpegs = [make_jpeg(size, 0.3 + 0.7 * i / distinct, i) for i in range(min(n, distinct))]
    return [SampledFrame(i, float(i), jpegs[i % len(jpegs)], *size) for i in range(n)]


def analyser(emu: OpenAIEmulatorProcess, model: str, *, tpm: int, rpm: int,
             concurrency: int) -> OpenAIAnalyzer:
    """As the app makes it: options from settings, the process's throttle for the endpoint."""
    options = OpenAIOptions(deployment=emu.deployment, model=model, questions=QUESTIONS,
                            tpm=tpm, rpm=rpm, concurrency=concurrency)
    return OpenAIAnalyzer(emu.endpoint, api_key=emu.key, options=options)


@dataclass
class Run:
    wall: float
    answered: int
    failed: list[str]
    stats: dict
    load: tuple[float, float]  # 1-minute load average at the start and at the end
    rate: float  # requests per second the analyser aimed at
    seen: list[dict] = field(default_factory=list)

    def status(self, code: int) -> int:
        return sum(1 for s in self.seen if s["status"] == code)


def run_frames(emu: OpenAIEmulatorProcess, frames: list[SampledFrame], *, tpm: int, rpm: int,
               threads: int, model: str = DEFAULT_MODEL) -> Run:
    chat = analyser(emu, model, tpm=tpm, rpm=rpm, concurrency=threads)

    def one(frame: SampledFrame) -> str | None:
        try:
            chat.analyze(frame)
            return None
        except Exception as exc:  # noqa: BLE001 - a failed frame is counted, not fatal
            return f"{type(exc).__name__}: {str(exc)[:200]}"

    load_start = os.getloadavg()[0]
    try:
        with timed() as t, ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(one, frames))
        rate = chat.throttle.rate
    finally:
        chat.close()
    stats = emu.stats()
    failed = [o for o in outcomes if o is not None]
    return Run(t.wall, len(outcomes) - len(failed), failed, stats,
               (load_start, os.getloadavg()[0]), rate, stats["seen"])


def load(run: Run) -> str:
    return f"load {run.load[0]:.1f} -> {run.load[1]:.1f}"


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
