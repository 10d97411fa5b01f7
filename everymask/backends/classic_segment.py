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
    """Fine regions of one frame at the frame's resolution."""

    labels: np.ndarray              # H x W int32, 0..K-1
    count: int

    @property
    def labels_t(self) -> np.ndarray:
        """W x H copy (the propagator's column-major layout), made once."""
        if getattr(self, "_t", None) is None:
            self._t = np.ascontiguousarray(self.labels.T)
        return self._t


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
    return Superpixels(labels, int(labels.max()) + 1)


class SuperpixelCache:
    """Superpixels by frame index, shared by the generator and the propagator (bounded LRU).

    The engine generates at key frame k and later propagates into k from both sides; snapping
    there needs the same superpixels, so they are computed once per key frame.
    """

    def __init__(self, capacity: int = 24, work_side: int = 640) -> None:
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


def region_graph(sp: Superpixels, lab_img: np.ndarray) -> RegionGraph:
    """Adjacency (4-neighbour) of superpixels with boundary length and Lab contrast per pair."""
    lab, lab_flat, K = sp.labels, lab_img.reshape(-1, 3), sp.count
    sizes = np.bincount(lab.ravel(), minlength=K).astype(np.float64)
    lab_sum = np.stack([np.bincount(lab.ravel(), lab_flat[:, c].astype(np.float64), K) for c in range(3)], 1)
    a_list, b_list, d_list = [], [], []
    for da, db, ia, ib in ((lab[:, :-1], lab[:, 1:], lab_img[:, :-1], lab_img[:, 1:]),
                           (lab[:-1, :], lab[1:, :], lab_img[:-1, :], lab_img[1:, :])):
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
    ward = linkage == "ward"
    n = g.sizes.tolist()
    mean = (g.lab_sum / np.maximum(g.sizes, 1)[:, None]).tolist()
    bnd: list[dict[int, list[float]]] = [{} for _ in range(K)]
    for (a, b), ln, ct in zip(g.edges.tolist(), g.edge_len.tolist(), g.edge_contrast.tolist()):
        bnd[a][b] = [ln, ct]
        bnd[b][a] = [ln, ct]
    def ward_cost(a: int, b: int) -> float:
        (a0, a1, a2), (b0, b1, b2) = mean[a], mean[b]
        return n[a] * n[b] / (n[a] + n[b]) * ((a0 - b0) ** 2 + (a1 - b1) ** 2 + (a2 - b2) ** 2)

    if ward:
        heap = [(ward_cost(a, b), a, b) for a, b in g.edges.tolist()]
    else:
        heap = [(ct / ln, a, b) for (a, b), ln, ct in zip(g.edges.tolist(), g.edge_len.tolist(),
                                                         g.edge_contrast.tolist())]
    heapq.heapify(heap)
    push, pop = heapq.heappush, heapq.heappop
    root = list(range(K))                         # union-find: node -> the tree node it is now in

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    # Lazy heap: an entry names two nodes as they were when pushed; on pop it is re-read for the
    # nodes they now belong to and pushed back if its cost went up. Both linkages never make a
    # merged node cheaper to join than the cheaper of its halves was (Ward is reducible; the
    # mean border contrast only changes for common neighbours, which are pushed), so the first
    # entry popped whose cost is current is the cheapest merge, as in the eager version, without
    # re-pushing every neighbour of every merge.
    children = []
    while heap:
        c, a, b = pop(heap)
        a, b = find(a), find(b)
        if a == b:
            continue
        cur = ward_cost(a, b) if ward else bnd[a][b][1] / bnd[a][b][0]
        if cur > c * (1 + 1e-9) + 1e-12:
            push(heap, (cur, a, b))
            continue
        new = len(n)
        root[a] = root[b] = new
        root.append(new)
        na, nb_ = n[a], n[b]
        n.append(na + nb_)
        mean.append([(x * na + y * nb_) / (na + nb_) for x, y in zip(mean[a], mean[b])])
        ba, bb = bnd[a], bnd[b]
        if len(ba) < len(bb):
            ba, bb = bb, ba
        nb = ba                                  # reuse the larger neighbour map
        nb.pop(a, None)
        nb.pop(b, None)
        common = []
        for x, e in bb.items():
            if x == a or x == b:
                continue
            if x in nb:
                f = nb[x]
                nb[x] = [f[0] + e[0], f[1] + e[1]]
                common.append(x)
            else:
                nb[x] = e
        bnd[a] = bnd[b] = {}
        bnd.append(nb)
        for x, e in nb.items():
            bx = bnd[x]
            bx.pop(a, None)
            bx.pop(b, None)
            bx[new] = e
        if not ward:
            for x in common:
                e = nb[x]
                push(heap, (e[1] / e[0], new, x))
        children.append((a, b))
    return np.asarray(children, np.int64).reshape(-1, 2)


