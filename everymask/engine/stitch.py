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
from ..masks import Masks
from .finalize import write_final_tracks
from .schedule import origin_of
from .track_graph import TrackGraph
from .windows import Window

# a frame's window masks (RunStore.window_frame_masks): ids = window-local roots, data window, pid, direction
FrameMasks = Callable[[int], Masks]


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

    def kept(self, masks: Masks, frame: int) -> Masks:
        """The masks of `frame` that still count: a halo track's masks past its cut are dropped."""
        return masks.select(np.array([self.cut_before.get(node, frame) <= frame <= self.cut_after.get(node, frame)
                                      for node in nodes_of(masks)], bool))


def nodes_of(masks: Masks) -> list[tuple[int, int]]:
    """(window, window-local root) of each mask: the nodes the stitcher joins."""
    return list(zip(masks.data["window"].tolist(), masks.ids.tolist()))


def _side(masks: Masks, window: int, keep: Callable[[tuple[int, int], int], bool]) -> Masks:
    """The masks of one window that `keep(node, direction)` takes."""
    return masks.select(np.array([w == window and keep(node, d) for node, w, d in
                                  zip(nodes_of(masks), masks.data["window"].tolist(),
                                      masks.data["direction"].tolist())], bool))


def stitch_edges(windows: Sequence[Window], frame_masks: FrameMasks, thresholds: Thresholds) -> Stitch:
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
        masks = frame_masks(frame)
        a, b = _side(masks, left.index, keep_a), _side(masks, right.index, keep_b)
        if halo == "after":
            pairs = staged_pairs(a.rles, b.rles, thresholds)
        elif halo == "before":
            pairs = [(i, j, iou) for j, i, iou in staged_pairs(b.rles, a.rles, thresholds)]
        else:
            pairs = match(a.rles, b.rles, thresholds.match)
        out.edges.extend(((left.index, int(a.ids[i])), (right.index, int(b.ids[j])), iou) for i, j, iou in pairs)
        return [((left.index, int(a.ids[i])), (right.index, int(b.ids[j]))) for i, j, _ in pairs]

    def every(node: tuple[int, int], direction: int) -> bool:
        return True

    def generated(node: tuple[int, int], direction: int) -> bool:
        return direction == GENERATED

    for left, right in zip(windows, windows[1:]):
        if left.last != right.first:
            continue  # not neighbours (a window is missing after a time budget)
        join(left.last, left, right, every, every)
        for h in left.after:
            for node, _ in join(h, left, right, lambda node, d: node not in out.cut_after, generated, "after"):
                out.cut_after[node] = h
        for h in right.before:
            for _, node in join(h, left, right, generated, lambda node, d: node not in out.cut_before, "before"):
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
                     frame_masks: FrameMasks, timer: StageTimer | None = None) -> int:
    """Write the `tracks` and `track_masks` tables from stitched windows; returns the number of tracks.

    `timer` gets "stitch" (the joins: the overhead of windows) and "finalize" (the passes the
    single-process run does too) apart, so the cost of distributing shows in the summary.
    """
    timer = timer or StageTimer()
    with timer.stage("stitch"):
        stitch = stitch_edges(windows, frame_masks, Thresholds(config.match_iou, config.second_iou, config.copy_iou))
        owned = owned_keys(windows, window_tracks)
        comp = components(sorted(window_tracks), stitch.edges, owned)
    with timer.stage("finalize"):
        return _write(store, config, num_frames, size, fps, window_tracks,
                      lambda t: stitch.kept(frame_masks(t), t), comp, owned)


def _write(store: RunStore, config: RunConfig, num_frames: int, size: tuple[int, int], fps: float,
           window_tracks: dict[tuple[int, int], dict[int, float]], frame_masks: FrameMasks,
           comp: dict[tuple[int, int], tuple[int, int]], owned: dict[tuple[int, int], set[int]]) -> int:
    """finalize's passes over the stitched tracks (`finalize.write_final_tracks`); the identity graph's
    nodes are the stitched tracks, numbered in the order of their keys."""
    keys_of: dict[tuple[int, int], set[int]] = defaultdict(set)
    for node in window_tracks:
        keys_of[comp[node]] |= owned.get(node, set())
    keys = sorted(set(comp.values()), key=lambda n: (n[1], n[0]))
    index_of = {k: n for n, k in enumerate(keys)}
    graph = TrackGraph(keys_of=lambda g: keys_of[keys[g]])
    for g in range(len(keys)):
        graph.add(g)

    def stitched_masks(frame: int) -> Masks:
        """The frame's window masks with ids = their stitched track's node in `graph`."""
        masks = frame_masks(frame)
        nodes = nodes_of(masks)
        masks = masks.select(np.array([n in comp for n in nodes], bool))
        return masks.with_ids([index_of[comp[n]] for n in nodes if n in comp])

    def roots_of(track_of: dict[int, int]) -> dict[int, int]:
        roots, used = {}, set()
        for g, tid in track_of.items():
            root = keys[g][1]
            # a non-deterministic generator may reuse a pid for another object in the next window
            roots[tid] = root if root not in used else -tid
            used.add(roots[tid])
        return roots

    return write_final_tracks(store, config, num_frames, size, fps, stitched_masks, graph, roots_of,
                              descriptors_of=store.descriptors)
