"""Backends for the Ray tests; a module of its own so Ray workers can import it by name."""
import os
from pathlib import Path

from everymask.testing.replay import ReplayBackend


class DyingOnceReplay(ReplayBackend):
    """Kills its own worker process (os._exit, like a lost node) the first time it generates
    `frame`; the marker file makes it die only once across processes."""

    def __init__(self, truth, size, frame: int, marker: str, missed=frozenset()) -> None:
        super().__init__(truth, size, missed=missed)
        self.frame, self.marker = frame, marker

    def generate(self, frame_index, image, prior=None):
        if frame_index == self.frame and not Path(self.marker).exists():
            Path(self.marker).write_text(str(os.getpid()))
            os._exit(1)
        return super().generate(frame_index, image, prior)
