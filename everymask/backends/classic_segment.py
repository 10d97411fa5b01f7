"""Classic "everything" mask generator: superpixels, a region-merging hierarchy, nested masks.

The algorithm, top to bottom (`SegmentGenerator.generate`):
  1. fine superpixels (graph-based segmentation, Felzenszwalb) that hug image edges;
  2. a region adjacency graph over them: Lab colour sums, shared boundary length and contrast;
  3. an adjacency-constrained Ward merge of that graph into a binary tree: every tree node is a
     candidate mask, leaves are the finest, the root is the whole frame, so fine regions lie
     inside coarser ones (parts inside wholes) by construction;
  4. each candidate gets a boundary-contrast score (how much stronger the edges on its border are
     than the image's typical superpixel edge), plus a hole-filled variant when it encloses other
     regions (a logo or window inside an object makes the object's body ring-shaped);
  5. mask-IoU NMS over candidates in score order, capped at `max_masks`.
Every mask is a union of the superpixels of step 1. The propagator snaps its masks at key frames
to the same superpixels, so a propagated mask and the key frame's own mask of the same region
agree exactly where the propagation was right, which is what the engine's IoU matching needs.
"""
from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.segmentation import felzenszwalb

from ..config import RunConfig
from ..masks import Masks


@dataclass
class Superpixels:
    """Fine regions of one frame at the frame's resolution, and the Lab image they were cut from."""

    labels: np.ndarray              # H x W int32, 0..K-1
    count: int
    lab: np.ndarray                 # H x W x 3 float32 (smoothed Lab)