def tree_members(K: int, children: np.ndarray) -> np.ndarray:
    """(K + merges) x K boolean membership: which superpixels each tree node covers."""
    m = np.zeros((K + len(children), K), bool)
    m[np.arange(K), np.arange(K)] = True
    for i, (a, b) in enumerate(children):
        m[K + i] = m[a] | m[b]
    return m


def border_stats(members: np.ndarray, g: RegionGraph) -> tuple[np.ndarray, np.ndarray]:
    """-> (contrast score in [0, 1), border length in pixels) per candidate.

    The score is the mean Lab step across the candidate's border over the image's median
    superpixel edge step, r / (r + 1): a region whose border is a strong edge all round is an
    object (or a part) rather than a piece of texture, and the ratio makes the score independent
    of the footage's overall contrast. The frame border does not count as border.
    """
    E = len(g.edges)
    if E == 0:
        return np.zeros(len(members)), np.ones(len(members))
    a, b = g.edges[:, 0], g.edges[:, 1]
    cross = members[:, a] != members[:, b]                     # C x E: edge on the border
    length = cross.astype(np.float64) @ g.edge_len
    contrast = cross.astype(np.float64) @ g.edge_contrast
    per_edge = g.edge_contrast / np.maximum(g.edge_len, 1)
    ref = float(np.median(per_edge)) + 1e-6
    mean = contrast / np.maximum(length, 1)
    return mean / (mean + ref), length


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
        comp_of = np.where(hole, comp.ravel()[rep], 0)
        comp_px = np.bincount(comp_of, weights=sizes, minlength=n)
        for c in np.flatnonzero(comp_px[1:] >= min_px) + 1:
            holes.append(comp_of == c)
    return filled, np.asarray(holes, bool).reshape(-1, K)


class SegmentGenerator:
    """`MaskGenerator` of the classic backend (see the module docstring for the algorithm)."""

    def _usable(self, members: np.ndarray, g: RegionGraph, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """-> (keep, score): contrast score above `min_score` and mean thickness (2 area / border)
        of at least `min_thickness` pixels of the flow's working resolution.

        Slivers (the blurred rim of an object, a seam between two regions) are cut differently at
        every key frame and are too thin for a nearest-pixel flow warp, so they never match and
        only add tracks; a 3 px handle is thick enough to stay.
        """
        score, border = border_stats(members, g)
        area = members.astype(np.float32) @ g.sizes.astype(np.float32)
        px = max(1.0, max(size) / self.work_side)
        thick = 2 * area / np.maximum(border, 1) >= self.min_thickness * px
        return (score >= self.min_score) & thick, score

    def __init__(self, config: RunConfig, cache: SuperpixelCache, min_score: float = 0.5,
                 min_thickness: float = 2.0) -> None:
        self.config, self.cache, self.min_score = config, cache, min_score
        self.min_thickness, self.work_side = min_thickness, cache.work_side
        self.seconds = 0.0
        self.calls = 0

    def generate(self, frame_index: int, image: np.ndarray) -> Masks:
        t0 = time.perf_counter()
        size = image.shape[:2]
        frame_px = float(size[0] * size[1])
        sp = self.cache.get(frame_index, image)
        g = region_graph(sp, lab_image(image))
        members = unique_rows(np.concatenate([tree_members(sp.count, merge_tree(g, link))
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
        keep = mask_nms(cand, g.sizes, order, self.config.match_iou, self.config.max_masks)
        dense = cand[keep][:, sp.labels] if keep else np.zeros((0, *size), bool)
        out = Masks.from_dense(dense, ids=range(len(keep)), scores=score[keep])
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out
