"""Region maths of the classic generator: the superpixel adjacency graph, merge trees, border
statistics, enclosed regions and NMS. Pure functions over small arrays (K superpixels, C
candidate masks as K-long boolean rows), tested one by one.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from .superpixels import Superpixels


@dataclass
class RegionGraph:
    sizes: np.ndarray               # K pixel counts
    lab_sum: np.ndarray             # K x 3
    edges: np.ndarray               # E x 2, a < b
    edge_len: np.ndarray            # E boundary pixel pairs
    edge_contrast: np.ndarray       # E summed Lab difference across the boundary
    self_len: np.ndarray            # K pixel pairs inside each superpixel
    self_contrast: np.ndarray       # K summed Lab difference of those pairs


def region_graph(sp: Superpixels, lab_img: np.ndarray) -> RegionGraph:
    """Adjacency (4-neighbour) of superpixels with boundary length and Lab contrast per pair."""
    lab, lab_flat, K = sp.labels, lab_img.reshape(-1, 3), sp.count
    sizes = np.bincount(lab.ravel(), minlength=K).astype(np.float64)
    lab_sum = np.stack([np.bincount(lab.ravel(), lab_flat[:, c].astype(np.float64), K) for c in range(3)], 1)
    a_list, b_list, d_list = [], [], []
    self_len, self_contrast = np.zeros(K), np.zeros(K)
    for da, db, ia, ib in ((lab[:, :-1], lab[:, 1:], lab_img[:, :-1], lab_img[:, 1:]),
                           (lab[:-1, :], lab[1:, :], lab_img[:-1, :], lab_img[1:, :])):
        step = np.sqrt(((ia - ib) ** 2).sum(-1))
        diff = da != db
        a_list.append(da[diff])
        b_list.append(db[diff])
        d_list.append(step[diff])
        same = ~diff
        self_len += np.bincount(da[same], minlength=K)
        self_contrast += np.bincount(da[same], step[same], minlength=K)
    a, b, d = np.concatenate(a_list), np.concatenate(b_list), np.concatenate(d_list)
    lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)
    key = lo * K + hi
    uniq, inv = np.unique(key, return_inverse=True)
    edge_len = np.bincount(inv).astype(np.float64)
    edge_contrast = np.bincount(inv, d)
    edges = np.stack([uniq // K, uniq % K], 1)
    return RegionGraph(sizes, lab_sum, edges, edge_len, edge_contrast, self_len, self_contrast)


def merge_tree(g: RegionGraph, linkage: str) -> tuple[np.ndarray, np.ndarray]:
    """Greedy adjacency-constrained merging into a binary tree -> (children (N-K) x 2, heights).

    heights[i] is the linkage cost of merge i (mean border contrast, or the square root of Ward's
    cost).
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
    children, heights = [], []
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
        heights.append(float(np.sqrt(cur)) if ward else cur)
    return np.asarray(children, np.int64).reshape(-1, 2), np.asarray(heights)


def tree_members(K: int, children: np.ndarray) -> np.ndarray:
    """(K + merges) x K boolean membership: which superpixels each tree node covers."""
    m = np.zeros((K + len(children), K), bool)
    m[np.arange(K), np.arange(K)] = True
    for i, (a, b) in enumerate(children):
        m[K + i] = m[a] | m[b]
    return m


def background_likelihood(members: np.ndarray, labels: np.ndarray, g: RegionGraph) -> np.ndarray:
    """Per candidate, how likely it is background, in [0, 1]: 1 - exp(-BC^2 / 2), BC its boundary
    connectivity, the length of its border on the frame's edge over the square root of its area
    (Zhu et al., "Saliency optimization from robust background detection", CVPR 2014). A wall or a
    floor runs along the frame's edge (BC of several); an object is closed inside the frame (BC 0),
    and one entering the frame touches the edge along a short stretch only."""
    edge = np.bincount(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]),
                       minlength=len(g.sizes)).astype(np.float32)
    m = members.astype(np.float32)
    area = m @ g.sizes.astype(np.float32)
    bc = (m @ edge) / np.sqrt(np.maximum(area, 1.0))
    return 1.0 - np.exp(-bc * bc / 2.0)


