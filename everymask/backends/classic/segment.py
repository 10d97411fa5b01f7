"""Classic "everything" mask generator: superpixels, a region-merging hierarchy, nested masks.

The algorithm, top to bottom (`SegmentGenerator.generate`):
  1. fine superpixels (graph-based segmentation, Felzenszwalb) that hug image edges;
  2. a region adjacency graph over them: Lab colour sums, shared boundary length and contrast;
  3. two merge trees over that graph (Ward on colour, and weakest-border-first): every tree node
     is a candidate mask, leaves are the finest, the root is the whole frame, so fine regions lie
     inside coarser ones (parts inside wholes) by construction;
  4. plus, per candidate, its hole-filled variant (an object around a logo) and the regions it
     encloses (objects inside the background ring that surrounds them, whatever their colours);
  5. filters: a border-vs-inside contrast score, a stability score (the region's range in an
     ultrametric contour map) and a minimum mean thickness (slivers never match again);
  6. exact mask-IoU NMS at the engine's `match_iou` in score order, up to a budget of
     `max_masks // 3` masks (the engine's tracks accumulate about three key frames' worth).
The region maths lives in `regions.py`, the superpixels in `superpixels.py`.
Every mask is a union of the superpixels of step 1. The propagator snaps its masks at key frames
to the same superpixels, so a propagated mask and the key frame's own mask of the same region
agree exactly where the propagation was right, which is what the engine's IoU matching needs.
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from ...config import RunConfig
from ...masks import Masks
from .regions import (RegionGraph, border_stats, enclosed_regions, mask_nms, merge_tree, region_graph, tree_members,
                      unique_rows)
from .superpixels import SuperpixelCache


def lab_image(image: np.ndarray) -> np.ndarray:
    """Smoothed CIE Lab: colour distances there track perceived differences better than in RGB."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return cv2.GaussianBlur(lab, (0, 0), 0.8)


class SegmentGenerator:
    """`MaskGenerator` of the classic backend (see the module docstring for the algorithm)."""

    def _usable(self, members: np.ndarray, g: RegionGraph, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """-> (keep, score): contrast score above `min_score` and mean thickness (2 area / border)
        of at least `min_thickness` pixels of the flow's working resolution.

        Slivers (the blurred rim of an object, a seam between two regions) are cut differently at
        every key frame and are too thin for a nearest-pixel flow warp, so they never match and
        only add tracks; a 3 px handle is thick enough to stay.
        """
        score, stability, border = border_stats(members, g)
        area = members.astype(np.float32) @ g.sizes.astype(np.float32)
        px = max(1.0, max(size) / self.work_side)
        thick = 2 * area / np.maximum(border, 1) >= self.min_thickness * px
        return (score >= self.min_score) & (stability >= self.min_stability) & thick, score

    def __init__(self, config: RunConfig, cache: SuperpixelCache, min_score: float = 0.5,
                 min_thickness: float = 2.0) -> None:
        self.config, self.cache, self.min_score = config, cache, min_score
        self.min_thickness, self.work_side = min_thickness, cache.work_side
        self.min_stability = 0.5
        # Unmatched masks live on as their own tracks, so a frame carries about three key frames'
        # worth of masks (its own, the previous key frame's carried forward, the next one's carried
        # back); a third of the engine's max_masks keeps masks per frame near max_masks on busy
        # real footage. Ranked by score, so the budget drops the least stable masks first.
        self.budget = max(1, config.max_masks // 3)
        self.seconds = 0.0
        self.calls = 0

    def generate(self, frame_index: int, image: np.ndarray, prior: Masks | None = None) -> Masks:
        t0 = time.perf_counter()
        size = image.shape[:2]
        frame_px = float(size[0] * size[1])
        sp = self.cache.get(frame_index, image)
        g = region_graph(sp, lab_image(image))
        members = unique_rows(np.concatenate([tree_members(sp.count, merge_tree(g, link)[0])
                                            for link in ("ward", "boundary")]))
        area = members.astype(np.float32) @ g.sizes.astype(np.float32)
        ok = (area >= max(self.config.min_area * frame_px, 1)) & (area <= 0.95 * frame_px)
        cand = members[ok]
        cand = cand[self._usable(cand, g, size)[0]]
        filled, holes = enclosed_regions(cand, sp.labels, g.sizes, self.config.min_area * frame_px)
        grew = (filled != cand).any(1)
        # Filled regions come first and inherit their ring's score: where NMS must choose between
        # an object with a logo and the same object with a logo-shaped hole, the whole wins.
        ring_score = border_stats(cand[grew], g)[0]
        cand = np.concatenate([filled[grew], cand, holes])
        good, score = self._usable(cand, g, size)
        score[:len(ring_score)] = np.maximum(score[:len(ring_score)], ring_score)
        _, first = np.unique(np.packbits(cand, axis=1), axis=0, return_index=True)
        good &= np.isin(np.arange(len(cand)), first)
        good = np.flatnonzero(good)
        order = good[np.argsort(-score[good], kind="stable")]
        keep = mask_nms(cand, g.sizes, order, self.config.match_iou, min(self.budget, self.config.max_masks))
        dense = cand[keep][:, sp.labels] if keep else np.zeros((0, *size), bool)
        out = Masks.from_dense(dense, ids=range(len(keep)), scores=score[keep])
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out
