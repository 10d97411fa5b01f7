"""Does the classic generator output the scene's objects and parts on a key frame? Mean best IoU per
ground-truth mask, output against the hierarchy it chose from.

    .venv/bin/python benchmarks/generator_coverage.py [--scenes clutter sparse] [--seed 0] [--key-frames 10 40 70]

For each hard scene (everymask/testing/hard_scenes.py) and key frame, with no prior (a first key
frame), prints per level (object, part), averaged over the ground-truth masks visible there:
  - output: the best IoU of any mask the generator returns (what the engine gets to track);
  - tree: the best IoU of any node of the two merge trees it ranks (what it could have returned);
  - output >= 0.5 / tree >= 0.5: the share of masks found at IoU 0.5.
A wide gap between the two is the ranking's and the budget's doing, not the superpixels'.
Why a script and not a test: it reads whole scenes; tests/test_classic.py checks the ranking on
small images.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from everymask.backends.classic.regions import merge_tree, region_graph, tree_members, unique_rows  # noqa: E402
from everymask.backends.classic.segment import SegmentGenerator, lab_image  # noqa: E402
from everymask.backends.classic.superpixels import SuperpixelCache  # noqa: E402
from everymask.config import RunConfig  # noqa: E402
from everymask.masks import iou_matrix  # noqa: E402
from everymask.testing.hard_scenes import PRESETS, make_hard_scene  # noqa: E402


def tree_best_iou(members: np.ndarray, labels: np.ndarray, sizes: np.ndarray, target: np.ndarray) -> float:
    """Best IoU of any tree node (a row of superpixel flags) with `target`, from superpixel counts."""
    inside = np.bincount(labels[target], minlength=len(sizes)).astype(np.float64)
    inter = members.astype(np.float64) @ inside
    area = members.astype(np.float64) @ sizes.astype(np.float64)
    return float((inter / np.maximum(area + target.sum() - inter, 1)).max())


def coverage(name: str, seed: int, key_frames: list[int], config: RunConfig) -> dict[str, np.ndarray]:
    """{level: rows of (output IoU, tree IoU)} over the visible ground-truth masks of the key frames."""
    scene = make_hard_scene(name, seed=seed)
    cache = SuperpixelCache()
    generator = SegmentGenerator(config, cache)
    rows: dict[str, list[tuple[float, float]]] = {"object": [], "part": []}
    for k in key_frames:
        image = scene.frames[k]
        output = generator.generate(k, image).rles
        sp = cache.get(k, image)
        g = region_graph(sp, lab_image(image))
        members = unique_rows(np.concatenate([tree_members(sp.count, merge_tree(g, link)[0])
                                              for link in ("ward", "boundary")]))
        for track in scene.tracks:
            target = scene.mask(track.track_id, k)
            if target.sum() >= 20:
                found = float(iou_matrix(output, [track.rles[k]]).max()) if output else 0.0
                rows[track.level].append((found, tree_best_iou(members, sp.labels, g.sizes, target)))
    return {level: np.asarray(r, float).reshape(-1, 2) for level, r in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", nargs="*", default=list(PRESETS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--key-frames", nargs="*", type=int, default=[10, 40, 70])
    ap.add_argument("--things-first", action="store_true", help="the generator's --things-first")
    args = ap.parse_args()
    config = RunConfig(things_first=args.things_first)
    print("| scene | level | masks | output mean IoU | tree mean IoU | output >= 0.5 | tree >= 0.5 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.scenes:
        for level, r in coverage(name, args.seed, args.key_frames, config).items():
            if len(r):
                print(f"| {name} | {level} | {len(r)} | {r[:, 0].mean():.3f} | {r[:, 1].mean():.3f} "
                      f"| {(r[:, 0] >= 0.5).mean():.2f} | {(r[:, 1] >= 0.5).mean():.2f} |", flush=True)


if __name__ == "__main__":
    main()
