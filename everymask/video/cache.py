"""A bounded LRU of decoded frames, so memory does not grow with video length."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np


class FrameCache:
    """Frame index -> decoded frame, evicting the least recently used beyond `capacity`.

    The engine reads a window forward then the same window backward; a cache a few windows
    deep turns the backward pass into pure hits.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, index: int) -> np.ndarray | None:
        frame = self._frames.get(index)
        if frame is None:
            self.misses += 1
            return None
        self._frames.move_to_end(index)
        self.hits += 1
        return frame

    def put(self, index: int, frame: np.ndarray) -> None:
        self._frames[index] = frame
        self._frames.move_to_end(index)
        while len(self._frames) > self.capacity:
            self._frames.popitem(last=False)

    def __contains__(self, index: int) -> bool:
        return index in self._frames

    def __len__(self) -> int:
        return len(self._frames)

    def clear(self) -> None:
        self._frames.clear()
