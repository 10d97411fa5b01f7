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
    def generate(self, frame_index: int, image: np.ndarray, prior: Masks | None = None) -> Masks:
        """All masks of one key frame ("everything" mode), any order, ids 0..n-1, with scores.

        `prior`: the masks the engine tracked into this frame from the previous key frame (its
        forward arrivals), or None. A generator may use them as hints so that it finds the same
        regions again where the image still supports them (the engine only links a key frame's
        masks to the tracks that arrive there when it re-finds them); it may also ignore them.
        """
        ...


class Propagator(Protocol):
    def propagate(self, source: FrameSource, start: int, stop: int, seeds: Masks) -> Iterator[tuple[int, Masks]]:
        """Track `seeds` (masks of frame `start`) to frame `stop`, inclusive, in either direction.

        Yields (t, masks) for every t strictly after `start` up to `stop`, in order of travel,
        each with the seed ids it still has (an empty mask may be left out). All seeds go
        through in one batched pass; a frame is visited once.
        """
        ...


class MaskDescriber(Protocol):
    def describe(self, frame_index: int, image: np.ndarray, masks: Masks) -> np.ndarray:
        """One appearance descriptor per mask: N x D float32, each row L2-normalised (D fixed per backend).

        The engine compares descriptors by cosine similarity to give a track that ended (left
        the frame, was occluded) its id back when its object is found again later. A row of
        zeros means "no appearance known" and never matches.
        """
        ...


@dataclass
class Backend:
    """A generator and a propagator that belong together, with counters the benchmarks read.

    `describer` (optional): appearance descriptors for re-identification; without one the engine
    re-identifies by position and size only.
    """

    name: str
    generator: MaskGenerator
    propagator: Propagator
    stats: Callable[[], dict[str, Any]] = field(default=lambda: {})
    close: Callable[[], None] = field(default=lambda: None)
    describer: MaskDescriber | None = None