def lab_image(image: np.ndarray) -> np.ndarray:
    """Smoothed CIE Lab: colour distances there track perceived differences better than in RGB."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return cv2.GaussianBlur(lab, (0, 0), 0.8)


def compute_superpixels(image: np.ndarray, work_side: int = 640) -> Superpixels:
    """Felzenszwalb superpixels, computed at most at `work_side` pixels on the long side.

    Parameters are relative to the frame area so that a 240p and a 720p frame give a similar
    number of regions (~300-600): fine enough for thin parts, coarse enough for a fast hierarchy.
    """
    h, w = image.shape[:2]
    f = min(1.0, work_side / max(h, w))
    small = image if f == 1.0 else cv2.resize(image, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    area = small.shape[0] * small.shape[1]
    labels = felzenszwalb(small, scale=60.0 * np.sqrt(area / 102240), sigma=0.6,
                          min_size=max(8, int(area * 0.00015)))
    if f != 1.0:
        labels = cv2.resize(labels.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
    labels = np.unique(labels, return_inverse=True)[1].reshape(h, w).astype(np.int32)
    return Superpixels(labels, int(labels.max()) + 1, lab_image(image))


class SuperpixelCache:
    """Superpixels by frame index, shared by the generator and the propagator (bounded LRU).

    The engine generates at key frame k and later propagates into k from both sides; snapping
    there needs the same superpixels, so they are computed once per key frame.
    """

    def __init__(self, capacity: int = 8, work_side: int = 640) -> None:
        self.capacity, self.work_side = capacity, work_side
        self._items: OrderedDict[int, Superpixels] = OrderedDict()
        self.computed = self.hits = 0
        self.seconds = 0.0

    def get(self, index: int, image: np.ndarray) -> Superpixels:
        sp = self._items.get(index)
        if sp is not None and sp.labels.shape == image.shape[:2]:
            self._items.move_to_end(index)
            self.hits += 1
            return sp
        t0 = time.perf_counter()
        sp = compute_superpixels(image, self.work_side)
        self.seconds += time.perf_counter() - t0
        self.computed += 1
        self._items[index] = sp
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return sp


@dataclass
class RegionGraph:
    sizes: np.ndarray               # K pixel counts
    lab_sum: np.ndarray             # K x 3
    edges: np.ndarray               # E x 2, a < b
    edge_len: np.ndarray            # E boundary pixel pairs
    edge_contrast: np.ndarray       # E summed Lab difference across the boundary


def region_graph(sp: Superpixels) -> RegionGraph:
    """Adjacency (4-neighbour) of superpixels with boundary length and contrast per pair."""
    lab, lab_flat, K = sp.labels, sp.lab.reshape(-1, 3), sp.count
    sizes = np.bincount(lab.ravel(), minlength=K).astype(np.float64)
    lab_sum = np.stack([np.bincount(lab.ravel(), lab_flat[:, c].astype(np.float64), K) for c in range(3)], 1)
    a_list, b_list, d_list = [], [], []
    for da, db, ia, ib in ((lab[:, :-1], lab[:, 1:], sp.lab[:, :-1], sp.lab[:, 1:]),
                           (lab[:-1, :], lab[1:, :], sp.lab[:-1, :], sp.lab[1:, :])):
        diff = da != db
        a_list.append(da[diff])
        b_list.append(db[diff])
        d_list.append(np.linalg.norm(ia[diff] - ib[diff], axis=1))
    a, b, d = np.concatenate(a_list), np.concatenate(b_list), np.concatenate(d_list)
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    key = lo * K + hi
    uniq, inv = np.unique(key, return_inverse=True)
    edge_len = np.bincount(inv).astype(np.float64)
    edge_contrast = np.bincount(inv, d)
    edges = np.stack([uniq // K, uniq % K], 1)
    return RegionGraph(sizes, lab_sum, edges, edge_len, edge_contrast)


def merge_tree(g: RegionGraph, linkage: str) -> np.ndarray:
    """Greedy adjacency-constrained merging into a binary tree -> children ((N-K) x 2).

    Node K + i is the i-th merge. Two linkages give two complementary hierarchies:
    - "ward": increase in Lab colour variance. Small, similar regions merge first, so a small
      logo joins its object before the object joins a large background of similar colour;
      yields the colour-coherent regions (parts, single-colour objects).
    - "boundary": mean contrast along the shared border, weakest first (an ultrametric contour
      map). Texture and shading edges are weak, object outlines strong, so the background
      closes into one ring around each object; `enclosed_regions` then reads the objects off
      as its holes, whatever their colours.
    """
    K = len(g.sizes)
    n = list(g.sizes)
    s = [tuple(row) for row in g.lab_sum.tolist()]
    bnd: list[dict[int, list[float]]] = [{} for _ in range(K)]
    for (a, b), ln, ct in zip(g.edges.tolist(), g.edge_len.tolist(), g.edge_contrast.tolist()):
        bnd[a][b] = [ln, ct]
        bnd[b][a] = [ln, ct]
    alive = [True] * K

    def cost(a: int, b: int) -> float:
        if linkage == "ward":
            na, nb_ = n[a], n[b]
            (a0, a1, a2), (b0, b1, b2) = s[a], s[b]
            d0, d1, d2 = a0 / na - b0 / nb_, a1 / na - b1 / nb_, a2 / na - b2 / nb_
            return na * nb_ / (na + nb_) * (d0 * d0 + d1 * d1 + d2 * d2)
        ln, ct = bnd[a][b]
        return ct / ln

    heap = [(cost(int(a), int(b)), int(a), int(b)) for a, b in g.edges]
    heapq.heapify(heap)
    children = []
    while heap:
        _, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue
        new = len(n)
        alive[a] = alive[b] = False
        n.append(n[a] + n[b])
        s.append(tuple(x + y for x, y in zip(s[a], s[b])))
        alive.append(True)
        nb: dict[int, list[float]] = {}
        for side in (a, b):
            for x, (ln, ct) in bnd[side].items():
                if x in (a, b):
                    continue
                e = nb.setdefault(x, [0.0, 0.0])
                e[0] += ln
                e[1] += ct
                bnd[x].pop(side, None)
        bnd.append(nb)
        for x, e in nb.items():
            bnd[x][new] = e
            heapq.heappush(heap, (cost(new, x), new, x))
        children.append((a, b))
    return np.asarray(children, np.int64).reshape(-1, 2)


def tree_members(K: int, children: np.ndarray) -> np.ndarray:
    """(K + merges) x K boolean membership: which superpixels each tree node covers."""
    m = np.zeros((K + len(children), K), bool)
    m[np.arange(K), np.arange(K)] = True
    for i, (a, b) in enumerate(children):
        m[K + i] = m[a] | m[b]
    return m


def boundary_contrast(members: np.ndarray, g: RegionGraph, frame_px: float) -> np.ndarray:
    """Mean Lab step across each candidate's border, over the image's median superpixel edge step.

    A region whose border is a strong edge all round is an object (or a part) rather than a piece
    of texture; the ratio makes the score independent of the footage's overall contrast.
    """
    E = len(g.edges)
    if E == 0:
        return np.zeros(len(members))
    a, b = g.edges[:, 0], g.edges[:, 1]
    cross = members[:, a] != members[:, b]                     # C x E: edge on the border
    length = cross.astype(np.float64) @ g.edge_len
    contrast = cross.astype(np.float64) @ g.edge_contrast
    per_edge = g.edge_contrast / np.maximum(g.edge_len, 1)
    ref = float(np.median(per_edge)) + 1e-6
    mean = contrast / np.maximum(length, 1)
    return mean / (mean + ref)


def mask_nms(members: np.ndarray, sizes: np.ndarray, order: np.ndarray, thresh: float, cap: int) -> list[int]:
    """Greedy NMS on exact mask IoU (masks are unions of superpixels: IoU from sizes alone)."""
    w = members.astype(np.float32) * sizes.astype(np.float32)[None]
    area = w.sum(1)
    keep: list[int] = []
    kept = np.zeros((0, members.shape[1]), np.float32)
    for i in order:
        if kept.shape[0]:
            inter = kept @ members[i].astype(np.float32)
            iou = inter / (area[keep] + area[i] - inter)
            if iou.max() > thresh:
                continue
        keep.append(int(i))
        kept = np.vstack([kept, w[i][None]])
        if len(keep) >= cap:
            break
    return keep


def unique_rows(m: np.ndarray) -> np.ndarray:
    """Rows of a boolean matrix without duplicates, first occurrence order (hash of packed bits)."""
    seen: set[bytes] = set()
    keep = []
    for i, row in enumerate(np.packbits(m, axis=1)):
        key = row.tobytes()
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return m[keep]


def enclosed_regions(members: np.ndarray, labels: np.ndarray, sizes: np.ndarray,
                     min_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate, the regions it encloses: -> (candidates with holes filled, hole components).

    Closure is the cue colour lacks: an object of several colours (a ball with a stripe, a lamp
    with a dark pole) never forms one colour region, but it is a hole in the background region
    that surrounds it, and an object with a logo is its body with the logo's hole filled.
    A flood fill from the frame border over the candidate's complement, on a half-resolution
    label map (holes are whole superpixels, so that is exact enough and 4x cheaper).
    """
    K = len(sizes)
    small = labels[::2, ::2]
    h, w = small.shape
    px = np.bincount(small.ravel(), minlength=K)
    rep = np.zeros(K, np.int64)                       # one pixel of each superpixel in `small`
    rep[small.ravel()[::-1]] = np.arange(small.size)[::-1]
    filled = members.copy()
    hole_sets: dict[bytes, np.ndarray] = {}
    canvas = np.zeros((h + 4, w + 4), np.uint8)
    codes = members.view(np.uint8)
    for i, m in enumerate(members):
        canvas[2:-2, 2:-2] = codes[i][small]
        canvas[:2] = canvas[-2:] = 0
        canvas[:, :2] = canvas[:, -2:] = 0
        cv2.floodFill(canvas, None, (0, 0), 2)
        free = canvas[2:-2, 2:-2] == 0
        if not free.any():
            continue
        hole = np.bincount(small[free], minlength=K) == px
        hole &= (px > 0) & ~m
        if hole.any():
            filled[i] |= hole
            hole_sets.setdefault(np.packbits(hole).tobytes(), hole)
    holes = []
    for hole in hole_sets.values():
        n, comp = cv2.connectedComponents(hole[small].astype(np.uint8), connectivity=4)
        comp_of = comp.ravel()[rep]
        for c in range(1, n):
            part = hole & (comp_of == c)
            if sizes[part].sum() >= min_px:
                holes.append(part)
    return filled, np.asarray(holes, bool).reshape(-1, K)


