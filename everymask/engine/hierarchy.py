"""Part-of relations between tracks: A is part of B when A lies inside B on most frames where both
are visible and A is clearly smaller. Accumulated frame by frame, so memory stays bounded."""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

from ..masks import RLE, intersection_matrix


class PartOfCounter:
    """Counts, per pair of tracks, the frames where one lies inside the other.

    Visibility is kept as runs of consecutive frames per track, not as a `num_frames` array per
    track: tracks are mostly visible in one run, so memory follows the number of tracks and not
    tracks x video length (10k tracks of an hour at 30 fps would be 1 GB of flags).
    """

    def __init__(self, num_frames: int, inside: float) -> None:
        self.inside = inside
        self.num_frames = num_frames
        self.inside_frames: dict[tuple[int, int], int] = defaultdict(int)
        self.visible: dict[int, list[list[int]]] = {}  # track -> [[first, last], ...] ascending
        self.area_sum: dict[int, float] = defaultdict(float)

    def add_frame(self, frame: int, track_ids: Sequence[int], rles: Sequence[RLE], areas: np.ndarray) -> None:
        """Frames must come in ascending order (finalize streams them so)."""
        for tid, area in zip(track_ids, areas):
            runs = self.visible.get(tid)
            if runs is None:
                self.visible[tid] = [[frame, frame]]
            elif runs[-1][1] >= frame - 1:
                runs[-1][1] = max(runs[-1][1], frame)
            else:
                runs.append([frame, frame])
            self.area_sum[tid] += float(area)
        if len(rles) < 2:
            return
        inter = intersection_matrix(rles, rles)
        np.fill_diagonal(inter, 0)
        a_idx, b_idx = np.nonzero(inter >= self.inside * np.asarray(areas, float)[:, None])
        for a, b in zip(a_idx.tolist(), b_idx.tolist()):
            if areas[a] > 0:
                self.inside_frames[(int(track_ids[a]), int(track_ids[b]))] += 1

    def parents(self, min_frames_fraction: float, max_area_ratio: float) -> dict[int, int]:
        """{part: parent}: the smallest whole that each part lies inside."""
        mean_area = {t: self.area_sum[t] / max(_count(v), 1) for t, v in self.visible.items()}
        best: dict[int, tuple[float, int]] = {}
        for (a, b), n_inside in sorted(self.inside_frames.items()):
            if mean_area[a] > max_area_ratio * mean_area[b]:
                continue
            both = _overlap(self.visible[a], self.visible[b])
            if both == 0 or n_inside < min_frames_fraction * both:
                continue
            key = (mean_area[b], b)
            if a not in best or key < best[a]:
                best[a] = key
        return {a: b for a, (_, b) in best.items()}


def _count(runs: list[list[int]]) -> int:
    return sum(last - first + 1 for first, last in runs)


def _overlap(a: list[list[int]], b: list[list[int]]) -> int:
    """Frames in both run lists (each ascending and disjoint): a merge walk."""
    i = j = n = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi >= lo:
            n += hi - lo + 1
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return n


def depths(parents: dict[int, int | None]) -> dict[int, int]:
    """Depth of each track in the part-of forest (0 = a whole)."""
    out: dict[int, int] = {}

    def depth(t: int, seen: frozenset = frozenset()) -> int:
        if t in out:
            return out[t]
        p = parents.get(t)
        d = 0 if p is None or p in seen else depth(p, seen | {t}) + 1
        out[t] = d
        return d

    for t in parents:
        depth(t)
    return out
