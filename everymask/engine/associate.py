"""Pure maths of association: one-to-one IoU matching, id merges with cannot-links, and which
mask of a merged track represents it on each frame."""
from __future__ import annotations

from typing import Callable, Hashable, Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..masks import RLE, iou_matrix


def match(arrivals: Sequence[RLE], generated: Sequence[RLE], min_iou: float,
          duplicates: bool = False) -> list[tuple[int, int, float]]:
    """Arrivals that are a key-frame mask's object: pairs (i, j, iou) with iou > min_iou.

    The Hungarian assignment on IoU pairs arrivals and key-frame masks one to one (the method).
    With `duplicates`, an arrival left out of it that still overlaps some key-frame mask above
    min_iou is taken as a copy of that mask's object (two tracks that converged on one object):
    it is paired with its best such mask as well, so it merges there instead of going on.
    """
    if not arrivals or not generated:
        return []
    iou = iou_matrix(arrivals, generated)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    pairs = {int(i): (int(i), int(j), float(iou[i, j])) for i, j in zip(rows, cols) if iou[i, j] > min_iou}
    for i in range(len(arrivals) if duplicates else 0):
        if i not in pairs:
            j = int(iou[i].argmax())
            if iou[i, j] > min_iou:
                pairs[i] = (i, j, float(iou[i, j]))
    return [pairs[i] for i in sorted(pairs)]


def absorb_duplicates(masks: Sequence[RLE], min_iou: float) -> list[tuple[int, int, float]]:
    """Masks that go on together but are one object: pairs (i, j, iou), i a copy of kept mask j.

    Unmatched arrivals carry on into the next window; two of them above min_iou with each other
    would go on as two copies of one track. The first in the given order (the engine passes the
    oldest id first) is kept, the others merge into it and stop.
    """
    if len(masks) < 2:
        return []
    iou = iou_matrix(masks, masks)
    kept: list[int] = []
    out = []
    for i in range(len(masks)):
        best = max(kept, key=lambda j: iou[i, j], default=None)
        if best is not None and iou[i, best] > min_iou:
            out.append((i, best, float(iou[i, best])))
        else:
            kept.append(i)
    return out


def resolve_ids(nodes: Iterable[Hashable], edges: Sequence[tuple[Hashable, Hashable, float]],
                keys_of: Callable[[Hashable], Iterable[int]] = lambda n: (),
                rank: Callable[[Hashable], object] = lambda n: n) -> dict:
    """Union the nodes joined by `edges` -> {node: root (the lowest `rank` in its track)}.

    A track may hold at most one generated mask per key frame (`keys_of(node)`: the key frames a
    node's generated masks are on): two masks found on the same frame are different objects even
    if a chain of matches links them. Edges are taken strongest first and one that would join two
    tracks with a common key frame is refused, so the result does not depend on the order the
    edges were found in. Used for provisional ids (finalize) and for window tracks (stitching).
    """
    parent = {n: n for n in nodes}
    keys = {n: set(keys_of(n)) for n in parent}

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b, _ in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        if a not in parent or b not in parent:
            continue
        ra, rb = find(a), find(b)
        if ra == rb or keys[ra] & keys[rb]:
            continue
        if rank(rb) < rank(ra):
            ra, rb = rb, ra
        parent[rb] = ra
        keys[ra] |= keys.pop(rb)
    return {n: find(n) for n in parent}


def pick_representatives(pids: np.ndarray, directions: np.ndarray, roots: np.ndarray,
                         origins: np.ndarray, frame: int) -> np.ndarray:
    """Index of the one mask kept per track on a frame where several of its ids have a mask.

    The mask propagated over the fewest frames wins (a key frame's own mask wins outright);
    at equal distance forward beats backward, then the smaller id: deterministic.
    """
    age = np.abs(frame - origins)
    dir_rank = np.where(directions == 1, 0, 1)
    order = np.lexsort((pids, dir_rank, age, roots))
    first = np.ones(len(order), bool)
    first[1:] = roots[order][1:] != roots[order][:-1]
    return np.sort(order[first])
