"""A backend that replays known masks: the engine's exact test bench.

The generator returns the ground-truth masks present on a key frame (minus any listed as
missed); the propagator follows each seed's ground-truth object. With it, every id, merge and
frame range the engine produces can be predicted exactly.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ..masks import RLE, Masks, iou_matrix
from ..video.base import FrameSource
from ..backends.base import Backend


class ReplayBackend:
    """`truth[track][frame]` = RLE where the object is visible; `missed` = {(track, frame)} not generated."""

    def __init__(self, truth: dict[int, dict[int, RLE]], size: tuple[int, int],
                 missed: set[tuple[int, int]] = frozenset()) -> None:
        self.truth, self.size, self.missed = truth, size, set(missed)
        self.generated_frames: list[int] = []
        self.propagations: list[tuple[int, int, int]] = []  # (start, stop, number of seeds)

    def generate(self, frame_index: int, image: np.ndarray, prior: Masks | None = None) -> Masks:
        self.generated_frames.append(frame_index)
        tracks = [t for t in sorted(self.truth) if frame_index in self.truth[t] and (t, frame_index) not in self.missed]
        return Masks(size=self.size, ids=np.arange(len(tracks)), rles=[self.truth[t][frame_index] for t in tracks],
                     scores=np.ones(len(tracks)))

    def propagate(self, source: FrameSource, start: int, stop: int, seeds: Masks) -> Iterator[tuple[int, Masks]]:
        self.propagations.append((start, stop, len(seeds)))
        present = [t for t in sorted(self.truth) if start in self.truth[t]]
        iou = iou_matrix(seeds.rles, [self.truth[t][start] for t in present])
        follow = [present[int(iou[n].argmax())] if iou.shape[1] and iou[n].max() >= 0.5 else None
                  for n in range(len(seeds))]
        step = 1 if stop >= start else -1
        for t in range(start + step, stop + step, step):
            keep = [n for n, tr in enumerate(follow) if tr is not None and t in self.truth[tr]]
            yield t, Masks(size=self.size, ids=seeds.ids[keep], rles=[self.truth[follow[n]][t] for n in keep],
                           scores=seeds.scores[keep])

    def backend(self) -> Backend:
        return Backend("replay", self, self)
