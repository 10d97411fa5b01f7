"""`png/layer_K/NNNNN.png`: 16-bit label maps, one layer per hierarchy depth, lossless for overlaps.

A label map holds one track per pixel, so overlapping masks need separate layers. The part-of
hierarchy gives the natural split (layer 0 = wholes, then their parts, ...). Tracks of the same
depth can still overlap (two wholes crossing); such a depth gets extra layers, chosen once per
track (a greedy colouring of the "overlaps somewhere" graph), so a track keeps its layer and label
in every frame. `layers.json` says which layer and label each track has. Overlaps are looked for
only between masks of the same depth, which is what makes the first pass cheap.
"""
from __future__ import annotations

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


def assign_layers(run: Run) -> tuple[list[dict], dict[int, tuple[int, int]]]:
    """Layers [{depth, split, tracks}] and track id -> (layer index, label)."""
    tracks = run.tracks()
    depth = depths({t.track_id: t.parent for t in tracks})
    overlaps: dict[int, set[int]] = defaultdict(set)
    for t in range(run.num_frames):
        masks = run.frame_masks(t)
        if len(masks) < 2:
            continue
        by_depth: dict[int, list[int]] = defaultdict(list)
        for k, tid in enumerate(masks.ids.tolist()):
            by_depth[depth[tid]].append(k)
        for group in by_depth.values():  # only same-depth pairs matter: ~depth-count times fewer
            if len(group) < 2:
                continue
            inter = intersection_matrix([masks.rles[k] for k in group], [masks.rles[k] for k in group])
            ids = masks.ids[group].tolist()
            for a, b in zip(*np.nonzero(np.triu(inter, 1) > 0)):
                overlaps[ids[a]].add(ids[b])
                overlaps[ids[b]].add(ids[a])
    slots: dict[tuple[int, int], list[int]] = defaultdict(list)  # (depth, split) -> track ids
    slot_of: dict[int, tuple[int, int]] = {}
    # most-overlapping tracks first (Welsh-Powell): fewer layers than in id order
    for tr in sorted(tracks, key=lambda tr: (depth[tr.track_id], -len(overlaps[tr.track_id]), tr.track_id)):
        d, split = depth[tr.track_id], 0
        taken = {slot_of[o] for o in overlaps[tr.track_id] if o in slot_of}
        while (d, split) in taken or len(slots[(d, split)]) >= MAX_LABEL:
            split += 1
        slot_of[tr.track_id] = (d, split)
        slots[(d, split)].append(tr.track_id)
    layers = [{"depth": d, "split": s, "tracks": slots[(d, s)]} for d, s in sorted(slots)]
    index = {(lay["depth"], lay["split"]): k for k, lay in enumerate(layers)}
    where = {tid: (index[slot], n + 1) for slot, lay_tracks in slots.items() for n, tid in enumerate(lay_tracks)}
    return layers, where


def write_png_layers(run: Run, path: str | Path) -> Path:
    """Write `path/layer_K/NNNNN.png` for every layer and frame, and `path/layers.json`."""
    layers, where = assign_layers(run)
    h, w = run.input_size
    with atomic_dir(path) as tmp:
        for k in range(len(layers)):
            (tmp / f"layer_{k}").mkdir()
        for t in range(run.num_frames):
            maps = np.zeros((len(layers), *run.size), np.uint16)
            masks = run.frame_masks(t)
            for tid, rle in zip(masks.ids.tolist(), masks.rles):
                k, label = where[tid]
                maps[k][decode_one(rle)] = label
            for k in range(len(layers)):
                if not cv2.imwrite(str(tmp / f"layer_{k}" / f"{t:05d}.png"), resize_nearest(maps[k], (h, w))):
                    raise OSError(f"could not write {tmp / f'layer_{k}' / f'{t:05d}.png'}")
        doc = {
            "format": "everymask png label layers 1",
            "size": [h, w], "num_frames": run.num_frames, "files": "layer_{layer}/{frame:05d}.png",
            "how": ("16-bit PNG label maps; 0 = no mask. One layer per part-of depth (0 = wholes, 1 = their "
                    "parts, ...). Tracks of the same depth that overlap on some frame go to separate layers of "
                    "that depth ('split' 0, 1, ...), so every mask is kept whole. A track has the same layer "
                    "and label in every frame; 'labels' maps label -> track id."),
            "layers": [{"name": f"layer_{k}", "depth": lay["depth"], "split": lay["split"],
                        "labels": {str(n + 1): tid for n, tid in enumerate(lay["tracks"])}}
                       for k, lay in enumerate(layers)],
            "tracks": {str(tid): {"layer": k, "label": label} for tid, (k, label) in sorted(where.items())},
        }
        with atomic_write(tmp / "layers.json") as f:
            json.dump(doc, f, indent=1)
    return Path(path)
