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
     generator uses there, which stops drift over many windows.
"""
from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from typing import Iterator

import cv2
import numpy as np
from pycocotools import mask as mask_utils
from scipy import ndimage

from ..masks import Masks
from ..video.base import FrameSource
from .classic_segment import SuperpixelCache


class FlowCache:
    """DIS flows per unordered frame pair (bounded LRU), with the counters the benchmark reads."""

    def __init__(self, capacity: int = 16, work_side: int = 640, preset: int = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) -> None:
        self.capacity, self.work_side = capacity, work_side
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._pairs: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._gray: OrderedDict[int, np.ndarray] = OrderedDict()
        self.computed = self.hits = 0
        self.seconds = 0.0

    def _frame(self, source: FrameSource, i: int) -> np.ndarray:
        g = self._gray.get(i)
        if g is None:
            img = source.frame(i)
            h, w = img.shape[:2]
            f = min(1.0, self.work_side / max(h, w))
            if f < 1.0:
                img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
            g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
            self._gray[i] = g
            while len(self._gray) > 4:
                self._gray.popitem(last=False)
        return g

    def flow(self, source: FrameSource, src: int, dst: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(flow dst -> src, flow src -> dst) at `size`, in pixels of `size`."""
        key = (min(src, dst), max(src, dst))
        pair = self._pairs.get(key)
        if pair is None:
            t0 = time.perf_counter()
            a, b = self._frame(source, key[0]), self._frame(source, key[1])
            fwd, bwd = self._dis.calc(a, b, None), self._dis.calc(b, a, None)
            if a.shape[:2] != size:
                s = size[1] / a.shape[1], size[0] / a.shape[0]
                fwd, bwd = (cv2.resize(f, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) * np.float32(s)
                            for f in (fwd, bwd))
            pair = (fwd, bwd)
            self._pairs[key] = pair
            while len(self._pairs) > self.capacity:
                self._pairs.popitem(last=False)
            self.computed += 1
            self.seconds += time.perf_counter() - t0
        else:
            self._pairs.move_to_end(key)
            self.hits += 1
        fwd, bwd = pair
        return (bwd, fwd) if src < dst else (fwd, bwd)


def backward_map(flow_to_src: np.ndarray, flow_to_dst: np.ndarray, alpha: float = 0.01,
                 beta: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """-> (flat source index per target pixel, valid mask) with the forward-backward check.

    The check (Sundaram et al. 2010): |w(p) + w'(p + w(p))|^2 < alpha (|w|^2 + |w'|^2) + beta.
    """
    h, w = flow_to_src.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sx, sy = xx + flow_to_src[..., 0], yy + flow_to_src[..., 1]
    inside = (sx > -0.5) & (sx < w - 0.5) & (sy > -0.5) & (sy < h - 0.5)
    ix = np.clip(np.rint(sx), 0, w - 1).astype(np.int64)
    iy = np.clip(np.rint(sy), 0, h - 1).astype(np.int64)
    back = flow_to_dst[iy, ix]
    err = ((flow_to_src + back) ** 2).sum(-1)
    mag = (flow_to_src ** 2).sum(-1) + (back ** 2).sum(-1)
    valid = inside & (err < alpha * mag + beta)
    return iy * w + ix, valid


def warp_packed(packed: np.ndarray, index: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Gather bit-packed masks (H x W x B) at source indices; unknown pixels copy the nearest known."""
    h, w, nb = packed.shape
    out = np.take(packed.reshape(h * w, nb), index.ravel(), axis=0).reshape(h, w, nb)
    if not valid.all():
        if valid.any():
            _, (ny, nx) = ndimage.distance_transform_edt(~valid, return_indices=True)
            out = out[ny, nx]
        else:
            out[:] = 0
    return out


def snap_to_superpixels(packed: np.ndarray, n: int, labels: np.ndarray, count: int) -> np.ndarray:
    """Majority vote per superpixel: a mask keeps a superpixel iff it covers at least half of it."""
    h, w, _ = packed.shape
    bits = np.unpackbits(packed.reshape(h * w, -1), axis=1, count=n)
    order = np.argsort(labels.ravel(), kind="stable")
    sizes = np.bincount(labels.ravel(), minlength=count)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    present = sizes > 0
    votes = np.zeros((count, n), np.int64)
    votes[present] = np.add.reduceat(bits[order], starts[present], axis=0, dtype=np.int64)
    keep = (2 * votes >= sizes[:, None]) & present[:, None]
    return np.packbits(keep[labels.ravel()], axis=1).reshape(h, w, -1)


def encode_packed(packed: np.ndarray, n: int) -> list[dict]:
    """H x W x B bit-packed masks -> n compressed RLEs (pycocotools wants H x W x N Fortran)."""
    h, w, _ = packed.shape
    out: list[dict] = []
    for i in range(0, n, 248):
        k = min(248, n - i)
        sub = packed[:, :, i // 8:(i + k + 7) // 8]
        dense = np.unpackbits(sub, axis=2, count=k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            out.extend(mask_utils.encode(np.asfortranarray(dense)))
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
            dense = mask_utils.decode(list(seeds.rles))          # H x W x N
        packed = np.packbits(dense.astype(bool), axis=2)
        del dense
        step = 1 if stop > start else -1
        cur = start
        for t in range(start + step, stop + step, step):
            to_src, to_dst = self.flows.flow(source, cur, t, size)
            index, valid = backward_map(to_src, to_dst)
            packed = warp_packed(packed, index, valid)
            if self.snap and t == stop:
                sp = self.superpixels.get(t, source.frame(t))
                packed = snap_to_superpixels(packed, n, sp.labels, sp.count)
            rles = encode_packed(packed, n)
            area = np.asarray([mask_utils.area(r) for r in rles])
            keep = np.flatnonzero(area > 0)
            out = Masks(size=size, ids=seeds.ids[keep], rles=[rles[i] for i in keep], scores=seeds.scores[keep])
            self.frames += 1
            self.seconds += time.perf_counter() - t0
            yield t, out
            t0 = time.perf_counter()
            cur = t
