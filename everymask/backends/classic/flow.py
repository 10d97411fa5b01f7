"""Classic propagator: dense optical flow (OpenCV DIS) warping of all seed masks at once.

Per step t -> t' (either direction):
  1. the flow pair (t -> t', t' -> t) comes from a small LRU cache keyed by the unordered frame
     pair, so the engine's forward pass k -> k+s and its backward pass k+s -> k compute each
     pair once;
  2. every target pixel looks up its source pixel along the t' -> t flow (backward warping:
     each target pixel gets exactly one value, no holes from splatting); all masks travel
     together as a bit-packed H x W x ceil(N/8) array, so a step costs one gather whatever N;
  3. forward-backward consistency: a pixel whose round trip does not come back (occluded or
     newly visible content, or flow out of the frame) is unknown, and takes the value of the
     nearest known pixel; masks whose content leaves the frame or goes behind something shrink;
  4. at the last frame (a key frame, where the engine matches masks by IoU) each mask is
     snapped to that frame's superpixels by majority vote: boundaries land on the image edges the
     generator uses there, which stops drift over many windows; a mask smaller or thinner than
     the superpixels under it, which the vote would empty, goes on as warped.
"""
from __future__ import annotations

import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ...bounded_cache import BoundedCache
from ...masks import Masks, areas
from ...video.base import FrameSource
from .regions import held_by_vote
from .superpixels import SuperpixelCache