def border_stats(members: np.ndarray, g: RegionGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (score in [0, 1], border length in pixels) per candidate.

    score = B / (B + I): B the mean contrast (Lab step) along the candidate's border, I the mean
    contrast along the superpixel borders inside it (for a single superpixel, the image's median
    superpixel border). It is the stability of a region in an ultrametric contour map: the region
    exists for every edge threshold between its inner and its outer contrast, so B / I is the
    range of thresholds over which it stays the same mask (SAM's stability score, for edges).
    An object on grass scores high; an arbitrary chunk of the grass scores about 0.5 however
    strong the grass texture is, so the score does not depend on the footage's contrast.
    The frame border does not count as border.
    """
    E, K = len(g.edges), len(g.sizes)
    if E == 0:
        return np.zeros(len(members)), np.zeros(len(members)), np.ones(len(members))
    a, b = g.edges[:, 0], g.edges[:, 1]
    m = members.astype(np.float32)

    def split(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum of w over each candidate's border edges and over its inner edges, as quadratic
        forms over the weighted adjacency (no C x E intermediate)."""
        adj = sparse.coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(K, K)).tocsr()
        touching = m @ np.asarray(adj.sum(1)).ravel()            # edges with at least one end in
        inner = np.asarray((adj @ m.T).T * m).sum(1) / 2         # edges with both ends in
        return touching - 2 * inner, inner

    length, inner_len = split(g.edge_len.astype(np.float32))
    border_sum, inner_sum = split(g.edge_contrast.astype(np.float32))
    border = border_sum / np.maximum(length, 1)
    ref = float(np.median(g.edge_contrast / np.maximum(g.edge_len, 1)))
    inside = np.where(inner_len > 0.5, inner_sum / np.maximum(inner_len, 1), ref)
    pixels = (inner_sum + m @ g.self_contrast) / np.maximum(inner_len + m @ g.self_len, 1)
    return border / np.maximum(border + pixels, 1e-6), border / np.maximum(border + inside, 1e-6), length


def mask_nms(members: np.ndarray, sizes: np.ndarray, order: np.ndarray, thresh: float, cap: int,
             free: np.ndarray | None = None, total: int | None = None) -> list[int]:
    """Greedy NMS on exact mask IoU (masks are unions of superpixels: IoU from sizes alone).

    At most `cap` kept candidates that are not `free` (a boolean per candidate), and at most
    `total` in all; a candidate over its cap is skipped and suppresses nothing.
    """
    w = members.astype(np.float32) * sizes.astype(np.float32)[None]
    area = w.sum(1)
    free = np.zeros(len(members), bool) if free is None else free
    total = cap + int(free.sum()) if total is None else total
    keep: list[int] = []
    paid = 0
    kept = np.zeros((0, members.shape[1]), np.float32)
    for i in order:
        if not free[i] and paid >= cap:
            continue
        if kept.shape[0]:
            inter = kept @ members[i].astype(np.float32)
            iou = inter / (area[keep] + area[i] - inter)
            if iou.max() > thresh:
                continue
        keep.append(int(i))
        paid += not free[i]
        kept = np.vstack([kept, w[i][None]])
        if len(keep) >= total:
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


def held_by_vote(kept_area: np.ndarray, area: np.ndarray) -> np.ndarray:
    """Whether the superpixels a majority vote keeps for a mask hold it: more than half of its area.
    A mask smaller or thinner than the superpixels under it is not held (the propagator lets it go
    on unsnapped, and the generator can never re-find it)."""
    return 2 * np.asarray(kept_area) > np.asarray(area)


def masks_to_rows(dense: np.ndarray, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel masks as superpixel rows by majority vote -> (N x K rows, IoU of each row with its mask).

    A superpixel joins the row iff the mask covers at least half of it, the rule the propagator
    snaps by (`flow.snap_to_superpixels`), so a mask it snapped comes back exactly (IoU 1). The
    IoU says how well the superpixels, i.e. the image's edges, still carry the mask's outline.
    """
    n = len(dense)
    sizes = np.bincount(labels.ravel(), minlength=count).astype(np.float64)
    m, pix = np.nonzero(dense.reshape(n, -1))
    votes = np.bincount(m * count + labels.ravel()[pix], minlength=n * count).reshape(n, count).astype(np.float64)
    rows = (2 * votes >= sizes[None]) & (sizes > 0)[None]
    inter = (votes * rows).sum(1)
    union = rows.astype(np.float64) @ sizes + votes.sum(1) - inter
    return rows, np.where(union > 0, inter / np.maximum(union, 1), 0.0)
