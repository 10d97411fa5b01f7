"""Hand-made ground truth for exact engine tests: boxes moving on a blank video."""
from __future__ import annotations

import hashlib

import numpy as np

from everymask.masks import RLE, encode


class BlankSource:
    """A FrameSource of black frames (the replay backend never looks at pixels)."""

    def __init__(self, num_frames: int, size: tuple[int, int], name: str = "blank") -> None:
        self.num_frames, self._size, self.path, self.fps = num_frames, size, name, 25.0

    def __len__(self) -> int:
        return self.num_frames

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def input_size(self) -> tuple[int, int]:
        return self._size

    def frame(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_frames:
            raise IndexError(index)
        return np.zeros((*self._size, 3), np.uint8)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.path}:{self.num_frames}:{self._size}".encode()).hexdigest()

    def close(self) -> None:
        pass


def box(size: tuple[int, int], y: int, x: int, h: int, w: int) -> RLE:
    m = np.zeros(size, bool)
    m[max(y, 0):max(y + h, 0), max(x, 0):max(x + w, 0)] = True
    return encode(m)[0]