class FlowCache:
    """DIS flows per unordered frame pair, bounded in bytes (LRU), with counters for the benchmark.

    The engine's backward cascade carries unmatched masks several windows back, so the cache
    holds many pairs; flows are kept as float16 (0.06 px steps below 128 px: far finer than
    the nearest-pixel warp that uses them) to halve the memory. `prefetch` computes the pairs a
    propagation will need on one worker thread (OpenCV releases the GIL), so flow for the next
    frame runs on the second core while the current frame's masks are warped and encoded.
    """

    def __init__(self, max_bytes: int = 256 << 20, work_side: int = 640,
                 preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, max_pairs: int = 0) -> None:
        self.max_bytes, self.work_side = max_bytes, work_side
        self.max_pairs = max_pairs  # 0: bounded by bytes only
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._pairs: BoundedCache[tuple[int, int], tuple[np.ndarray, np.ndarray]] = BoundedCache(
            max_items=max_pairs or None, max_bytes=max_bytes, sizeof=lambda pair: pair[0].nbytes * 2)
        self._gray: BoundedCache[int, np.ndarray] = BoundedCache(max_items=16)
        self._preset = preset
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[tuple[int, int], Future] = {}
        self.computed = self.hits = 0
        self.seconds = 0.0

    def _compute(self, dis: cv2.DISOpticalFlow, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        t0 = time.perf_counter()
        pair = (dis.calc(a, b, None).astype(np.float16), dis.calc(b, a, None).astype(np.float16))
        return pair[0], pair[1], time.perf_counter() - t0

    def prefetch(self, source: FrameSource, keys: list[tuple[int, int]]) -> None:
        """Start computing these (lo, hi) pairs in the background (frames are read here, on the
        caller's thread, since a video decoder need not be thread-safe)."""
        for k, fut in list(self._pending.items()):      # finished but never asked for: cache them
            if fut.done():
                del self._pending[k]
                self._store(k, fut.result())
        todo = [k for k in keys if k not in self._pairs and k not in self._pending]
        if not todo:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="everymask-flow")
            self._worker_dis = cv2.DISOpticalFlow_create(self._preset)
        for k in todo:
            a, b = self._frame(source, k[0]), self._frame(source, k[1])
            self._pending[k] = self._pool.submit(self._compute, self._worker_dis, a, b)

    def _store(self, key: tuple[int, int], result: tuple[np.ndarray, np.ndarray, float]) -> tuple[np.ndarray, np.ndarray]:
        fwd16, bwd16, seconds = result
        pair = (fwd16, bwd16)
        self._pairs.put(key, pair)
        self.computed += 1
        self.seconds += seconds
        return pair

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()

    def _frame(self, source: FrameSource, i: int) -> np.ndarray:
        g = self._gray.get(i)
        if g is None:
            img = source.frame(i)
            h, w = img.shape[:2]
            f = min(1.0, self.work_side / max(h, w))
            if f < 1.0:
                img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
            g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            self._gray.put(i, g)
        return g

    def flow(self, source: FrameSource, src: int, dst: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(flow dst -> src, flow src -> dst), float32 H x W x 2 at `size`, in pixels of `size`."""
        key = (min(src, dst), max(src, dst))
        pair = self._pairs.get(key)
        if pair is None:
            fut = self._pending.pop(key, None)
            result = fut.result() if fut is not None else self._compute(
                self._dis, self._frame(source, key[0]), self._frame(source, key[1]))
            pair = self._store(key, result)
        else:
            self.hits += 1
        fwd, bwd = (f.astype(np.float32) for f in pair)
        if fwd.shape[:2] != tuple(size):
            sx, sy = size[1] / fwd.shape[1], size[0] / fwd.shape[0]
            fwd, bwd = (cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) * np.float32([sx, sy])
                        for f in (fwd, bwd))
        return (bwd, fwd) if src < dst else (fwd, bwd)


def backward_map(flow_to_src: np.ndarray, flow_to_dst: np.ndarray, alpha: float = 0.01,
                 beta: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """-> (source pixel per target pixel, valid) as W x H arrays; index = x * H + y (column-major).

    Column-major because pycocotools encodes H x W x N Fortran arrays, i.e. N x W x H in memory:
    masks kept in that order need no transposing copy before encoding.
    The forward-backward check (Sundaram et al. 2010):
    |w(p) + w'(p + w(p))|^2 < alpha (|w|^2 + |w'|^2) + beta.
    """
    h, w = flow_to_src.shape[:2]
    xx = np.arange(w, dtype=np.float32)[None, :]
    yy = np.arange(h, dtype=np.float32)[:, None]
    fx, fy = flow_to_src[..., 0], flow_to_src[..., 1]
    sx, sy = xx + fx, yy + fy
    inside = (sx > -0.5) & (sx < w - 0.5) & (sy > -0.5) & (sy < h - 0.5)
    back = cv2.remap(flow_to_dst, sx, sy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    bx, by = back[..., 0], back[..., 1]
    ex, ey = fx + bx, fy + by
    valid = inside & (ex * ex + ey * ey < alpha * (fx * fx + fy * fy + bx * bx + by * by) + beta)
    ix = np.clip(np.rint(sx), 0, w - 1).astype(np.int64)
    iy = np.clip(np.rint(sy), 0, h - 1).astype(np.int64)
    return (ix * h + iy).T, valid.T


def warp_packed(packed: np.ndarray, index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Gather bit-packed masks (B x W x H) at source pixels; unknown pixels copy the nearest known.

    Filling from the nearest known pixel (rather than leaving a hole) keeps a mask whole across a
    flow glitch between key frames; occluded content still disappears because the occluder's
    pixels pass the check and carry the occluder's masks.
    """
    nb, w, h = packed.shape
    if not valid.all():
        if not valid.any():
            return np.zeros_like(packed)
        # label of the nearest valid pixel; OpenCV numbers the zero pixels in raster order
        _, near = cv2.distanceTransformWithLabels((~valid).astype(np.uint8), cv2.DIST_L2, 3,
                                                  labelType=cv2.DIST_LABEL_PIXEL)
        index = index.ravel()[np.flatnonzero(valid.ravel())[near.ravel() - 1]]
    return np.take(packed.reshape(nb, w * h), index.ravel(), axis=1).reshape(nb, w, h)


# A thing that stays in view keeps its area over one key-frame interval to within a few percent
# (scale changes slowly; the nearest-pixel warp erodes a small mask by a pixel or so); one that
# leaves the frame or goes behind another loses more, and the warp leaves a rim of it behind.
KEPT_AREA = 0.8


