"""`png/layer_K/NNNNN.png`: 16-bit label maps, as few layers as the overlaps allow, lossless for overlaps.

A label map holds one track per pixel, so masks that overlap need separate layers; masks that
never overlap can share one. Layers are a greedy colouring of the tracks' "overlap on some frame"
graph (DSATUR), chosen once per track, so a track keeps its layer and label in every frame. No
packing can use fewer layers than the most masks that cover one pixel on one frame; `layers.json`
reports both numbers, with which layer and label each track has. The bound is seldom reached on
real runs: overlaps on different frames chain (A meets B early, B meets C later, C meets A at
the end) into cliques larger than any one pixel's count.
"""
from __future__ import annotations

import heapq
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from ..engine.hierarchy import depths
from ..masks import decode_one, intersection_matrix
from ..run import Run
from .atomic import atomic_write
from .folders import atomic_dir
from .render import resize_nearest


MAX_LABEL = 65535


def overlap_graph(run: Run) -> dict[int, set[int]]:
    """track id -> the tracks whose mask shares a pixel with its mask on some frame."""
    overlaps: dict[int, set[int]] = defaultdict(set)
    for t in range(run.num_frames):
        masks = run.frame_masks(t)
        if len(masks) < 2:
            continue
        inter = intersection_matrix(masks.rles, masks.rles)
        ids = masks.ids.tolist()
        for a, b in zip(*np.nonzero(np.triu(inter, 1) > 0)):
            overlaps[ids[a]].add(ids[b])
            overlaps[ids[b]].add(ids[a])
    return overlaps


def pack_layers(track_ids: list[int], overlaps: dict[int, set[int]], depth: dict[int, int]) -> list[list[int]]:
    """Greedy colouring (DSATUR): each track takes the first layer holding none of the tracks it
    overlaps; next comes the track whose overlapping tracks already fill the most layers, then the
    most-overlapping, then the shallower in the part-of tree (wholes before parts), then the smaller
    id. Returns each layer's track ids in the order they were placed."""
    layers: list[list[int]] = []
    layer_of: dict[int, int] = {}
    filled: dict[int, set[int]] = {t: set() for t in track_ids}   # layers its placed neighbours use
    degree = {t: len(overlaps.get(t, ())) for t in track_ids}
    heap = [(0, -degree[t], depth.get(t, 0), t) for t in track_ids]
    heapq.heapify(heap)
    while heap:
        sat, _, _, tid = heapq.heappop(heap)
        if tid in layer_of or -sat != len(filled[tid]):
            continue  # placed already, or an outdated entry
        k = 0
        while k in filled[tid] or (k < len(layers) and len(layers[k]) >= MAX_LABEL):
            k += 1
        if k == len(layers):
            layers.append([])
        layers[k].append(tid)
        layer_of[tid] = k
        for o in overlaps.get(tid, ()):
            if o in filled and o not in layer_of and k not in filled[o]:
                filled[o].add(k)
                heapq.heappush(heap, (-len(filled[o]), -degree[o], depth.get(o, 0), o))
    return layers


def assign_layers(run: Run) -> tuple[list[list[int]], dict[int, tuple[int, int]]]:
    """Layers (their track ids) and track id -> (layer index, label)."""
    tracks = run.tracks()
    depth = depths({t.track_id: t.parent for t in tracks})
    layers = pack_layers([t.track_id for t in tracks], overlap_graph(run), depth)
    where = {tid: (k, n + 1) for k, lay in enumerate(layers) for n, tid in enumerate(lay)}
    return layers, where


def write_png_layers(run: Run, path: str | Path) -> Path:
    """Write `path/layer_K/NNNNN.png` for every layer and frame, and `path/layers.json`."""
    layers, where = assign_layers(run)
    depth = depths({t.track_id: t.parent for t in run.tracks()})
    h, w = run.input_size
    lower_bound = 0
    with atomic_dir(path) as tmp:
        for k in range(len(layers)):
            (tmp / f"layer_{k}").mkdir()
        for t in range(run.num_frames):
            maps = np.zeros((len(layers), *run.size), np.uint16)
            cover = np.zeros(run.size, np.uint16)
            masks = run.frame_masks(t)
            for tid, rle in zip(masks.ids.tolist(), masks.rles):
                k, label = where[tid]
                m = decode_one(rle)
                maps[k][m] = label
                cover += m
            lower_bound = max(lower_bound, int(cover.max()) if cover.size else 0)
            for k in range(len(layers)):
                if not cv2.imwrite(str(tmp / f"layer_{k}" / f"{t:05d}.png"), resize_nearest(maps[k], (h, w))):
                    raise OSError(f"could not write {tmp / f'layer_{k}' / f'{t:05d}.png'}")
        doc = {
            "format": "everymask png label layers 2",
            "size": [h, w], "num_frames": run.num_frames, "files": "layer_{layer}/{frame:05d}.png",
            "how": ("16-bit PNG label maps; 0 = no mask. Tracks whose masks never share a pixel on any frame share "
                    "a layer, so every mask is kept whole in as few layers as the overlaps allow. A track has the "
                    "same layer and label in every frame; 'labels' maps label -> track id. 'lower_bound' is the "
                    "most masks covering one pixel on one frame: no packing needs fewer layers."),
            "num_layers": len(layers), "lower_bound": lower_bound,
            "layers": [{"name": f"layer_{k}", "depths": sorted({depth[tid] for tid in lay}),
                        "labels": {str(n + 1): tid for n, tid in enumerate(lay)}} for k, lay in enumerate(layers)],
            "tracks": {str(tid): {"layer": k, "label": label, "depth": depth[tid]}
                       for tid, (k, label) in sorted(where.items())},
        }
        with atomic_write(tmp / "layers.json") as f:
            json.dump(doc, f, indent=1)
    return Path(path)