class SegmentGenerator:
    """`MaskGenerator` of the classic backend (see the module docstring for the algorithm)."""

    def __init__(self, config: RunConfig, cache: SuperpixelCache, min_score: float = 0.5) -> None:
        self.config, self.cache, self.min_score = config, cache, min_score
        self.seconds = 0.0
        self.calls = 0

    def generate(self, frame_index: int, image: np.ndarray) -> Masks:
        t0 = time.perf_counter()
        size = image.shape[:2]
        frame_px = float(size[0] * size[1])
        sp = self.cache.get(frame_index, image)
        g = region_graph(sp)
        members = unique_rows(np.concatenate([tree_members(sp.count, merge_tree(g, link))
                                            for link in ("ward", "boundary")]))
        area = members.astype(np.float32) @ g.sizes.astype(np.float32)
        ok = (area >= max(self.config.min_area * frame_px, 1)) & (area <= 0.95 * frame_px)
        cand = members[ok]
        filled, holes = enclosed_regions(cand, sp.labels, g.sizes, self.config.min_area * frame_px)
        grew = (filled != cand).any(1)
        cand = unique_rows(np.concatenate([cand, filled[grew], holes]))
        score = boundary_contrast(cand, g, frame_px)
        good = np.flatnonzero(score >= self.min_score)
        order = good[np.argsort(-score[good], kind="stable")]
        keep = mask_nms(cand, g.sizes, order, self.config.box_nms_thresh, self.config.max_masks)
        dense = cand[keep][:, sp.labels] if keep else np.zeros((0, *size), bool)
        out = Masks.from_dense(dense, ids=range(len(keep)), scores=score[keep])
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out
