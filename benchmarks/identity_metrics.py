"""Identity figures of a run (issue 11), as pure functions on tracks and masks: tests call them.

"One id per thing" fails in a few countable ways, each measured here without ground truth:
  near copies    two tracks holding (almost) the same mask on a frame: one thing, two ids
  short tracks   a thing cut into many short ids (median length, share of tracks of <= 10 frames)
  re-find rate   of a key frame's masks carried forward to the next key frame, the share the
                 generator finds again there; every miss is a new id at the next key frame
and with ground truth, whether a part's track hangs under its object's track (part-of accuracy).
`benchmarks/identity.py` reads runs and ground truth and prints these.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from everymask.masks import RLE, iou_matrix, rle_from_json

Masks = Sequence[tuple[int, RLE]]          # (id, RLE) of the masks of one frame


def key_frames(num_frames: int, step: int) -> list[int]:
    """0, step, 2*step, ... and the last frame (as the run's schedule)."""
    keys = list(range(0, num_frames, step))
    if keys and keys[-1] != num_frames - 1:
        keys.append(num_frames - 1)
    return keys


def blocked_iou(a: Sequence[RLE], b: Sequence[RLE], block: int = 200) -> np.ndarray:
    """IoU matrix in blocks (pycocotools overflows on lists of 256+ RLEs with numpy 2)."""
    out = np.zeros((len(a), len(b)))
    for i in range(0, len(a), block):
        for j in range(0, len(b), block):
            out[i:i + block, j:j + block] = iou_matrix(list(a[i:i + block]), list(b[j:j + block]))
    return out


def frames_of_tracks(tracks: Sequence[dict]) -> list[list[tuple[int, RLE]]]:
    """tracks.json entries -> per frame, the (track id, RLE) of every non-null mask."""
    n = max((len(t["segmentations"]) for t in tracks), default=0)
    frames: list[list[tuple[int, RLE]]] = [[] for _ in range(n)]
    for t in tracks:
        for f, seg in enumerate(t["segmentations"]):
            if seg is not None:
                frames[f].append((t["track_id"], rle_from_json(seg)))
    return frames


def near_copy_shares(frames: Sequence[Masks], thresholds: Iterable[float] = (0.95, 0.9)) -> dict[float, float]:
    """Share of all masks that have another mask on the same frame, under another id, with IoU > thr."""
    thresholds = tuple(thresholds)
    hits = dict.fromkeys(thresholds, 0)
    total = 0
    for masks in frames:
        total += len(masks)
        if len(masks) < 2:
            continue
        ids = np.array([i for i, _ in masks])
        iou = blocked_iou([r for _, r in masks], [r for _, r in masks])
        iou[ids[:, None] == ids[None, :]] = 0.0            # itself (and, defensively, its own id)
        best = iou.max(axis=1)
        for thr in thresholds:
            hits[thr] += int((best > thr).sum())
    return {thr: hits[thr] / total if total else 0.0 for thr in thresholds}


def track_length_stats(tracks: Sequence[dict], short: int = 10) -> dict:
    """Median span (first to last visible frame, inclusive) and the share of tracks visible on <= short frames."""
    spans, counts = [], []
    for t in tracks:
        seen = [f for f, s in enumerate(t["segmentations"]) if s is not None]
        if seen:
            spans.append(seen[-1] - seen[0] + 1)
            counts.append(len(seen))
    if not spans:
        return {"tracks": 0, "median_length": 0.0, "short_share": 0.0}
    return {"tracks": len(spans), "median_length": float(np.median(spans)),
            "short_share": float(np.mean(np.array(counts) <= short))}


def masks_per_frame(frames: Sequence[Masks]) -> dict:
    counts = [len(m) for m in frames]
    return {"mean": float(np.mean(counts)) if counts else 0.0, "max": int(max(counts, default=0))}


def refind(generated: Mapping[int, Masks], arrivals: Mapping[int, Masks], keys: Sequence[int],
           thresholds: Iterable[float] = (0.8, 0.5)) -> dict:
    """Re-find rate over consecutive key frames k -> k'.

    `generated[k]`: (pid, RLE) of the masks generated on key frame k; `arrivals[k']`: (pid, RLE) of
    the forward propagations of k's generated masks that reached k'. Arrivals and k''s generated
    masks are paired one to one by the Hungarian assignment on IoU (as the engine matches); an
    arrival is re-found at thr when its partner overlaps it with IoU >= thr.
    Returns counts summed over all pairs of key frames and the shares (refound / arrived).
    """
    thresholds = tuple(thresholds)
    found = dict.fromkeys(thresholds, 0)
    sent = arrived = 0
    for k, k2 in zip(keys, keys[1:]):
        sent += len(generated.get(k, ()))
        arr, gen = arrivals.get(k2, ()), generated.get(k2, ())
        arrived += len(arr)
        if not arr or not gen:
            continue
        iou = blocked_iou([r for _, r in arr], [r for _, r in gen])
        rows, cols = linear_sum_assignment(iou, maximize=True)
        paired = iou[rows, cols]
        for thr in thresholds:
            found[thr] += int((paired >= thr).sum())
    return {"generated": sent, "arrived": arrived, "refound": found,
            "rate": {thr: found[thr] / arrived if arrived else 0.0 for thr in thresholds}}


def ancestors(parent: Mapping[int, int | None], track_id: int) -> list[int]:
    """Parent, grandparent, ... of a predicted track (stops on a cycle)."""
    out, seen, p = [], {track_id}, parent.get(track_id)
    while p is not None and p not in seen:
        out.append(p)
        seen.add(p)
        p = parent.get(p)
    return out


def part_of_accuracy(gt_parent: Mapping[int, int | None], gt_level: Mapping[int, str],
                     best_pred: Mapping[int, int | None], pred_parent: Mapping[int, int | None]) -> dict:
    """For each GT part whose GT parent is an object: is its best predicted track under its parent's?

    `best_pred[g]`: the predicted track with the highest STIoU with GT track g (None: no overlap).
    Right: the part's track's `parent` IS the parent's best track. Lenient: the parent's best
    track is any ancestor of the part's track (a part of a part of the object counts).
    """
    right = lenient = total = 0
    for g, level in gt_level.items():
        par = gt_parent.get(g)
        if level != "part" or par is None or gt_level.get(par) != "object":
            continue
        total += 1
        p, o = best_pred.get(g), best_pred.get(par)
        if p is None or o is None or p == o:
            continue
        right += pred_parent.get(p) == o
        lenient += o in ancestors(pred_parent, p)
    return {"right": right, "lenient": lenient, "total": total,
            "share": right / total if total else None, "lenient_share": lenient / total if total else None}


def best_pred_from_scores(per_track: Sequence[dict]) -> dict[int, int | None]:
    """score.py's per-track rows -> {GT track id: best predicted track id, None when no overlap at all}."""
    return {int(r["track_id"]): (r["best_pred"] if r["best_stiou"] > 0 else None) for r in per_track}


def group_rows(rows: Iterable[tuple[int, int, bytes]], size: Sequence[int]) -> dict[int, list[tuple[int, RLE]]]:
    """(frame, pid, RLE counts) rows -> {frame: [(pid, RLE)]} in pid order."""
    out: dict[int, list[tuple[int, RLE]]] = defaultdict(list)
    for frame, pid, counts in sorted(rows, key=lambda r: (r[0], r[1])):
        out[frame].append((pid, {"size": [int(size[0]), int(size[1])], "counts": bytes(counts)}))
    return dict(out)
