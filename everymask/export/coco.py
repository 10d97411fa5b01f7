"""COCO instance JSON: one image per frame, one annotation per mask, with `track_id` and `parent`,
and the frames it names (`frames/00000.jpg`, ... at the input resolution).

CVAT, FiftyOne and pycocotools read it; the extra keys (`track_id`, `parent`, `depth`, `frame_index`)
keep the tracks and the hierarchy for tools that know to look, and `attributes.track_id` is where
CVAT's COCO import looks for tracks. Segmentations are compressed RLE at the input resolution, so
overlapping masks are kept as they are. `videos` holds the YouTube-VIS entry of the video. Written
frame by frame.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2

from ..engine.hierarchy import depths
from ..errors import EverymaskError
from ..masks import areas, boxes, rle_to_json
from ..run import Run
from .atomic import atomic_write
from .folders import atomic_dir
from .render import open_frames
from .ytvis import CATEGORIES, check_video_id, frame_name, rescale_rle, video_entry


def write_coco(run: Run, path: str | Path, *, video_id: int = 1, frames: str | Path | None = None,
               write_frames: bool = True) -> Path:
    """Write `path` and, unless `write_frames` is off, the frames it names into `frames` (default: a
    `frames` folder beside `path`), so a COCO reader finds every image it lists."""
    path = Path(path)
    check_video_id(video_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = run.input_size
    tracks = {t.track_id: t for t in run.tracks()}
    depth = depths({tid: t.parent for tid, t in tracks.items()})
    name = Path(run.source).name
    head = {
        "info": {"description": f"everymask tracks of {name}", "version": "1.0"},
        "licenses": [],
        "categories": CATEGORIES,
        "videos": [{**video_entry(run, video_id), "file_name": name, "fps": run.fps}],
        "images": [{"id": t + 1, "file_name": frame_name(t), "width": w, "height": h, "video_id": video_id,
                    "frame_index": t} for t in range(run.num_frames)],
    }
    if write_frames:
        if not Path(run.source).exists():
            raise EverymaskError(f"the input {run.source} is gone; the coco export writes the frames it names, so put "
                                 "the video back at that path, or pass --no-frames to write coco.json alone")
        write_frame_files(run, Path(frames) if frames else path.parent / "frames")
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
                       "depth": depth[tid], "attributes": {"track_id": tid, "keyframe": True, "occluded": False}}
                f.write(("," if ann_id > 1 else "") + "\n" + json.dumps(ann, separators=(",", ":")))
        f.write("\n]}\n")
    return path


def write_frame_files(run: Run, folder: Path, jpeg_quality: int = 95) -> Path:
    """Every input frame as `folder/NNNNN.jpg` (0-based, input resolution), the names coco.json uses."""
    source = open_frames(run)
    try:
        with atomic_dir(folder) as tmp:
            for t in range(run.num_frames):
                ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(source.frame(t), cv2.COLOR_RGB2BGR),
                                       [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
                if not ok:
                    raise RuntimeError(f"JPEG encoding of frame {t} failed")
                (tmp / frame_name(t)).write_bytes(jpg.tobytes())
    finally:
        source.close()
    return folder
