"""The two protocols a backend implements, and the `Backend` pair the engine is handed.

The engine knows nothing about torch or models; a backend knows nothing about the store or the
schedule: it maps frames and seed masks to masks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from ..masks import Masks
from ..video.base import FrameSource


class MaskGenerator(Protocol):
    def generate(self, frame_index: int, image: np.ndarray) -> Masks:
        """All masks of one key frame ("everything" mode), any order, ids 0..n-1, with scores."""
        ...


class Propagator(Protocol):
    def propagate(self, source: FrameSource, start: int, stop: int, seeds: Masks) -> Iterator[tuple[int, Masks]]:
        """Track `seeds` (masks of frame `start`) to frame `stop`, inclusive, in either direction.

        Yields (t, masks) for every t strictly after `start` up to `stop`, in order of travel,
        each with the seed ids it still has (an empty mask may be left out). All seeds go
        through in one batched pass; a frame is visited once.
        """
        ...


@dataclass
class Backend:
    """A generator and a propagator that belong together, with counters the benchmarks read."""

    name: str
    generator: MaskGenerator
    propagator: Propagator
    stats: Callable[[], dict[str, Any]] = field(default=lambda: {})
    close: Callable[[], None] = field(default=lambda: None)
