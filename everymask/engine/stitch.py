"""Stitch the tracks of windows into one set of tracks with ids 1..N by first appearance.

Adjacent windows both hold masks on their shared key frame. Their tracks there are matched
one-to-one by IoU (Hungarian, > match_iou), the association the engine uses inside a window; a
deterministic generator makes the generated masks identical (IoU 1), but matching by IoU keeps
this right for any backend, and also joins an object the generator missed on the shared key
frame (one window's forward arrival meets the other's backward arrival there).

Then the same two streaming passes as `finalize`: per frame one mask per track (the one
propagated over the fewest frames), extents, ids by first appearance (ties broken by the
smallest provisional id, as finalize does), and the part-of hierarchy. Everything is keyed by
window index and frame, so the result never depends on which worker ran a window or when it
finished.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..config import RunConfig
from ..store import GENERATED, RunStore
from ..timing import StageTimer
from .associate import Thresholds, match, resolve_ids, staged_pairs
from .finalize import FrameRows, empty_rows, write_final_tracks
from .schedule import origin_of
from .track_graph import TrackGraph
from .windows import Window

# (window index, window-local root pid, pid, direction, area, RLE counts)
StitchRow = tuple[int, int, int, int, int, bytes]


@dataclass
class Stitch:
    """The joins between windows' tracks, and where a halo track stops counting.

    `edges`: ((w, root), (w + 1, root'), iou). `cut_after` / `cut_before`: a window track whose
    halo arrival matched the neighbour's mask on key frame h ends its halo there (frames after h,
    or before h going backward, are dropped), as the whole-video run stops carrying a mask once
    it is matched.
    """

    edges: list[tuple[tuple[int, int], tuple[int, int], float]]
    cut_after: dict[tuple[int, int], int]
    cut_before: dict[tuple[int, int], int]

    def keeps(self, row: StitchRow, frame: int) -> bool:
        node = (row[0], row[1])
        return frame <= self.cut_after.get(node, frame) and frame >= self.cut_before.get(node, frame)


def stitch_edges(windows: Sequence[Window], frame_rows: Callable[[int], list[StitchRow]],
                 size: tuple[int, int], thresholds: Thresholds) -> Stitch:
    """Joins between adjacent windows, on the shared key frame and the halo key frames:

    - the shared key frame: all of both windows' masks there (generated masks meet, and an object
      the generator missed there meets itself as one window's forward and the other's backward
      arrival);
    - each halo key frame, nearest first: a window's halo arrivals not matched yet against the
      neighbour's generated masks, the match the whole-video run makes when it carries them on.
    """
    out = Stitch([], {}, {})

    def join(frame: int, left: Window, right: Window, keep_a, keep_b, halo: str = "") -> list[tuple[int, int]]:
        """Pairs of (left, right) window tracks meeting on `frame`: one to one on the shared key frame;
        on a halo key frame, the staged association of the halo's arrivals with the generated masks."""
        rows = frame_rows(frame)
        a = [r for r in rows if r[0] == left.index and keep_a(r)]
        b = [r for r in rows if r[0] == right.index and keep_b(r)]
        rles_a = [{"size": list(size), "counts": r[5]} for r in a]
        rles_b = [{"size": list(size), "counts": r[5]} for r in b]
        if halo == "after":
            pairs = staged_pairs(rles_a, rles_b, thresholds)
        elif halo == "before":
            pairs = [(i, j, iou) for j, i, iou in staged_pairs(rles_b, rles_a, thresholds)]
        else:
            pairs = match(rles_a, rles_b, thresholds.match)
        out.edges.extend(((left.index, a[i][1]), (right.index, b[j][1]), iou) for i, j, iou in pairs)
        return [((left.index, a[i][1]), (right.index, b[j][1])) for i, j, _ in pairs]

    def every(r: StitchRow) -> bool:
        return True

    def generated(r: StitchRow) -> bool:
        return r[3] == GENERATED

    for left, right in zip(windows, windows[1:]):
        if left.last != right.first:
            continue  # not neighbours (a window is missing after a time budget)
        join(left.last, left, right, every, every)
        for h in left.after:
            for node, _ in join(h, left, right, lambda r: (r[0], r[1]) not in out.cut_after, generated, "after"):
                out.cut_after[node] = h
        for h in right.before:
            for _, node in join(h, left, right, generated, lambda r: (r[0], r[1]) not in out.cut_before, "before"):
                out.cut_before[node] = h
    return out


