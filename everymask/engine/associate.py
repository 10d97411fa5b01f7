"""Association: what the masks arriving at a key frame are (a key-frame mask's object, a copy, or
something that goes on), id merges with cannot-links, and which mask of a merged track
represents it on each frame."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..masks import RLE, areas, iou_matrix
from .track_graph import TrackGraph


def match(a: Sequence[RLE], b: Sequence[RLE], min_iou: float) -> list[tuple[int, int, float]]:
    """The method's one-to-one Hungarian assignment on IoU: pairs (i, j, iou) with iou > min_iou."""
    if not a or not b:
        return []
    iou = iou_matrix(a, b)
    rows, cols = linear_sum_assignment(iou, maximize=True)
    return sorted((int(i), int(j), float(iou[i, j])) for i, j in zip(rows, cols) if iou[i, j] > min_iou)


def staged_pairs(arrivals: Sequence[RLE], generated: Sequence[RLE], thresholds: "Thresholds"
                 ) -> list[tuple[int, int, float]]:
    """`match_key_frame`'s stages 2-4 without a track graph: (arrival, generated mask, iou) for the
    one-to-one pairs above `match`, then the copies (an arrival above `copy` with a taken mask),
    then the mutual best pairs above `second` among what is left. Used where window tracks meet,
    whose cannot-links are checked when the joins are applied."""
    if not arrivals or not generated:
        return []
    iou = iou_matrix(list(arrivals), list(generated))
    rows, cols = linear_sum_assignment(iou, maximize=True)
    pairs = [(int(i), int(j), float(iou[i, j])) for i, j in zip(rows, cols) if iou[i, j] > thresholds.match]
    done, taken = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
    for i in range(len(arrivals)):
        j = int(iou[i].argmax())
        if i not in done and iou[i, j] > thresholds.copy:
            pairs.append((i, j, float(iou[i, j])))
            done.add(i)
    left_a = [i for i in range(len(arrivals)) if i not in done]
    left_g = [j for j in range(len(generated)) if j not in taken]
    pairs += second_stage(iou, areas(arrivals), areas(generated), left_a, left_g, thresholds.second)
    return sorted(pairs)


def second_stage(iou: np.ndarray, area_a: np.ndarray, area_g: np.ndarray, left_a: list[int], left_g: list[int],
                 min_iou: float, nested: float = 0.9) -> list[tuple[int, int, float]]:
    """Mutual best pairs (i, j, iou) above `min_iou` among the arrivals and masks left by the first stage.

    Below match_iou two masks may be one object that drifted, or a part and its whole: a pair where
    the smaller mask lies `nested` or more inside the larger is the second kind and is left alone
    (a drifted mask sticks out of the other; a part does not).
    """
    if not left_a or not left_g:
        return []
    sub = iou[np.ix_(left_a, left_g)]
    best_g, best_a = sub.argmax(1), sub.argmax(0)
    out = []
    for r, i in enumerate(left_a):
        c = int(best_g[r])
        j, v = left_g[c], float(sub[r, c])
        if best_a[c] != r or v <= min_iou:
            continue
        inter = v * (area_a[i] + area_g[j]) / (1.0 + v)
        if inter < nested * min(area_a[i], area_g[j]):
            out.append((i, j, v))
    return out


@dataclass(frozen=True)
class Thresholds:
    """IoU thresholds of the association at key frames (RunConfig's match_iou, second_iou, copy_iou)."""

    match: float = 0.8
    second: float = 0.5
    copy: float = 0.9


@dataclass
class KeyFrameMatch:
    """What the association decided at one key frame.

    `stops`: indices of arrivals that stop here (their object goes on as a key-frame mask or
    as another arrival). `merges`: (pid, pid, iou, kind) in the order they were joined, kind one
    of "match" (one-to-one at match_iou), "second" (mutual best at second_iou), "copy" (a copy
    of a key-frame mask or of another arrival).
    """

    stops: set[int] = field(default_factory=set)
    merges: list[tuple[int, int, float, str]] = field(default_factory=list)


def match_key_frame(arrival_pids: Sequence[int], arrivals: Sequence[RLE], generated_pids: Sequence[int],
                    generated: Sequence[RLE], key_frame: int, graph: TrackGraph,
                    thresholds: Thresholds = Thresholds()) -> KeyFrameMatch:
    """Associate the masks that arrive at a key frame with the masks generated there.

    Arrivals are taken in the order given (the engine passes them oldest id first). In order:
    1. an arrival whose track already has its own mask on this key frame stops: that mask carries
       the track on;
    2. the method's one-to-one Hungarian assignment on IoU, pairs above `match`;
    3. copies: an arrival above `copy` with a key-frame mask that another arrival took is the
       same object;
    4. a second stage for what is left, as two-stage trackers do: mutual best pairs above `second`
       that are not a part and its whole (`second_stage`);
    5. copies among the arrivals still going: above `copy` with an older one, the younger stops.
    Every join goes through `graph`, which refuses one that would put two masks generated on one
    frame into one track; an arrival matched by a refused join does not stop (stages 2 and 4),
    except a copy (3 and 5), which stops anyway: the object it copies goes on without it.
    """
    out = KeyFrameMatch()
    n, m = len(arrivals), len(generated)
    if n == 0:
        return out

    def join(i: int, pid: int, iou: float, kind: str) -> bool:
        if graph.join(arrival_pids[i], pid):
            out.merges.append((int(arrival_pids[i]), int(pid), float(iou), kind))
            return True
        return False

    for i in range(n):                                                          # 1
        if key_frame in graph.keys(arrival_pids[i]):
            out.stops.add(i)
    iou = iou_matrix(list(arrivals), list(generated)) if m else np.zeros((n, 0))
    taken: set[int] = set()
    if m:
        live = np.array([i not in out.stops for i in range(n)])
        feasible = np.array([[graph.can_join(a, g) for g in generated_pids] for a in arrival_pids], bool)
        score = np.where(feasible & live[:, None], iou, 0.0)
        rows, cols = linear_sum_assignment(score, maximize=True)                # 2
        for i, j in sorted(zip(rows.tolist(), cols.tolist()), key=lambda p: (-score[p], p)):
            if score[i, j] > thresholds.match and join(i, generated_pids[j], iou[i, j], "match"):
                out.stops.add(i)
                taken.add(j)
        for i in range(n):                                                      # 3
            if i in out.stops:
                continue
            j = int(iou[i].argmax())
            if iou[i, j] > thresholds.copy:
                join(i, generated_pids[j], iou[i, j], "copy")
                out.stops.add(i)
        left_a = [i for i in range(n) if i not in out.stops]                    # 4
        left_g = [j for j in range(m) if j not in taken]
        for i, j, v in second_stage(iou, areas(arrivals), areas(generated), left_a, left_g, thresholds.second):
            if join(i, generated_pids[j], v, "second"):
                out.stops.add(i)
    going = [i for i in range(n) if i not in out.stops]                         # 5
    if len(going) > 1:
        between = iou_matrix([arrivals[i] for i in going], [arrivals[i] for i in going])
        kept: list[int] = []
        for r, i in enumerate(going):
            best = max(kept, key=lambda q: between[r, q], default=None)
            if best is not None and between[r, best] > thresholds.copy:
                graph.join(arrival_pids[going[best]], arrival_pids[i]) and out.merges.append(
                    (int(arrival_pids[going[best]]), int(arrival_pids[i]), float(between[r, best]), "copy"))
                out.stops.add(i)
            else:
                kept.append(r)
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
