"""YouTube-VIS results format: one entry per track, an RLE (or null) per input frame.

Loads in pycocotools, the YouTube-VIS / OVIS tooling and CVAT. Overlapping masks are kept.
Written track by track, so memory holds one track at a time.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..faults import crash_point
from ..masks import RLE, areas as rle_areas, decode_one, encode, rle_to_json
from ..run import Run
from .atomic import atomic_write


def rescale_rle(rle: RLE, size: tuple[int, int]) -> RLE:
    """Nearest-neighbour resize of one mask to `size` (H, W): processing -> input resolution."""
    if tuple(rle["size"]) == tuple(size):
        return rle
    dense = decode_one(rle).astype(np.uint8)
    return encode(cv2.resize(dense, (size[1], size[0]), interpolation=cv2.INTER_NEAREST).astype(bool))[0]


def write_ytvis(run: Run, path: str | Path, video_id: int = 0) -> Path:
    path = Path(path)
    n, size = run.num_frames, run.input_size
    with atomic_write(path) as f:
        f.write("[")
        for k, track in enumerate(run.tracks()):
            segs: list = [None] * n
            areas: list = [None] * n
            for frame, rle in run.track_masks(track.track_id):
                rle = rescale_rle(rle, size)
                segs[frame] = rle_to_json(rle)
                areas[frame] = int(rle_areas([rle])[0])
            entry = {"video_id": video_id, "track_id": track.track_id, "score": round(track.score, 4),
                     "category_id": 1, "segmentations": segs, "areas": areas, "parent": track.parent}
            f.write(("," if k else "") + "\n" + json.dumps(entry, separators=(",", ":")))
            if k == 1:
                crash_point("export")
        f.write("\n]\n")
    return path
