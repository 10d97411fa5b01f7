"""A bounded LRU of decoded frames, so memory does not grow with video length."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np


class FrameCache:
    """Frame index -> decoded frame, evicting the least recently used beyond `capacity`.

    The engine reads a window forward then the same window backward; a cache a few windows
    deep turns the backward pass into pure hits.
    """

    def __init__(self, capacity: int, max_bytes: int = 1 << 30) -> None:
        self.capacity = max(1, int(capacity))
        self.max_bytes = max_bytes  # 32 frames of 8K would be 3 GB: cap the bytes too
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0
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
        """Insert `frame`; the newest frame always stays, whatever its size."""
        old = self._frames.pop(index, None)
        if old is not None:
            self._bytes -= old.nbytes
        self._frames[index] = frame
        self._bytes += frame.nbytes
        while len(self._frames) > 1 and (len(self._frames) > self.capacity
                                         or self._bytes > self.max_bytes):
            _, evicted = self._frames.popitem(last=False)
            self._bytes -= evicted.nbytes

    def __contains__(self, index: int) -> bool:
        return index in self._frames

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        self._frames.clear()
        self._bytes = 0
