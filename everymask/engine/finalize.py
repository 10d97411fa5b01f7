"""Turn the store's per-key-frame masks and id merges into final tracks.

Two streaming passes over the frames (memory bounded by one frame's masks plus per-track
counters): the first finds each track's extent, the second writes one mask per track per frame
with final ids 1..N in order of first appearance and accumulates the part-of hierarchy.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..config import RunConfig
from ..masks import union_area
from ..store import RunStore, TrackRow
from .associate import pick_representatives, resolve_ids
from .hierarchy import PartOfCounter
from .schedule import PID_BASE, origin_of


@dataclass
class _Extent:
    first: int
    last: int
    count: int = 0
    area_sum: float = 0.0
    max_area: int = 0


def finalize(store: RunStore, config: RunConfig, num_frames: int, size: tuple[int, int]) -> int:
    """Write the `tracks` and `track_masks` tables; returns the number of tracks."""
    gen_scores = store.generated_scores()
    root_of = resolve_ids(sorted(gen_scores), store.merges(), keys_of=lambda pid: (origin_of(pid),))
    scores: dict[int, list[float]] = defaultdict(list)
    for pid, score in gen_scores.items():
        scores[root_of[pid]].append(score)

    def frame_selection(frame: int) -> tuple[list[tuple[int, bytes]], list[int]]:
        rows = [r for r in store.frame_rows(frame, size) if r.pid in root_of]
        if not rows:
            return [], []
        pids = np.array([r.pid for r in rows], np.int64)
        roots = np.array([root_of[p] for p in pids.tolist()], np.int64)
        keep = pick_representatives(pids, np.array([r.direction for r in rows]), roots, pids // PID_BASE, frame)
        return [(rows[i].area, rows[i].rle["counts"]) for i in keep], roots[keep].tolist()

    return write_final_tracks(store, config, num_frames, size, frame_selection,
                              score_of=lambda root: float(np.mean(scores[root])),
                              roots_of=lambda track_of: {tid: root for root, tid in track_of.items()})


def write_final_tracks(store: RunStore, config: RunConfig, num_frames: int, size: tuple[int, int],
                       frame_selection: Callable[[int], tuple[list[tuple[int, bytes]], list[int]]],
                       score_of: Callable[[int], float],
                       roots_of: Callable[[dict[int, int]], dict[int, int]]) -> int:
    """Number and write the tracks that `frame_selection` gives frame by frame; returns their count.

    `frame_selection(frame)` -> ((area, RLE counts) of the one mask kept per track, the track's
    group key (an int that orders equal first frames)). Used by `finalize` and by the windowed
    executors' stitching, so both number tracks, drop small ones, and compute the part-of
    hierarchy and coverage the same way.
    """
    extents: dict[int, _Extent] = {}
    for frame in range(num_frames):
        rows, groups = frame_selection(frame)
        for (area, _), g in zip(rows, groups):
            e = extents.get(g)
            if e is None:
                e = extents[g] = _Extent(frame, frame)
            e.last = frame
            e.count += 1
            e.area_sum += area
            e.max_area = max(e.max_area, area)

    min_px = config.min_track_area * size[0] * size[1]
    kept = sorted((e.first, g) for g, e in extents.items() if e.max_area >= min_px)
    track_of = {g: n + 1 for n, (_, g) in enumerate(kept)}
    hierarchy = PartOfCounter(num_frames, config.part_inside)
    coverage = np.zeros(num_frames)

    def track_mask_rows() -> Iterator[tuple[int, int, int, bytes]]:
        for frame in range(num_frames):
            rows, groups = frame_selection(frame)
            tids, rles, areas = [], [], []
            for (area, counts), g in zip(rows, groups):
                tid = track_of.get(g)
                if tid is not None:
                    tids.append(tid)
                    rles.append({"size": list(size), "counts": counts})
                    areas.append(area)
                    yield tid, frame, area, counts
            hierarchy.add_frame(frame, tids, rles, np.asarray(areas))
            coverage[frame] = union_area(rles) / (size[0] * size[1])

    def tracks() -> list[TrackRow]:
        parents = hierarchy.parents(config.part_frames, config.part_max_ratio)
        out = []
        for g, tid in sorted(track_of.items(), key=lambda kv: kv[1]):
            e = extents[g]
            out.append(TrackRow(tid, e.first, e.last, e.count, score_of(g), e.area_sum / e.count, parents.get(tid)))
        return out

    store.write_tracks(track_mask_rows(), tracks, roots_of(track_of))
    store.set_meta({"coverage": [round(float(c), 4) for c in coverage]})
    return len(track_of)
