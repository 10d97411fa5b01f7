"""`Masks`, the one currency type: the masks of one frame as parallel arrays, plus RLE helpers.

Masks travel between backends, engine, store and exports as pycocotools compressed RLEs
(`{"size": [H, W], "counts": bytes}`): a 720p mask is a few hundred bytes instead of 900 kB,
and IoU, area and boxes are computed on the RLE directly.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

import numpy as np
from pycocotools import mask as mask_utils

RLE = dict  # {"size": [H, W], "counts": bytes}

# pycocotools 2.0.10/2.0.11 with numpy 2 overflow on lists of 256+ RLEs in some calls
_CHUNK = 255


def encode(dense: np.ndarray) -> list[RLE]:
    """N x H x W (or H x W) boolean masks -> list of compressed RLEs."""
    dense = np.asarray(dense)
    if dense.ndim == 2:
        dense = dense[None]
    if dense.shape[0] == 0:
        return []
    out: list[RLE] = []
    for i in range(0, dense.shape[0], _CHUNK):
        chunk = np.asfortranarray(dense[i:i + _CHUNK].transpose(1, 2, 0).astype(np.uint8))
        out.extend(mask_utils.encode(chunk))
    return out


def decode(rles: Sequence[RLE], size: tuple[int, int] | None = None) -> np.ndarray:
    """List of RLEs -> N x H x W bool array (`size` needed when the list is empty)."""
    if not rles:
        if size is None:
            raise ValueError("decode of an empty list needs size")
        return np.zeros((0, *size), bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        dense = mask_utils.decode(list(rles))
    return np.ascontiguousarray(dense.transpose(2, 0, 1)).astype(bool)


def decode_one(rle: RLE) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def areas(rles: Sequence[RLE]) -> np.ndarray:
    if not rles:
        return np.zeros(0, np.int64)
    return np.concatenate([np.atleast_1d(mask_utils.area(list(rles[i:i + _CHUNK])))
                           for i in range(0, len(rles), _CHUNK)]).astype(np.int64)


def boxes(rles: Sequence[RLE]) -> np.ndarray:
    """x, y, w, h per mask (float64, N x 4)."""
    if not rles:
        return np.zeros((0, 4))
    return np.concatenate([np.atleast_2d(mask_utils.toBbox(list(rles[i:i + _CHUNK])))
                           for i in range(0, len(rles), _CHUNK)]).reshape(-1, 4)


def iou_matrix(a: Sequence[RLE], b: Sequence[RLE]) -> np.ndarray:
    """IoU of every mask in `a` with every mask in `b` (len(a) x len(b))."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    return np.asarray(mask_utils.iou(list(a), list(b), [0] * len(b)), dtype=np.float64).reshape(len(a), len(b))


def intersection_matrix(a: Sequence[RLE], b: Sequence[RLE]) -> np.ndarray:
    """|a_i & b_j| for every pair, derived from IoU and areas (exact up to rounding)."""
    iou = iou_matrix(a, b)
    if iou.size == 0:
        return iou
    sa, sb = areas(a)[:, None], areas(b)[None, :]
    return np.rint(iou * (sa + sb) / (1.0 + iou))


def union_area(rles: Sequence[RLE]) -> int:
    """Pixels covered by at least one of the masks."""
    if not rles:
        return 0
    return int(mask_utils.area(mask_utils.merge(list(rles), intersect=False)))


def covering_prefix(rles: Sequence[RLE], target: float, frame_px: int) -> int:
    """Length of the shortest prefix of `rles` whose union covers `target` of the frame (all if never)."""
    if not rles:
        return 0
    union = rles[0]
    for n in range(len(rles)):
        if n:
            union = mask_utils.merge([union, rles[n]], intersect=False)
        if mask_utils.area(union) >= target * frame_px:
            return n + 1
    return len(rles)


