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
  6. exact mask-IoU NMS at the engine's `match_iou`, up to a budget of `max_masks // 3` new
     masks (the engine's tracks accumulate about three key frames' worth). The new masks are
     taken in turns from two rankings (`take_turns`): by contrast score, which favours flat,
     well-bounded regions (walls, floors, sky, panels), and by contrast less a background
     penalty (boundary connectivity, `regions.background_likelihood`), which favours closed
     things however textured or shaded; so half of the budget goes to things even where the
     background offers more high-contrast regions than the budget holds. With `--things-first`
     all of it goes by the second ranking.
With a prior (the masks the engine carried here from the previous key frame), each prior mask is
also a candidate, as the superpixels it covers, when those superpixels still carry its outline
(IoU with the mask >= `match_iou`); it passes the same filters as any candidate (area, contrast,
stability, thickness), so a region the image no longer supports is dropped, and it ranks
`PRIOR_SLACK` above its own score, so that where a new cut of a region and the region found
before are near copies, NMS keeps the one found before and the track goes on under its id.
A re-found prior continues a track rather than starting one, so it does not count against the
budget of new masks; the key frame keeps as many as fit in `max_masks` together with the
arrivals it did not re-find (which live on as tracks of their own, see `_room`).
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
from .regions import (RegionGraph, background_likelihood, border_stats, enclosed_regions, held_by_vote, mask_nms,
                      masks_to_rows, merge_tree, region_graph, tree_members, unique_rows)
from .superpixels import SuperpixelCache, Superpixels

# Hysteresis for regions found before (as trackers keep a track at a lower confidence than
# they start one at): a prior region ranks this much above its score in NMS, and its stability
# may be this much below `min_stability`. Scores and stabilities are contrast ratios in [0, 1]
# that move by a few hundredths between key frames for one region, so 0.1 lets the region found
# before win over its own near copy and survive a key frame's jitter around the threshold, but
# not win over a clearly better-bounded new region nor outlive its edges.
PRIOR_SLACK = 0.1


# In the things' ranking: how much a region that is surely background (boundary connectivity
# >> 1) loses of its contrast score (in [0, 1]): enough to put a closed object of the same
# contrast first. By default that ranking fills half of the budget; all of it (--things-first)
# shortens tracks on real footage (sample clip median 75 -> 65.5 frames) and fragments more
# (hard scenes frag 2.30 -> 2.62); half of it keeps tracks long (71 frames) and frag at 2.23
# (benchmarks/RESULTS.md, "Half of the budget to things").
BACKGROUND_PENALTY = 0.5


def take_turns(first: np.ndarray, second: np.ndarray, fixed: np.ndarray) -> np.ndarray:
    """Merge two rankings of the same candidates by taking turns, each time the best not taken yet.

    Candidates marked `fixed` keep their places in `first`; the other places are filled in turn
    from `first` and `second`. Why: one ranking alone gives a small budget to one kind of region."""
    free_first, free_second = ([i for i in r.tolist() if not fixed[i]] for r in (first, second))
    taken: set[int] = set()
    merged: list[int] = []
    for pair in zip(free_first, free_second):
        for i in pair:
            if i not in taken:
                taken.add(i)
                merged.append(i)
    turns = iter(merged)
    return np.asarray([i if fixed[i] else next(turns) for i in first.tolist()], np.int64)


