"""The YouTube-VIS API's result loading and recall, for tests and benchmarks.

No YouTube-VIS API package is installed here or published on the package index (pycocotools has
no `ytvos`), so this follows the API's `YTVOS.loadRes` and `YTVOSeval` (one category, area range
"all") closely enough to check that everymask's results load as they are and to measure recall at
1, 10 and 100 detections per video:

- `load_res` refuses results whose video ids the ground truth does not list, with the API's own
  message ("Results do not correspond to current coco set"), and fills `areas`, `bboxes`, `id`,
  `avg_area`, `iscrowd` per result as the API does;
- `evaluate`: per video, the results sorted by score (highest first, stable) and cut to the
  `max_dets` best; spatio-temporal IoU (intersections summed over frames / unions summed over
  frames); greedy matching in score order at IoU thresholds 0.50:0.05:0.95; recall at each
  threshold is matched ground truth / ground truth, and AR@k is its mean over the thresholds.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from typing import Sequence

import numpy as np
from pycocotools import mask as mask_utils

THRESHOLDS = np.linspace(0.5, 0.95, 10)


class YTVISGroundTruth:
    """A YouTube-VIS ground-truth document: {videos, categories, annotations}."""

    def __init__(self, dataset: dict) -> None:
        self.dataset = dataset
        self.vids = {v["id"]: v for v in dataset["videos"]}
        self.vid_to_anns: dict[int, list[dict]] = defaultdict(list)
        for ann in dataset.get("annotations", []):
            self.vid_to_anns[ann["video_id"]].append(ann)

    def load_res(self, results: list[dict]) -> list[dict]:
        """The results as the API's `loadRes` leaves them (a deep copy, fields filled in)."""
        assert isinstance(results, list), "results in not an array of objects"
        ids = {r["video_id"] for r in results}
        assert ids == ids & set(self.vids), "Results do not correspond to current coco set"
        out = copy.deepcopy(results)
        for n, ann in enumerate(out):
            ann["areas"], ann["bboxes"] = [], []
            for seg in ann["segmentations"]:
                ann["areas"].append(float(mask_utils.area(seg)) if seg else None)
                ann["bboxes"].append(mask_utils.toBbox(seg).tolist() if seg else None)
            ann["id"], ann["iscrowd"] = n + 1, 0
            seen = [a for a in ann["areas"] if a]
            ann["avg_area"] = float(np.mean(seen)) if seen else 0.0
        return out


def st_iou(gts: Sequence[dict], dts: Sequence[dict], length: int) -> np.ndarray:
    """Spatio-temporal IoU of every ground truth with every result: summed intersections over
    summed unions across the video's frames (len(gts) x len(dts))."""
    inter = np.zeros((len(gts), len(dts)))
    union = np.zeros((len(gts), len(dts)))
    for t in range(length):
        g = [a["segmentations"][t] for a in gts]
        d = [a["segmentations"][t] for a in dts]
        ga = np.array([mask_utils.area(s) if s else 0 for s in g], float)
        da = np.array([mask_utils.area(s) if s else 0 for s in d], float)
        gi, di = [i for i, s in enumerate(g) if s], [j for j, s in enumerate(d) if s]
        i_t = np.zeros((len(g), len(d)))
        if gi and di:
            iou = np.asarray(mask_utils.iou([g[i] for i in gi], [d[j] for j in di], [0] * len(di)), float)
            iou = iou.reshape(len(gi), len(di))
            i_t[np.ix_(gi, di)] = iou * (ga[gi][:, None] + da[di][None, :]) / (1.0 + iou)
        inter += i_t
        union += ga[:, None] + da[None, :] - i_t
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def evaluate(gt: YTVISGroundTruth, results: list[dict], max_dets: Sequence[int] = (1, 10, 100)) -> dict[str, float]:
    """AR@k for each k in `max_dets` over all videos of `gt` (results as `load_res` returns them)."""
    by_video: dict[int, list[dict]] = defaultdict(list)
    for r in results:
        by_video[r["video_id"]].append(r)
    matched = {k: np.zeros(len(THRESHOLDS)) for k in max_dets}
    n_gt = 0
    for vid, video in gt.vids.items():
        gts = gt.vid_to_anns.get(vid, [])
        n_gt += len(gts)
        order = sorted(by_video.get(vid, []), key=lambda r: -r["score"])  # stable, as numpy's mergesort
        dts = order[:max(max_dets)]
        if not gts or not dts:
            continue
        ious = st_iou(gts, dts, video["length"])
        for k in max_dets:
            for n, thr in enumerate(THRESHOLDS):
                taken = np.zeros(len(gts), bool)
                for j in range(min(k, len(dts))):
                    best, best_iou = -1, min(thr, 1 - 1e-10)
                    for i in range(len(gts)):
                        if not taken[i] and ious[i, j] >= best_iou:
                            best, best_iou = i, ious[i, j]
                    if best >= 0:
                        taken[best] = True
                matched[k][n] += taken.sum()
    return {f"AR@{k}": float(np.mean(matched[k] / n_gt)) if n_gt else 0.0 for k in max_dets}


def ground_truth(entries: list[dict], videos: list[dict]) -> YTVISGroundTruth:
    """A ground truth from YouTube-VIS-style track entries (as `to_ytvis()` of the synthetic scenes
    gives them) and the `videos` entries (as everymask's `ytvis_videos.json` holds them)."""
    anns = [{**e, "id": n + 1, "iscrowd": 0, "category_id": e.get("category_id", 1)} for n, e in enumerate(entries)]
    return YTVISGroundTruth({"videos": videos, "categories": [{"id": 1, "name": "object"}], "annotations": anns})
