"""The Image Analysis emulator of the tests (tests/fixtures/vision_emulator.py) in its own process.

A remote service does not share our interpreter: run in-process, the emulator's JPEG checks and
JSON scaling would compete with the client for the GIL and distort its throughput. The child
prints its endpoint, then answers `stats` on stdin with one JSON line of counters.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import IO, Self

from bench.common import PY, ROOT, child_env


class ServiceProcess:
    """An emulator module run as `python -m <module> <options JSON>`: it prints a JSON hello
    with its endpoint and key, then answers `stats` on stdin; closing stdin stops it."""

    def __init__(self, module: str, options: dict):
        self.args = [PY, "-m", module, json.dumps(options)]
        self.proc: subprocess.Popen | None = None
        self.endpoint = self.key = ""

    def __enter__(self) -> Self:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, env=child_env(), text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        hello = json.loads(self._pipes()[1].readline() or "{}")
        if "endpoint" not in hello:
            self.__exit__()
            raise RuntimeError(f"the emulator process ({self.args[2]}) did not start")
        self.endpoint, self.key = hello["endpoint"], hello["key"]
        self.started(hello)
        return self

    def started(self, hello: dict) -> None:
        """What else a subclass reads from the child's hello."""

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        """The child's stdin and stdout (it runs between __enter__ and __exit__)."""
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        return self.proc.stdin, self.proc.stdout

    def stats(self) -> dict:
        ask, answer = self._pipes()
        ask.write("stats\n")
        ask.flush()
        return json.loads(answer.readline())

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            try:
                self._pipes()[0].close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
            self.proc = None


class EmulatorProcess(ServiceProcess):
    """`with EmulatorProcess(rate_limit=10, delay_s=0.3) as emu:` ... `emu.stats()`."""

    def __init__(self, *, rate_limit: float | None = None, delay_s: float = 0.0,
                 stretches: list[dict] | None = None):
        # stretches: [{"status": 429, "retry_after": "5", "seconds": 40, "after": 8}, ...]
        super().__init__("bench.emulator", {"rate_limit": rate_limit,
                                            "response_delay_s": delay_s,
                                            "stretches": stretches or []})


def _serve(options: dict) -> None:
    from tests.fixtures.vision_emulator import Fault, VisionEmulator

    stretches = options.pop("stretches", [])
    emulator = VisionEmulator(**options).start()
    scripted = [emulator.stretch(Fault(s["status"], retry_after=s.get("retry_after")),
                                 s["seconds"], s.get("after", 0)) for s in stretches]
    print(json.dumps({"endpoint": emulator.endpoint, "key": emulator.key}), flush=True)
    for line in sys.stdin:
        if line.strip() == "stats":
            stats = {
                "requests": emulator.requests,
                "statuses": {str(k): v for k, v in emulator.statuses.items()},
                "throttled": emulator.throttled,
                "violations": len(emulator.violations),
                "peak_in_flight": emulator.peak_in_flight,
                "max_in_1s": emulator.max_in_window(1.0),
                "stretches": [_stretch_stats(emulator, s) for s in scripted],
            }
            print(json.dumps(stats), flush=True)
    emulator.stop()


def _stretch_stats(emulator, stretch) -> dict:
    """When a stretch began and ended (monotonic clock), and the requests that met it."""
    if stretch.started is None:
        return {"started": None, "ended": None, "requests": 0, "max_in_1s": 0}
    during = emulator.arrivals(stretch.started, stretch.ended)
    times = [s.at for s in during]
    most = max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)
    return {"started": stretch.started, "ended": stretch.ended, "requests": len(during),
            "max_in_1s": most}


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]))
