"""COCO instance JSON: one image per frame, one annotation per mask, with `track_id` and `parent`.

CVAT, FiftyOne and pycocotools read it; the extra keys (`track_id`, `parent`, `depth`, `frame_index`)
keep the tracks and the hierarchy for tools that know to look. Segmentations are compressed RLE at
the input resolution, so overlapping masks are kept as they are. Written frame by frame.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..engine.hierarchy import depths
from ..masks import areas, boxes, rle_to_json
from ..run import Run
from .atomic import atomic_write
from .ytvis import rescale_rle


def write_coco(run: Run, path: str | Path) -> Path:
    path = Path(path)
    h, w = run.input_size
    tracks = {t.track_id: t for t in run.tracks()}
    depth = depths({tid: t.parent for tid, t in tracks.items()})
    name = Path(run.source).name
    head = {
        "info": {"description": f"everymask tracks of {name}", "version": "1.0"},
        "licenses": [],
        "categories": [{"id": 1, "name": "object", "supercategory": "object"}],
        "videos": [{"id": 0, "file_name": name, "width": w, "height": h, "num_frames": run.num_frames,
                    "fps": run.fps}],
        "images": [{"id": t + 1, "file_name": f"{t:05d}.jpg", "width": w, "height": h, "video_id": 0,
                    "frame_index": t} for t in range(run.num_frames)],
    }
    with atomic_write(path) as f:
        f.write(json.dumps(head, separators=(",", ":"))[:-1] + ',"annotations":[')
        ann_id = 0
        for t in range(run.num_frames):
            masks = run.frame_masks(t)
            rles = [rescale_rle(r, (h, w)) for r in masks.rles]
            for tid, rle, area, bbox in zip(masks.ids.tolist(), rles, areas(rles).tolist(), boxes(rles).tolist()):
                ann_id += 1
                ann = {"id": ann_id, "image_id": t + 1, "category_id": 1, "segmentation": rle_to_json(rle),
                       "area": int(area), "bbox": [float(v) for v in bbox], "iscrowd": 0,
                       "score": round(tracks[tid].score, 4), "track_id": tid, "parent": tracks[tid].parent,
                       "depth": depth[tid]}
                f.write(("," if ann_id > 1 else "") + "\n" + json.dumps(ann, separators=(",", ":")))
        f.write("\n]}\n")
    return path
