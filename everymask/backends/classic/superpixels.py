"""Superpixels: the fine regions every classic mask is a union of, and their cache.

Both halves of the classic backend use them: the generator builds its hierarchy over a key
frame's superpixels, and the propagator snaps masks arriving at that key frame to the same ones
(see `flow.py`), which is what makes a re-found region match exactly.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.segmentation import felzenszwalb

from ...bounded_cache import BoundedCache


@dataclass
class Superpixels:
    """Fine regions of one frame at the frame's resolution."""

    labels: np.ndarray              # H x W int32, 0..K-1
    count: int

    @property
    def labels_t(self) -> np.ndarray:
        """W x H copy (the propagator's column-major layout), made once."""
        if getattr(self, "_t", None) is None:
            self._t = np.ascontiguousarray(self.labels.T)
        return self._t


def compute_superpixels(image: np.ndarray, work_side: int = 640) -> Superpixels:
    """Felzenszwalb superpixels, computed at most at `work_side` pixels on the long side.

    Parameters are relative to the frame area so that a 240p and a 720p frame give a similar
    number of regions (~300-600): fine enough for thin parts, coarse enough for a fast hierarchy.
    """
    h, w = image.shape[:2]
    f = min(1.0, work_side / max(h, w))
    small = image if f == 1.0 else cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    area = small.shape[0] * small.shape[1]
    labels = felzenszwalb(small, scale=60.0 * np.sqrt(area / 102240), sigma=0.6,
                          min_size=max(8, int(area * 0.00015)))
    if f != 1.0:
        labels = cv2.resize(labels.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
    labels = np.unique(labels, return_inverse=True)[1].reshape(h, w).astype(np.int32)
    return Superpixels(labels, int(labels.max()) + 1)


class SuperpixelCache:
    """Superpixels by frame index, shared by the generator and the propagator (bounded LRU).

    The engine generates at key frame k and later propagates into k from both sides; snapping
    there needs the same superpixels, so they are computed once per key frame. An entry also
    keeps a checksum of a pixel sample, so a backend reused on another video with the same
    frame numbers recomputes instead of handing back another video's superpixels.
    """

    def __init__(self, capacity: int = 24, work_side: int = 640) -> None:
        self.capacity, self.work_side = capacity, work_side
        self._items: BoundedCache[int, tuple[bytes, Superpixels]] = BoundedCache(max_items=capacity)
        self.computed = self.hits = 0
        self.seconds = 0.0

    def get(self, index: int, image: np.ndarray) -> Superpixels:
        key = hashlib.blake2b(np.ascontiguousarray(image[::7, ::5]).tobytes(), digest_size=8).digest()
        item = self._items.get(index)
        if item is not None and item[0] == key and item[1].labels.shape == image.shape[:2]:
            self.hits += 1
            return item[1]
        t0 = time.perf_counter()
        sp = compute_superpixels(image, self.work_side)
        self.seconds += time.perf_counter() - t0
        self.computed += 1
        self._items.put(index, (key, sp))
        return sp