def snap_to_superpixels(packed: np.ndarray, n: int, labels_t: np.ndarray, count: int,
                        seed_areas: np.ndarray | None = None) -> np.ndarray:
    """Majority vote per superpixel: a mask keeps a superpixel iff it covers at least half of it;
    with `seed_areas` (each mask's area where its propagation started), a mask the vote would
    leave with half of its area or less, and that kept `KEPT_AREA` of its seed's area, stays as is.

    The exception is for masks smaller or thinner than the superpixels under them (a small thing
    on a flat wall, a pole): the vote empties them, and the engine would end their tracks at the
    key frame for want of pixels, not because their thing went away. With the vote alone, 8.2 %
    of the sample clip's tracks lived <= 10 frames and the median track 69 of 132 frames; with
    the exception (and `SegmentGenerator._prior_rows` not counting these masks against the key
    frame's room) 5.2 % and 75 (benchmarks/RESULTS.md, "Small masks survive the key-frame snap").
    A mask that shrank on the way (its thing left the frame or went behind another: what is left
    is a rim the warp leaves at the frame's border or the occluder's edge) gets the vote, which
    ends it.
    `labels_t` is the W x H (transposed) label map, matching the packed layout.
    """
    nb, w, h = packed.shape
    flat = labels_t.ravel()
    bits = np.unpackbits(packed.reshape(nb, w * h), axis=0, count=n)
    m, pix = np.nonzero(bits)
    votes = np.bincount(m * count + flat[pix], minlength=n * count).reshape(n, count)
    sizes = np.bincount(flat, minlength=count)
    keep = 2 * votes >= sizes[None]
    keep &= (sizes > 0)[None]
    out = keep[:, flat]
    if seed_areas is not None:
        own = votes.sum(1)
        unsupported = ~held_by_vote(keep @ sizes, own) & (own >= KEPT_AREA * np.asarray(seed_areas))
        out[unsupported] = bits[unsupported].astype(bool)
    return np.packbits(out, axis=0).reshape(-1, w, h)


def encode_packed(packed: np.ndarray, n: int) -> list[dict]:
    """B x W x H bit-packed masks -> n compressed RLEs (unpacked N x W x H is H x W x N Fortran)."""
    out: list[dict] = []
    for i in range(0, n, 248):                      # pycocotools + numpy 2 overflow at 256 masks
        k = min(248, n - i)
        dense = np.unpackbits(packed[i // 8:(i + k + 7) // 8], axis=0, count=k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            out.extend(mask_utils.encode(dense.transpose(2, 1, 0)))
    return out


class FlowPropagator:
    """`Propagator` of the classic backend (see the module docstring)."""

    def __init__(self, flows: FlowCache, superpixels: SuperpixelCache, snap: bool = True) -> None:
        self.flows, self.superpixels, self.snap = flows, superpixels, snap
        self.seconds = 0.0
        self.frames = 0

    def propagate(self, source: FrameSource, start: int, stop: int, seeds: Masks) -> Iterator[tuple[int, Masks]]:
        if len(seeds) == 0 or start == stop:
            return
        t0 = time.perf_counter()
        size, n = seeds.size, len(seeds)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            dense = mask_utils.decode(list(seeds.rles))          # H x W x N, Fortran
        packed = np.packbits(dense.transpose(2, 1, 0), axis=0)   # B x W x H
        del dense
        step = 1 if stop > start else -1
        self.flows.prefetch(source, [(min(t, t + step), max(t, t + step)) for t in range(start, stop, step)])
        cur = start
        for t in range(start + step, stop + step, step):
            to_src, to_dst = self.flows.flow(source, cur, t, size)
            index, valid = backward_map(to_src, to_dst)
            packed = warp_packed(packed, index, valid)
            if self.snap and t == stop:
                sp = self.superpixels.get(t, source.frame(t))
                packed = snap_to_superpixels(packed, n, sp.labels_t, sp.count, seeds.areas)
            rles = encode_packed(packed, n)
            area = areas(rles)
            keep = np.flatnonzero(area > 0)
            out = Masks(size=size, ids=seeds.ids[keep], rles=[rles[i] for i in keep], scores=seeds.scores[keep])
            self.frames += 1
            self.seconds += time.perf_counter() - t0
            yield t, out
            t0 = time.perf_counter()
            cur = t
