"""The decoded-frame cache, so memory does not grow with video length."""
from __future__ import annotations

import numpy as np

from ..bounded_cache import BoundedCache


class FrameCache(BoundedCache[int, np.ndarray]):
    """Frame index -> decoded frame: the last `capacity` frames used, and at most `max_bytes`.

    The engine reads a window forward then the same window backward; a cache a few windows
    deep turns the backward pass into pure hits. The byte cap matters for huge frames (32
    frames of 8K would be 3 GB); the newest frame always stays, whatever its size, because the
    source reads it back at once.
    """

    def __init__(self, capacity: int, max_bytes: int = 1 << 30) -> None:
        super().__init__(max_items=max(1, int(capacity)), max_bytes=max_bytes, keep_newest=True)

    @property
    def capacity(self) -> int:
        return self.max_items
