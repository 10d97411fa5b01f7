"""Turn the store's masks and id merges into final tracks: one id per thing.

Streaming passes over the frames (memory bounded by one frame's masks plus per-track summaries):

1. identity: the runner's merges are replayed in the order they were decided (the runner's own
   track graph, rebuilt); then, frame by frame, two tracks whose masks overlap above `copy_iou`
   are one thing: their ids join where the cannot-links allow it, otherwise the younger ends
   there. The same pass records each track's first and last masks and the camera's motion;
2. re-identification (engine/reid.py): a track that ended takes its id back when a track that
   starts within `reid_seconds` is its object found again;
3. extents: each track's first and last frame, its area, which frames it is on;
4. write: one mask per track per frame with final ids 1..N in order of first appearance, the
   part-of hierarchy and coverage.
Passes 3 and 4 also drop, on any frame, the younger of two masks still above `copy_iou` (a
guarantee, rarely needed after pass 1), so tracks.json never holds two copies of one thing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..config import RunConfig
from ..masks import Masks, union_area
from ..store import GENERATED, RunStore, TrackRow
from .associate import pick_representatives
from .copies import copy_pairs
from .hierarchy import PartOfCounter
from .reid import CameraPath, TrackEnds, reid_links
from .runner import track_graph
from .schedule import PID_BASE
from .track_score import score_tracks
from .track_graph import TrackGraph


@dataclass
class _Extent:
    first: int
    last: int
    count: int = 0
    area_sum: float = 0.0
    max_area: int = 0


def finalize(store: RunStore, config: RunConfig, num_frames: int, size: tuple[int, int], fps: float) -> int:
    """Write the `tracks` and `track_masks` tables; returns the number of tracks."""
    gen_scores = store.generated_scores()
    graph = track_graph()
    for pid in sorted(gen_scores):
        graph.add(pid)
    graph.replay(store.merges())

    def frame_masks(frame: int) -> Masks:
        masks = store.frame_masks(frame, size)
        masks = masks.select(np.array([p in gen_scores for p in masks.ids.tolist()], bool))
        return masks.with_data(pid=masks.ids)

    return write_final_tracks(store, config, num_frames, size, fps, frame_masks, graph,
                              roots_of=lambda track_of: {tid: root for root, tid in track_of.items()},
                              descriptors_of=store.descriptors)


def write_final_tracks(store: RunStore, config: RunConfig, num_frames: int, size: tuple[int, int], fps: float,
                       frame_masks: Callable[[int], Masks], graph: TrackGraph,
                       roots_of: Callable[[dict[int, int]], dict[int, int]],
                       descriptors_of: Callable[[list[int]], dict[int, np.ndarray]] = lambda pids: {}) -> int:
    """Resolve identities over `graph` (passes 1-2), number and write the tracks (3-4); returns their count.

    `frame_masks(frame)`: the frame's stored masks, ids = nodes of `graph`, `data` pid and direction.
    Used by `finalize` (nodes are provisional ids) and by the windowed executors' stitching (nodes
    are stitched window tracks), so both resolve copies, re-identify, number tracks, drop small
    ones and compute the part-of hierarchy and coverage the same way.
    """
    identity = _IdentityPass(graph, config.copy_iou, size, num_frames)
    for frame in range(num_frames):
        identity.add_frame(frame, frame_masks(frame))
    ended = identity.ended_members()
    links = reid_links(identity.ends, identity.camera,
                       descriptors_of(identity.key_pids()) if config.reid_seconds > 0 else {},
                       int(round(config.reid_seconds * fps)), fps)
    reidentified = sum(graph.join(a, b) for a, b, _ in links)
    first_seen: dict[int, int] = {}
    for r, e in identity.ends.items():
        root = graph.find(r)
        first_seen[root] = min(first_seen.get(root, e.first), e.first)

    guarded: dict[int, np.ndarray] = {}          # frame -> representatives kept after the copy guard
    dropped = [0]

    def final_masks(frame: int) -> tuple[Masks, np.ndarray]:
        """One representative mask per final track, copies of an older track's mask dropped; and their roots."""
        masks = frame_masks(frame)
        if not len(masks):
            return masks, masks.ids
        alive = np.array([ended.get(g, num_frames) > frame for g in masks.ids.tolist()], bool)
        masks = masks.select(alive)
        roots = np.array([graph.find(g) for g in masks.ids.tolist()], np.int64)
        pids = masks.data["pid"]
        keep = pick_representatives(pids, masks.data["direction"], roots, pids // PID_BASE, frame)
        masks, roots = masks.select(keep), roots[keep]
        if frame not in guarded:
            drop = set()
            for i, j, _ in copy_pairs(masks.rles, masks.areas, config.copy_iou):
                if i in drop or j in drop:
                    continue
                drop.add(max((i, j), key=lambda n: (first_seen.get(int(roots[n]), frame), int(roots[n]))))
            guarded[frame] = np.array(sorted(set(range(len(roots))) - drop), np.int64)
            dropped[0] += len(drop)
        keep = guarded[frame]
        return masks.select(keep), roots[keep]

    extents: dict[int, _Extent] = {}
    for frame in range(num_frames):
        masks, roots = final_masks(frame)
        for area, g in zip(masks.areas.tolist(), roots.tolist()):
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
            masks, roots = final_masks(frame)
            tids, rles, areas = [], [], []
            for area, rle, g in zip(masks.areas.tolist(), masks.rles, roots.tolist()):
                tid = track_of.get(g)
                if tid is not None:
                    tids.append(tid)
                    rles.append(rle)
                    areas.append(area)
                    yield tid, frame, area, rle["counts"]
            hierarchy.add_frame(frame, tids, rles, np.asarray(areas))
            coverage[frame] = union_area(rles) / (size[0] * size[1])

    def tracks() -> list[TrackRow]:
        parents = hierarchy.parents(config.part_frames, config.part_max_ratio)
        out = []
        for g, tid in sorted(track_of.items(), key=lambda kv: kv[1]):
            e = extents[g]
            # score 0 until score_tracks below: it reads the tracks' masks as written
            out.append(TrackRow(tid, e.first, e.last, e.count, 0.0, e.area_sum / e.count, parents.get(tid)))
        return out

    store.write_tracks(track_mask_rows(), tracks, roots_of(track_of))
    score_tracks(store, num_frames, size, config.step)  # issue 14: scores that rank (engine/track_score.py)
    store.update_state(coverage=[round(float(c), 4) for c in coverage],
                       identity={"copy_joins": identity.joins, "copy_ends": identity.ends_count,
                                 "reidentified": int(reidentified), "copies_dropped": dropped[0]})
    return len(track_of)


class _IdentityPass:
    """Pass 1: copies join or end, track ends for re-identification, the camera's path."""

    def __init__(self, graph: TrackGraph, copy_iou: float, size: tuple[int, int], num_frames: int) -> None:
        self.graph, self.copy_iou, self.size = graph, copy_iou, size
        self.ended: dict[int, int] = {}              # root (at the time) -> frame its masks stop
        self.ends: dict[int, TrackEnds] = {}         # root -> first / last masks
        self.camera = CameraPath(num_frames)
        self.joins = self.ends_count = 0

    def add_frame(self, frame: int, masks: Masks) -> None:
        if not len(masks):
            return
        graph = self.graph
        roots = np.array([graph.find(g) for g in masks.ids.tolist()], np.int64)
        alive = np.array([int(r) not in self.ended for r in roots.tolist()], bool)
        masks, roots = masks.select(alive), roots[alive]
        pids = masks.data["pid"]
        masks = masks.select(pick_representatives(pids, masks.data["direction"], roots, pids // PID_BASE, frame))
        pids, directions, areas = masks.data["pid"], masks.data["direction"], masks.areas
        for i, j, _ in copy_pairs(masks.rles, areas, self.copy_iou):
            ri, rj = graph.find(int(masks.ids[i])), graph.find(int(masks.ids[j]))
            if ri == rj or ri in self.ended or rj in self.ended:
                continue
            if graph.join(ri, rj):
                self.joins += 1
                root = graph.find(ri)
                other = rj if root == ri else ri
                if other in self.ends:
                    self._absorb(root, self.ends.pop(other))
            else:
                younger = max((ri, rj), key=lambda r: (self.ends[r].first if r in self.ends else frame, r))
                self.ended[younger] = frame
                self.ends_count += 1
        box = masks.boxes
        centres: dict[int, tuple[float, float, float]] = {}
        for n, g in enumerate(masks.ids.tolist()):
            root = graph.find(g)
            if root in self.ended:
                continue
            key = int(pids[n]) if directions[n] == GENERATED else None
            rle = masks.rles[n]
            cx, cy = float(box[n][0] + box[n][2] / 2), float(box[n][1] + box[n][3] / 2)
            self._absorb(root, TrackEnds(frame, frame, box[n], box[n], rle, rle, float(areas[n]), 1, key, key,
                                         [(frame, cx, cy)]))
            centres[root] = (cx, cy, float(np.sqrt(areas[n])))
        self.camera.add_frame(frame, centres)

    def _absorb(self, root: int, part: TrackEnds) -> None:
        if root in self.ends:
            self.ends[root].absorb(part)
        else:
            self.ends[root] = part

    def ended_members(self) -> dict[int, int]:
        """node -> frame from which its masks are dropped, for every member of a track that ended as a
        copy (taken before re-identification joins an ended track to a later one)."""
        graph = self.graph
        return {n: self.ended[graph.find(n)] for n in graph.nodes() if graph.find(n) in self.ended}

    def key_pids(self) -> list[int]:
        """The generated masks whose descriptors re-identification reads."""
        return sorted({k for e in self.ends.values() for k in (e.first_key, e.last_key) if k is not None})