def components(nodes: Sequence[tuple[int, int]], edges, keys_of: dict[tuple[int, int], set[int]]
               ) -> dict[tuple[int, int], tuple[int, int]]:
    """{(window, root): key of its stitched track}; the key is the member with the smallest pid
    (then window), so it equals finalize's root when generation is deterministic.

    As in `resolve_ids`, edges go strongest first and one that would give a track two generated
    masks on one key frame (`keys_of`: the key frames a window track owns) is refused, so the
    result does not depend on the order windows finished.
    """
    return resolve_ids(nodes, edges, keys_of=lambda n: keys_of.get(n, ()), rank=lambda n: (n[1], n[0]))


def owned_keys(windows: Sequence[Window], window_tracks: dict[tuple[int, int], dict[int, float]]
               ) -> dict[tuple[int, int], set[int]]:
    """Key frames where a window track has its own generated mask; the shared key frame belongs
    to the later window, so the same object generated by both windows there is no conflict."""
    last_index = max((w.index for w in windows), default=-1)
    shared = {w.index: w.last for w in windows if w.index != last_index}
    return {node: {origin_of(p) for p in gen} - {shared.get(node[0])} for node, gen in window_tracks.items()}


def finalize_windows(store: RunStore, config: RunConfig, num_frames: int, size: tuple[int, int], fps: float,
                     windows: Sequence[Window], window_tracks: dict[tuple[int, int], dict[int, float]],
                     frame_rows: Callable[[int], list[StitchRow]], timer: StageTimer | None = None) -> int:
    """Write the `tracks` and `track_masks` tables from stitched windows; returns the number of tracks.

    `timer` gets "stitch" (the joins: the overhead of windows) and "finalize" (the passes the
    single-process run does too) apart, so the cost of distributing shows in the summary.
    """
    timer = timer or StageTimer()
    with timer.stage("stitch"):
        stitch = stitch_edges(windows, frame_rows, size, Thresholds(config.match_iou, config.second_iou,
                                                                         config.copy_iou))
        owned = owned_keys(windows, window_tracks)
        comp = components(sorted(window_tracks), stitch.edges, owned)
    with timer.stage("finalize"):
        return _write(store, config, num_frames, size, fps, window_tracks,
                      lambda t: [r for r in frame_rows(t) if stitch.keeps(r, t)], comp, owned)


def _write(store: RunStore, config: RunConfig, num_frames: int, size: tuple[int, int], fps: float,
           window_tracks: dict[tuple[int, int], dict[int, float]], frame_rows: Callable[[int], list[StitchRow]],
           comp: dict[tuple[int, int], tuple[int, int]], owned: dict[tuple[int, int], set[int]]) -> int:
    """finalize's passes over the stitched tracks (`finalize.write_final_tracks`); the identity graph's
    nodes are the stitched tracks, numbered in the order of their keys."""
    gen: dict[tuple[int, int], dict[int, float]] = defaultdict(dict)
    keys_of: dict[tuple[int, int], set[int]] = defaultdict(set)
    for node, scores in window_tracks.items():
        gen[comp[node]].update(scores)   # keyed by pid: the shared key frame's masks count once
        keys_of[comp[node]] |= owned.get(node, set())
    keys = sorted(set(comp.values()), key=lambda n: (n[1], n[0]))
    index_of = {k: n for n, k in enumerate(keys)}
    graph = TrackGraph(keys_of=lambda g: keys_of[keys[g]])
    for g in range(len(keys)):
        graph.add(g)

    def rows_of(frame: int) -> FrameRows:
        rows = [r for r in frame_rows(frame) if (r[0], r[1]) in comp]
        if not rows:
            return empty_rows()
        return FrameRows(np.array([index_of[comp[(r[0], r[1])]] for r in rows], np.int64),
                         np.array([r[2] for r in rows], np.int64), np.array([r[3] for r in rows], np.int64),
                         np.array([r[4] for r in rows], np.int64), [r[5] for r in rows])

    def roots_of(track_of: dict[int, int]) -> dict[int, int]:
        roots, used = {}, set()
        for g, tid in track_of.items():
            root = keys[g][1]
            # a non-deterministic generator may reuse a pid for another object in the next window
            roots[tid] = root if root not in used else -tid
            used.add(roots[tid])
        return roots

    scores: dict[int, list[float]] = {}

    def score_of(root: int) -> float:
        if not scores:
            for g, key in enumerate(keys):
                scores.setdefault(graph.find(g), []).extend(gen[key].values())
        return float(np.mean(scores.get(root) or [0.0]))

    return write_final_tracks(store, config, num_frames, size, fps, rows_of, graph, score_of, roots_of,
                              descriptors_of=store.descriptors)