def rle_to_json(rle: RLE) -> dict:
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def rle_from_json(obj: dict) -> RLE:
    counts = obj["counts"]
    return {"size": [int(obj["size"][0]), int(obj["size"][1])],
            "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


@dataclass(frozen=True)
class Masks:
    """The masks of one frame: ids, RLEs and scores as parallel arrays, validated once.

    `ids` are whatever the producer calls its masks (provisional ids inside the engine, seed ids
    in a propagator, final track ids in an export). `data` holds further per-mask fields as
    parallel arrays, e.g. `direction` (how the engine got the mask) or `pid` (the provisional id
    of a final track's mask), as supervision's `Detections.data` does. Areas and boxes derive from
    the RLEs, computed once; a reader that already knows the areas (the store) passes them.
    """

    size: tuple[int, int]
    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    rles: list = field(default_factory=list)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    data: dict = field(default_factory=dict)
    known_areas: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        object.__setattr__(self, "ids", np.asarray(self.ids, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "rles", list(self.rles))
        n = len(self.rles)
        if len(self.ids) != n or len(self.scores) != n:
            raise ValueError(f"Masks: {len(self.ids)} ids, {n} rles, {len(self.scores)} scores")
        data = {str(k): np.asarray(v).reshape(-1) for k, v in self.data.items()}
        for k, v in data.items():
            if len(v) != n:
                raise ValueError(f"Masks: data[{k!r}] has {len(v)} values for {n} masks")
        object.__setattr__(self, "data", data)
        if self.known_areas is not None:
            known = np.asarray(self.known_areas, np.int64).reshape(-1)
            if len(known) != n:
                raise ValueError(f"Masks: {len(known)} known areas for {n} masks")
            object.__setattr__(self, "known_areas", known)
        for r in self.rles:
            if tuple(r["size"]) != self.size:
                raise ValueError(f"Masks: an RLE of size {r['size']} in a frame of size {self.size}")

    # construction -------------------------------------------------------------------------
    @classmethod
    def empty(cls, size: tuple[int, int], **data: np.dtype) -> "Masks":
        """No masks; `data` names the per-mask fields (and their dtypes) the empty set still carries."""
        return cls(size=size, data={k: np.zeros(0, dtype) for k, dtype in data.items()})

    @classmethod
    def from_dense(cls, dense: np.ndarray, ids: Iterable[int], scores: Iterable[float] | None = None) -> "Masks":
        dense = np.asarray(dense, bool)
        ids = np.asarray(list(ids), np.int64)
        sc = np.ones(len(ids), np.float32) if scores is None else np.asarray(list(scores), np.float32)
        return cls(size=dense.shape[-2:], ids=ids, rles=encode(dense) if len(ids) else [], scores=sc)

    @staticmethod
    def concat(parts: Sequence["Masks"], size: tuple[int, int] | None = None) -> "Masks":
        """One frame's masks from several sets; they must carry the same data fields."""
        parts = list(parts)
        if not parts:
            if size is None:
                raise ValueError("concat of nothing needs size")
            return Masks.empty(size)
        keys = set(parts[0].data)
        if any(set(p.data) != keys for p in parts):
            raise ValueError(f"Masks.concat: data fields differ ({[sorted(p.data) for p in parts]})")
        known = None
        if all(p.known_areas is not None or "_areas" in p.__dict__ for p in parts):
            known = np.concatenate([p.areas for p in parts])
        return Masks(size=parts[0].size,
                     ids=np.concatenate([p.ids for p in parts]),
                     rles=[r for p in parts for r in p.rles],
                     scores=np.concatenate([p.scores for p in parts]),
                     data={k: np.concatenate([p.data[k] for p in parts]) for k in parts[0].data},
                     known_areas=known)

    def with_data(self, **fields: np.ndarray | Sequence) -> "Masks":
        """The same masks with these per-mask fields added or replaced."""
        return replace(self, data={**self.data, **fields}, known_areas=self._cached_areas())

    def with_ids(self, ids: np.ndarray | Sequence[int]) -> "Masks":
        return replace(self, ids=ids, known_areas=self._cached_areas())

    # access -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rles)

    def _cached_areas(self) -> np.ndarray | None:
        return self.known_areas if self.known_areas is not None else self.__dict__.get("_areas")

    @property
    def areas(self) -> np.ndarray:
        """Pixels per mask (int64), computed once."""
        cached = self._cached_areas()
        if cached is None:
            cached = areas(self.rles)
            object.__setattr__(self, "_areas", cached)
        return cached

    @property
    def boxes(self) -> np.ndarray:
        """x, y, w, h per mask, computed once."""
        cached = self.__dict__.get("_boxes")
        if cached is None:
            cached = boxes(self.rles)
            object.__setattr__(self, "_boxes", cached)
        return cached

    def select(self, keep: np.ndarray | Sequence[int] | Sequence[bool]) -> "Masks":
        """Subset by a boolean mask or by indices, order as given; data fields go along."""
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64).reshape(-1)
        cached = self._cached_areas()
        return Masks(size=self.size, ids=self.ids[idx], rles=[self.rles[i] for i in idx], scores=self.scores[idx],
                     data={k: v[idx] for k, v in self.data.items()},
                     known_areas=None if cached is None else cached[idx])

    def to_dense(self) -> np.ndarray:
        return decode(self.rles, self.size)

    def by_id(self) -> dict[int, int]:
        return {int(i): k for k, i in enumerate(self.ids)}
