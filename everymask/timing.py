"""Stage timers and a frame source wrapper that charges decoding to its own stage."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from .video.base import FrameSource


class StageTimer:
    """Seconds per stage; decoding done inside another stage is charged to "decode" only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        decode_before = self.seconds["decode"]
        t0 = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - t0 - (self.seconds["decode"] - decode_before)
            self.seconds[name] += spent

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in sorted(self.seconds.items()) if v > 0}


class TimedSource:
    """Wraps a FrameSource so every `frame()` call adds to the timer's "decode" stage."""

    def __init__(self, source: FrameSource, timer: StageTimer) -> None:
        self._source = source
        self._timer = timer

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    def __len__(self) -> int:
        return len(self._source)

    @property
    def size(self) -> tuple[int, int]:
        return self._source.size

    def frame(self, index: int) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self._source.frame(index)
        finally:
            self._timer.seconds["decode"] += time.perf_counter() - t0
