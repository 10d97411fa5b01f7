"""`FrameSource`: what the engine and the backends know of a video."""
from __future__ import annotations

from typing import Protocol

import numpy as np


class FrameSource(Protocol):
    """A video or an image folder: random access to RGB frames, decoded on demand.

    Implementations keep at most a bounded number of decoded frames in memory, so a long video
    never sits in memory whole. Access is fastest in order (forward or a short step back).
    """

    path: str
    fps: float

    def __len__(self) -> int: ...

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames returned by `frame` (after any `max_side` downscale)."""
        ...

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the input itself; exports are written at this size."""
        ...

    def frame(self, index: int) -> np.ndarray:
        """H x W x 3 uint8 RGB frame `index` (0-based)."""
        ...

    def fingerprint(self) -> str:
        """A cheap stable hash of the input (size, frame count and sampled bytes) for resume checks."""
        ...

    def close(self) -> None: ...
