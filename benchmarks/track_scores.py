"""Does ranking by `score` put real objects first? Recall at 1, 10 and 100 detections, before/after.

    .venv/bin/python benchmarks/track_scores.py [--frames 40] [--hard-frames 48] [--out runs/track_scores]

Runs the classic backend on the synthetic scenes (everymask/testing/synthetic.py) and the harder
ones (everymask/testing/hard_scenes.py), which come with object and part ground truth, and ranks
each run's tracks two ways: "before" by the backend's score of the key-frame masks alone (what
`score` was before issue 14: the `quality` component), "after" by the track score
(engine/track_score.py). Prints, per scene and on average:
  - YouTube-VIS AR@1/10/100: the YouTube-VIS API's recall at k detections per video
    (everymask/testing/ytvis_eval.py, spatio-temporal IoU, thresholds 0.5:0.95);
  - COCO AR@10/100: pycocotools' COCOeval (segm) on coco.json-style per-frame detections, k
    detections per frame;
  - top-10 real: how many of the 10 highest-scored tracks match a ground-truth track (STIoU >= 0.5).
Why a script and not a test: a few minutes of runs; tests/test_track_score.py checks the ranking
on a small replay scene.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from everymask import RunConfig  # noqa: E402
from everymask.api import segment_video  # noqa: E402
from everymask.config import RuntimeOptions  # noqa: E402
from everymask.engine.track_score import score, track_evidence  # noqa: E402
from everymask.export.ytvis import rescale_rle  # noqa: E402
from everymask.masks import rle_from_json, rle_to_json  # noqa: E402
from everymask.run import Run  # noqa: E402
from everymask.testing.ytvis_eval import evaluate, ground_truth, st_iou  # noqa: E402


def scenes(frames: int, hard_frames: int, names: list[str] | None):
    from everymask.testing.hard_scenes import CLUTTERED, make_hard_scene
    from everymask.testing.synthetic import SCENES, ArraySource, make_scene
    for name in SCENES:
        if not names or name in names:
            s = make_scene(name, num_frames=frames)
            yield name, ArraySource(s.frames, path=f"synthetic:{name}"), s.to_ytvis()
    for name in CLUTTERED:      # the four scenes its RESULTS figures were measured on
        if not names or f"hard:{name}" in names:
            s = make_hard_scene(name, num_frames=hard_frames)
            yield f"hard:{name}", s.source(), s.to_ytvis()


def coco_recall(gt_entries: list[dict], run: Run, score_of: dict[int, float]) -> dict[str, float]:
    """COCOeval (segm) AR@10 / AR@100 with one image per frame."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    h, w = run.input_size
    images = [{"id": t + 1, "width": w, "height": h} for t in range(run.num_frames)]
    anns = []
    for e in gt_entries:
        for t, seg in enumerate(e["segmentations"]):
            if seg:
                rle = rle_from_json(seg)
                from pycocotools import mask as mu
                anns.append({"id": len(anns) + 1, "image_id": t + 1, "category_id": 1, "segmentation": seg,
                             "area": float(mu.area(rle)), "bbox": mu.toBbox(rle).tolist(), "iscrowd": 0})
    gt = COCO()
    gt.dataset = {"images": images, "categories": [{"id": 1, "name": "object"}], "annotations": anns}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        dets = []
        for t in range(run.num_frames):
            masks = run.frame_masks(t)
            for tid, rle in zip(masks.ids.tolist(), masks.rles):
                dets.append({"image_id": t + 1, "category_id": 1, "score": score_of[tid],
                             "segmentation": rle_to_json(rescale_rle(rle, (h, w)))})
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "segm")
        ev.params.maxDets = [1, 10, 100]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"cocoAR@10": float(ev.stats[7]), "cocoAR@100": float(ev.stats[8])}


def measure(gt_entries: list[dict], run: Run, results: list[dict], score_of: dict[int, float]) -> dict[str, float]:
    videos = [{"id": 1, "length": run.num_frames, "width": run.input_size[1], "height": run.input_size[0]}]
    gt = ground_truth(gt_entries, videos)
    res = gt.load_res([dict(r, score=score_of[r["track_id"]]) for r in results])
    out = evaluate(gt, res, (1, 10, 100))
    top = sorted(res, key=lambda r: -r["score"])[:10]
    ious = st_iou(gt.vid_to_anns[1], top, run.num_frames)
    out["top10_real"] = float((ious.max(0) >= 0.5).sum()) if ious.size else 0.0
    out.update(coco_recall(gt_entries, run, score_of))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=40, help="frames of the synthetic scenes")
    ap.add_argument("--hard-frames", type=int, default=48, help="frames of the hard scenes")
    ap.add_argument("--scenes", nargs="*", help="names (pan, ..., hard:clutter, ...); default all")
    ap.add_argument("--out", default=str(ROOT / "runs/track_scores"))
    ap.add_argument("--reuse", action="store_true", help="score the runs already in --out instead of running")
    args = ap.parse_args()
    keys = ("AR@1", "AR@10", "AR@100", "cocoAR@10", "cocoAR@100", "top10_real")
    rows = []
    for name, source, gt_entries in scenes(args.frames, args.hard_frames, args.scenes):
        out = Path(args.out) / name.replace(":", "_")
        if not (args.reuse and (out / "tracks.json").exists()):
            segment_video(source, out, RunConfig(backend="classic"), options=RuntimeOptions(progress=False),
                          fresh=True).close()
        with Run(out) as run:
            ev = track_evidence(run.store, run.num_frames, run.size, run.config.step)
            results = json.loads((out / "tracks.json").read_text())
            before = measure(gt_entries, run, results, {t: e.quality for t, e in ev.items()})
            after = measure(gt_entries, run, results, {t: score(e) for t, e in ev.items()})
            n = len(ev)
        rows.append((name, n, len(gt_entries), before, after))
        print(f"{name}: {n} tracks, {len(gt_entries)} ground-truth tracks", file=sys.stderr, flush=True)
    head = f"{'scene':<22}{'tracks':>7}{'gt':>4}  " + "  ".join(f"{k:>17}" for k in keys)
    print(head + "\n" + " " * 35 + "  ".join(f"{'before -> after':>17}" for _ in keys))
    for name, n, g, b, a in rows:
        print(f"{name:<22}{n:>7}{g:>4}  " + "  ".join(f"{b[k]:>7.3f} -> {a[k]:<6.3f}" for k in keys))
    mb = {k: float(np.mean([r[3][k] for r in rows])) for k in keys}
    ma = {k: float(np.mean([r[4][k] for r in rows])) for k in keys}
    print(f"{'mean':<33}  " + "  ".join(f"{mb[k]:>7.3f} -> {ma[k]:<6.3f}" for k in keys))


if __name__ == "__main__":
    main()