def lab_image(image: np.ndarray) -> np.ndarray:
    """Smoothed CIE Lab: colour distances there track perceived differences better than in RGB."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return cv2.GaussianBlur(lab, (0, 0), 0.8)


class SegmentGenerator:
    """`MaskGenerator` of the classic backend (see the module docstring for the algorithm)."""

    def _usable(self, members: np.ndarray, g: RegionGraph, size: tuple[int, int],
                slack: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """-> (keep, score): contrast score above `min_score`, stability above `min_stability`
        less `slack`, and mean thickness (2 area / border) of at least `min_thickness` pixels of
        the flow's working resolution.

        Slivers (the blurred rim of an object, a seam between two regions) are cut differently at
        every key frame and are too thin for a nearest-pixel flow warp, so they never match and
        only add tracks; a 3 px handle is thick enough to stay.
        """
        score, stability, border = border_stats(members, g)
        area = members.astype(np.float32) @ g.sizes.astype(np.float32)
        px = max(1.0, max(size) / self.work_side)
        thick = 2 * area / np.maximum(border, 1) >= self.min_thickness * px
        return (score >= self.min_score) & (stability >= self.min_stability - slack) & thick, score

    def __init__(self, config: RunConfig, cache: SuperpixelCache, min_score: float = 0.5,
                 min_thickness: float = 2.0) -> None:
        self.config, self.cache, self.min_score = config, cache, min_score
        self.min_thickness, self.work_side = min_thickness, cache.work_side
        self.min_stability = 0.5
        # Unmatched masks live on as their own tracks, so a frame carries about three key frames'
        # worth of masks (its own, the previous key frame's carried forward, the next one's carried
        # back); a third of the engine's max_masks keeps masks per frame near max_masks on busy
        # real footage. Filled in turns from two rankings (`take_turns`), so the budget drops the
        # least well-bounded masks of each kind first.
        self.budget = max(1, config.max_masks // 3)
        self.seconds = 0.0
        self.calls = 0

    def _prior_rows(self, prior: Masks | None, sp: Superpixels, g: RegionGraph,
                    frame_px: float) -> tuple[np.ndarray, int]:
        """-> (prior masks as superpixel rows, those whose outline the superpixels still carry
        (IoU >= match_iou: what the engine needs to link them) and of a generated mask's area;
        how many prior masks the superpixels can hold at all).

        A prior mask smaller or thinner than the superpixels under it (the majority vote keeps
        half of its area or less) came through the propagator's snap unsnapped; it can never be
        re-found, and it is not counted among the arrivals that crowd the key frame (`_room`):
        otherwise every small thing tracked on would take two new masks' room, for good."""
        K = sp.count
        if prior is None or len(prior) == 0:
            return np.zeros((0, K), bool), 0
        if tuple(prior.size) != sp.labels.shape:
            raise ValueError(f"prior masks of size {tuple(prior.size)} for a frame of size {sp.labels.shape}")
        rows, fit = masks_to_rows(prior.to_dense(), sp.labels, K)
        area = rows.astype(np.float32) @ g.sizes.astype(np.float32)
        held = int(held_by_vote(area, prior.areas).sum())
        ok = (fit >= self.config.match_iou) & (area >= max(self.config.min_generated_area * frame_px, 1))
        ok &= area <= 0.95 * frame_px
        # sorted and without duplicates: the output must not depend on the order the prior comes in
        packed = np.unique(np.packbits(rows[ok], axis=1), axis=0)
        return np.unpackbits(packed, axis=1, count=K).astype(bool), held

    def _room(self, kept_prior: np.ndarray, n_arrived: int, budget: int) -> int:
        """How many of the kept candidates (in rank order; `kept_prior` marks re-found priors) fit.

        A re-found prior continues its track, so only new masks count against `budget`; but each
        arrival not re-found lives on as a track of its own through this frame, and about as
        many come back from the next key frame, so the longest prefix with kept + 2 x lost
        within `max_masks` is taken (never under `budget`).
        """
        if len(kept_prior) == 0:
            return 0
        lost = n_arrived - np.cumsum(kept_prior)
        fits = np.arange(1, len(kept_prior) + 1) + 2 * lost <= self.config.max_masks
        fits[:budget] = True
        return int(np.flatnonzero(fits)[-1]) + 1

    def generate(self, frame_index: int, image: np.ndarray, prior: Masks | None = None) -> Masks:
        t0 = time.perf_counter()
        size = image.shape[:2]
        frame_px = float(size[0] * size[1])
        sp = self.cache.get(frame_index, image)
        g = region_graph(sp, lab_image(image))
        members = unique_rows(np.concatenate([tree_members(sp.count, merge_tree(g, link)[0])
                                            for link in ("ward", "boundary")]))
        area = members.astype(np.float32) @ g.sizes.astype(np.float32)
        ok = (area >= max(self.config.min_generated_area * frame_px, 1)) & (area <= 0.95 * frame_px)
        cand = members[ok]
        cand = cand[self._usable(cand, g, size)[0]]
        filled, holes = enclosed_regions(cand, sp.labels, g.sizes, self.config.min_generated_area * frame_px)
        grew = (filled != cand).any(1)
        # Filled regions come first and inherit their ring's score: where NMS must choose between
        # an object with a logo and the same object with a logo-shaped hole, the whole wins.
        ring_score = border_stats(cand[grew], g)[0]
        # Prior regions go first of all, so that a tree node identical to one is the duplicate dropped.
        before, n_held = self._prior_rows(prior, sp, g, frame_px)
        n_prior = len(before)
        cand = np.concatenate([before, filled[grew], cand, holes])
        is_prior = np.arange(len(cand)) < n_prior
        good, score = self._usable(cand, g, size, np.where(is_prior, PRIOR_SLACK, 0.0))
        ring = slice(n_prior, n_prior + len(ring_score))
        score[ring] = np.maximum(score[ring], ring_score)
        _, first = np.unique(np.packbits(cand, axis=1), axis=0, return_index=True)
        good &= np.isin(np.arange(len(cand)), first)
        good = np.flatnonzero(good)
        rank = score + np.where(is_prior, PRIOR_SLACK, 0.0)
        # regions that run along the frame's edge rank lower among things
        things_rank = rank - BACKGROUND_PENALTY * background_likelihood(cand, sp.labels, g)
        things_order = good[np.argsort(-things_rank[good], kind="stable")]
        if self.config.things_first:
            order = things_order
        else:
            order = take_turns(good[np.argsort(-rank[good], kind="stable")], things_order, is_prior)
        budget = min(self.budget, self.config.max_masks)
        keep = mask_nms(cand, g.sizes, order, self.config.match_iou, budget, is_prior, self.config.max_masks)
        keep = keep[:self._room(np.asarray(keep, np.int64) < n_prior, n_held, budget)]
        dense = cand[keep][:, sp.labels] if keep else np.zeros((0, *size), bool)
        out = Masks.from_dense(dense, ids=range(len(keep)), scores=score[keep])
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out
