"""Export filters: `--top-k N` masks per frame, `--wholes-only`, `--min-length F`.

A `FilteredRun` is the run as the exporters see it with the filters applied, with the same
methods as `Run` (tracks, track_masks, frame_masks), so every format filters the same way and no
writer knows about filters. Evaluations that keep a fixed number of detections (COCO keeps 100
per image, YouTube-VIS 100 per video) then keep the best-scored ones, not arbitrary ones.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterator

import numpy as np

from ..errors import EverymaskError
from ..masks import RLE, Masks
from ..run import Run, Track


@dataclass(frozen=True)
class ExportFilter:
    """`top_k`: keep the k best-scored masks of each frame (0: all); `wholes_only`: only the roots of
    the part-of tree; `min_length`: only tracks present on at least this fraction of the frames."""

    top_k: int = 0
    wholes_only: bool = False
    min_length: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 0:
            raise EverymaskError(f"--top-k {self.top_k!r} is invalid: must be an integer >= 0 (0 keeps every mask)")
        if not isinstance(self.min_length, (int, float)) or not 0.0 <= self.min_length <= 1.0:
            raise EverymaskError(f"--min-length {self.min_length!r} is invalid: must be a fraction of the video's "
                                 "frames in [0, 1]")

    @property
    def active(self) -> bool:
        return bool(self.top_k or self.wholes_only or self.min_length)


def apply_filter(run: Run, flt: ExportFilter) -> Run:
    """`run` itself when no filter is set, else a `FilteredRun` over it."""
    return FilteredRun(run, flt) if flt.active else run  # type: ignore[return-value]


class FilteredRun:
    """A `Run` with tracks and masks filtered; everything else (sizes, source, store) is the run's."""

    def __init__(self, run: Run, flt: ExportFilter) -> None:
        self._run, self.filter = run, flt
        tracks = run.tracks()
        min_frames = flt.min_length * run.num_frames
        kept = {t.track_id for t in tracks
                if (t.parent is None or not flt.wholes_only) and t.num_frames >= min_frames}
        self._frames: dict[int, set[int]] | None = None  # frame -> track ids kept there (top-k only)
        if flt.top_k:
            score = {t.track_id: t.score for t in tracks}
            self._frames, seen = {}, {}
            for frame in range(run.num_frames):
                masks = run.frame_masks(frame)
                ids = [tid for tid in masks.ids.tolist() if tid in kept]
                best = sorted(ids, key=lambda tid: (-score[tid], tid))[:flt.top_k]
                self._frames[frame] = set(best)
                areas = dict(zip(masks.ids.tolist(), masks.areas.tolist()))
                for tid in best:
                    s = seen.setdefault(tid, [frame, frame, 0, 0.0])
                    s[1], s[2], s[3] = frame, s[2] + 1, s[3] + areas[tid]
            tracks = [replace(t, first=seen[t.track_id][0], last=seen[t.track_id][1],
                              num_frames=seen[t.track_id][2], mean_area=seen[t.track_id][3] / seen[t.track_id][2])
                      for t in tracks if t.track_id in seen]
            kept &= set(seen)
        parent = {t.track_id: t.parent for t in run.tracks()}

        def kept_ancestor(tid: int) -> int | None:
            p, hops = parent.get(tid), 0
            while p is not None and p not in kept and hops <= len(parent):
                p, hops = parent.get(p), hops + 1
            return p if p in kept else None

        self._tracks = [replace(t, parent=kept_ancestor(t.track_id)) for t in tracks if t.track_id in kept]
        self._kept = kept

    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def track_masks(self, track_id: int) -> Iterator[tuple[int, RLE]]:
        if track_id not in self._kept:
            return
        for frame, rle in self._run.track_masks(track_id):
            if self._frames is None or track_id in self._frames[frame]:
                yield frame, rle

    def frame_masks(self, frame: int) -> Masks:
        masks = self._run.frame_masks(frame)
        allowed = self._kept if self._frames is None else self._frames[frame]
        return masks.select(np.array([tid in allowed for tid in masks.ids.tolist()], bool))

    def __getattr__(self, name: str) -> Any:  # dir, source, num_frames, sizes, fps, config, store, summary
        return getattr(self._run, name)
