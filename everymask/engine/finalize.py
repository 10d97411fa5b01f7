"""Turn the store's per-key-frame masks and id merges into final tracks.

Two streaming passes over the frames (memory bounded by one frame's masks plus per-track
counters): the first finds each track's extent, the second writes one mask per track per frame
with final ids 1..N in order of first appearance and accumulates the part-of hierarchy.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

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
    root_of = resolve_ids(sorted(gen_scores), store.merges(), key_of=origin_of)
    scores: dict[int, list[float]] = defaultdict(list)
    for pid, score in gen_scores.items():
        scores[root_of[pid]].append(score)

    def frame_selection(frame: int):
        rows = store.frame_rows(frame, size)
        rows = [r for r in rows if r.pid in root_of]
        if not rows:
            return [], np.zeros(0, np.int64)
        pids = np.array([r.pid for r in rows], np.int64)
        roots = np.array([root_of[p] for p in pids.tolist()], np.int64)
        keep = pick_representatives(pids, np.array([r.direction for r in rows]), roots, pids // PID_BASE, frame)
        return [rows[i] for i in keep], roots[keep]

    extents: dict[int, _Extent] = {}
    for frame in range(num_frames):
        rows, roots = frame_selection(frame)
        for row, root in zip(rows, roots.tolist()):
            e = extents.get(root)
            if e is None:
                e = extents[root] = _Extent(frame, frame)
            e.last = frame
            e.count += 1
            e.area_sum += row.area
            e.max_area = max(e.max_area, row.area)

    min_px = config.min_track_area * size[0] * size[1]
    kept = sorted((e.first, root) for root, e in extents.items() if e.max_area >= min_px)
    track_of = {root: n + 1 for n, (_, root) in enumerate(kept)}
    hierarchy = PartOfCounter(num_frames, config.part_inside)
    coverage = np.zeros(num_frames)

    def track_mask_rows():
        for frame in range(num_frames):
            rows, roots = frame_selection(frame)
            tids, rles, areas = [], [], []
            for row, root in zip(rows, roots.tolist()):
                tid = track_of.get(root)
                if tid is not None:
                    tids.append(tid)
                    rles.append(row.rle)
                    areas.append(row.area)
                    yield tid, frame, row.area, row.rle["counts"]
            hierarchy.add_frame(frame, tids, rles, np.asarray(areas))
            coverage[frame] = union_area(rles) / (size[0] * size[1])

    def tracks() -> list[TrackRow]:
        parents = hierarchy.parents(config.part_frames, config.part_max_ratio)
        out = []
        for root, tid in sorted(track_of.items(), key=lambda kv: kv[1]):
            e = extents[root]
            out.append(TrackRow(tid, e.first, e.last, e.count, float(np.mean(scores[root])),
                                e.area_sum / e.count, parents.get(tid)))
        return out

    store.write_tracks(track_mask_rows(), tracks, {tid: root for root, tid in track_of.items()})
    store.set_meta({"coverage": [round(float(c), 4) for c in coverage]})
    return len(track_of)
