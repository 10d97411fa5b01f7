"""Windows run one after another in this process: the Ray executor's result without Ray.

Why keep it: it is the exact reference for the distributed path (tests compare the two), and it
lets a user reproduce a cluster run's tracks on a laptop.
"""
from __future__ import annotations

from typing import Iterator, Sequence

from ..backends.base import Backend
from ..config import RunConfig
from ..engine.windows import Window, WindowResult, run_window
from ..video.base import FrameSource


class LocalExecutor:
    """Runs windows in order with one backend held for the whole run."""

    def __init__(self, source: FrameSource, backend: Backend, config: RunConfig) -> None:
        self.source, self.backend, self.config = source, backend, config

    def map(self, windows: Sequence[Window]) -> Iterator[WindowResult]:
        for w in windows:
            # through the plain form, like a Ray result, so both paths store the same bytes
            yield WindowResult.from_plain(run_window(self.source, self.backend, self.config, w, "local").to_plain())

    def close(self) -> None:
        pass
