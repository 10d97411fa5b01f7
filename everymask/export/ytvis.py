"""YouTube-VIS results format: one entry per track, an RLE (or null) per input frame.

Loads in pycocotools, the YouTube-VIS / OVIS tooling and CVAT. Overlapping masks are kept.
Written track by track, so memory holds one track at a time. Beside it, `ytvis_videos.json` holds
the matching YouTube-VIS `videos` entry (id, file_names, width, height, length): the YouTube-VIS
API's `loadRes` accepts results only for video ids its ground truth lists.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from ..errors import EverymaskError
from ..faults import crash_point
from ..masks import RLE, areas as rle_areas, decode_one, encode, rle_to_json
from ..run import Run
from .atomic import atomic_write

VIDEOS_NAME = "ytvis_videos.json"
CATEGORIES = [{"id": 1, "name": "object", "supercategory": "object"}]


def rescale_rle(rle: RLE, size: tuple[int, int]) -> RLE:
    """Nearest-neighbour resize of one mask to `size` (H, W): processing -> input resolution."""
    if tuple(rle["size"]) == tuple(size):
        return rle
    dense = decode_one(rle).astype(np.uint8)
    return encode(cv2.resize(dense, (size[1], size[0]), interpolation=cv2.INTER_NEAREST).astype(bool))[0]


def frame_name(frame: int) -> str:
    """The file name of a frame in every export that names frames (0-based, as the exports count)."""
    return f"{frame:05d}.jpg"


def check_video_id(video_id: int) -> int:
    if isinstance(video_id, bool) or not isinstance(video_id, int) or video_id < 0:
        raise EverymaskError(f"--video-id {video_id!r} is invalid: must be an integer >= 0 (YouTube-VIS "
                             "ground truth numbers videos from 1)")
    return video_id


def video_entry(run: Run, video_id: int) -> dict:
    """The YouTube-VIS `videos` entry of this run: frame file names relative to the frames folder."""
    h, w = run.input_size
    return {"id": video_id, "file_names": [frame_name(t) for t in range(run.num_frames)], "width": w, "height": h,
            "length": run.num_frames}


def write_ytvis(run: Run, path: str | Path, video_id: int = 1) -> Path:
    path = Path(path)
    check_video_id(video_id)
    path.parent.mkdir(parents=True, exist_ok=True)
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
    write_videos_header(run, path.parent / VIDEOS_NAME, video_id)
    return path


def write_videos_header(run: Run, path: str | Path, video_id: int) -> Path:
    """A ground-truth-shaped header (no annotations) naming the run's video, for `YTVOS(...).loadRes`."""
    doc = {"info": {"description": f"everymask run of {Path(run.source).name}"}, "licenses": [],
           "categories": CATEGORIES, "videos": [video_entry(run, video_id)], "annotations": []}
    with atomic_write(path) as f:
        json.dump(doc, f, separators=(",", ":"))
    return Path(path)
